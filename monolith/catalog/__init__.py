"""Catalog context: categories and products."""
