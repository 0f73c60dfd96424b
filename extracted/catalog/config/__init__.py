"""Django project configuration of the catalog service."""
