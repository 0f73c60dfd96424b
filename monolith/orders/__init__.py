"""Orders context: orders, their lines and their life cycle."""
