"""Standalone DRF services, one per extracted bounded context."""
