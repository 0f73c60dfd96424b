"""Operator commands of a migration: backfill, replay, reconcile, dead letters, rebuild."""
