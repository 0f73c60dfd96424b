"""Customers routes, mounted at /api/customers/."""

from django.urls import path

from monolith.customers import apis

app_name = "customers"

urlpatterns = [
    path("", apis.CustomerListApi.as_view(), name="customer-list"),
    path("<int:customer_id>/", apis.CustomerDetailApi.as_view(), name="customer-detail"),
]
