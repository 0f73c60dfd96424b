"""The strangler facade: routes, shadows and canaries traffic between monolith and services."""
