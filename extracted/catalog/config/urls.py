"""Routes of the catalog service: the catalog API at the monolith's paths, schema, probes."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("api/catalog/", include("extracted.catalog.catalog.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("internal/sync/", include("strangler.sync.urls")),
    path("internal/cutover/", include("strangler.cutover.urls")),
    path("", include("strangler.observability.urls")),
]
