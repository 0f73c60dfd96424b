"""Settings blocks every project of a migration shares, for its settings module.

Nothing here imports DRF or drf-spectacular: importing them while settings load would freeze their
defaults before REST_FRAMEWORK exists.
"""

from __future__ import annotations

from typing import Any

from strangler.environment import env_bool


def rest_framework_settings() -> dict[str, Any]:
    """REST_FRAMEWORK for every side: pagination, filters, schema and error shape."""
    return {
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
        "DEFAULT_PAGINATION_CLASS": "strangler.api.StandardPagination",
        "PAGE_SIZE": 20,
        "DEFAULT_FILTER_BACKENDS": [
            "django_filters.rest_framework.DjangoFilterBackend",
            "rest_framework.filters.SearchFilter",
            "rest_framework.filters.OrderingFilter",
        ],
        "EXCEPTION_HANDLER": "strangler.api.api_exception_handler",
        "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    }


def spectacular_settings(*, title: str, description: str) -> dict[str, Any]:
    """SPECTACULAR_SETTINGS; Swagger UI assets from the sidecar package, so docs work offline."""
    return {
        "TITLE": title,
        "DESCRIPTION": description,
        "VERSION": "1.0.0",
        "SERVE_INCLUDE_SCHEMA": False,
        "COMPONENT_SPLIT_REQUEST": True,
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
    }


def gateway_hop_settings() -> dict[str, Any]:
    """Behind the strangler gateway (or any proxy that sets X-Forwarded-Host): absolute URLs in
    responses (pagination links, Location) name the host the client asked for, not the backend's
    address the proxy connected to. The forwarded host is still checked against ALLOWED_HOSTS.
    USE_X_FORWARDED_HOST=false turns it off for a server that clients reach directly."""
    return {"USE_X_FORWARDED_HOST": env_bool("USE_X_FORWARDED_HOST", default=True)}


def production_security_settings() -> dict[str, Any]:
    """The hardening `manage.py check --deploy` asks for; settings apply it when DEBUG is off."""
    return {
        "SECURE_SSL_REDIRECT": env_bool("SECURE_SSL_REDIRECT", default=True),
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "X_FRAME_OPTIONS": "DENY",
    }
