"""Routes of the service: the context's API at the monolith's paths, the schema, the kit's
endpoints (internal sync and cutover APIs, probes, metrics)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("api/catalog/", include("extracted.catalog.catalog.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("", include("strangler.urls")),
]
