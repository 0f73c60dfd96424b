"""The legacy shop: a Django monolith with four bounded contexts."""
