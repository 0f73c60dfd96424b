"""Single-writer ownership of each context: who writes it, whether writes are frozen."""
