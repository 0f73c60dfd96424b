"""Inventory routes, mounted at /api/inventory/."""

from django.urls import path

from extracted.inventory.inventory import apis

app_name = "inventory"

urlpatterns = [
    path("stock/", apis.StockListApi.as_view(), name="stock-list"),
    path("stock/adjust/", apis.StockAdjustApi.as_view(), name="stock-adjust"),
    path("stock/<int:stock_id>/", apis.StockDetailApi.as_view(), name="stock-detail"),
    path(
        "stock/<int:stock_id>/adjustments/",
        apis.StockAdjustmentListApi.as_view(),
        name="stock-adjustments",
    ),
]
