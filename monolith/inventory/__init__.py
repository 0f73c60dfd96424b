"""Inventory context: stock per SKU, its adjustment history and reservations for orders."""
