"""Orders routes, mounted at /api/orders/."""

from django.urls import path

from monolith.orders import apis

app_name = "orders"

urlpatterns = [
    path("", apis.OrderListApi.as_view(), name="order-list"),
    path("<int:order_id>/", apis.OrderDetailApi.as_view(), name="order-detail"),
    path("<int:order_id>/cancel/", apis.OrderCancelApi.as_view(), name="order-cancel"),
    path("<int:order_id>/transition/", apis.OrderTransitionApi.as_view(), name="order-transition"),
]
