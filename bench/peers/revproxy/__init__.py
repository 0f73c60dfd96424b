"""The django-revproxy peer: a Django project whose only view is revproxy's ProxyView."""
