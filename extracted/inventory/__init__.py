"""An extracted service."""
