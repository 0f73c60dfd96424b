"""The kit's endpoints every side serves: internal sync and cutover APIs, probes and metrics.

Include it at the root of a project's URLconf: `path("", include("strangler.urls"))`.
"""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("internal/sync/", include("strangler.sync.urls")),
    path("internal/cutover/", include("strangler.cutover.urls")),
    path("", include("strangler.observability.urls")),
]
