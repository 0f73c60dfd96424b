"""Catalog routes of the service, mounted at /api/catalog/ like the monolith's."""

from django.urls import path

from extracted.catalog.catalog import apis

app_name = "catalog"

urlpatterns = [
    path("categories/", apis.CategoryListApi.as_view(), name="category-list"),
    path("categories/<int:category_id>/", apis.CategoryDetailApi.as_view(), name="category-detail"),
    path("products/", apis.ProductListApi.as_view(), name="product-list"),
    path("products/<int:product_id>/", apis.ProductDetailApi.as_view(), name="product-detail"),
]
