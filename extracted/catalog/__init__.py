"""The extracted catalog service: a standalone DRF project with its own database."""
