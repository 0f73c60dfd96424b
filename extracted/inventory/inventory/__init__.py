"""The context's app inside the service."""
