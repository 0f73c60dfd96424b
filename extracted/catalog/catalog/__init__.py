"""The catalog context inside the extracted service: categories and products."""
