"""See the seams of a Django project and scaffold an extracted service from one of its apps."""
