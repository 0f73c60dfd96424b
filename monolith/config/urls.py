"""The monolith's routes: each context's API, the OpenAPI schema and docs, probes, admin and the
migration dashboard (/strangler/dashboard/)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from strangler.observability.urls import dashboard_urlpatterns

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/", include("strangler.identity.urls")),
    path("api/catalog/", include("monolith.catalog.urls")),
    path("api/inventory/", include("monolith.inventory.urls")),
    path("api/customers/", include("monolith.customers.urls")),
    path("api/orders/", include("monolith.orders.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("internal/sync/", include("strangler.sync.urls")),
    path("internal/cutover/", include("strangler.cutover.urls")),
    path("strangler/", include(dashboard_urlpatterns)),
    path("", include("strangler.observability.urls")),
]
