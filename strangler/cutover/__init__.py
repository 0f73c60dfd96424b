"""The cutover of a context's writes from one side to the other, and migration_status."""
