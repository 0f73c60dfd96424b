"""Identity across the split: the monolith signs tokens, every side verifies them locally."""
