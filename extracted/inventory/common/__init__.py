"""Copied from monolith.common."""
