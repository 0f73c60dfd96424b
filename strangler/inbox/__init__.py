"""The inbox: an idempotent, ordered consumer that applies events through registered handlers."""
