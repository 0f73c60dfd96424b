"""Customers context: who buys, and where to deliver."""
