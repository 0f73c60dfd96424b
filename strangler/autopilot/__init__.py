"""Autopilot: a migration plan that advances only on evidence and rolls itself back."""
