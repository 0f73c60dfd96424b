"""Event contracts: CloudEvents envelope, schema registry, compatibility, upcasting, AsyncAPI."""
