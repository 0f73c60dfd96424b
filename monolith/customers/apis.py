"""Customers HTTP API: create, read, update and delete customers with their addresses."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.customers import selectors, services
from monolith.customers.filters import CustomerFilter


class AddressSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    line1 = serializers.CharField()
    city = serializers.CharField()
    postal_code = serializers.CharField()
    country = serializers.CharField()
    is_default = serializers.BooleanField()


class CustomerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()
    addresses = AddressSerializer(many=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AddressInputSerializer(serializers.Serializer):
    line1 = serializers.CharField(max_length=200)
    city = serializers.CharField(max_length=100)
    postal_code = serializers.CharField(max_length=20)
    country = serializers.RegexField(
        r"^[A-Z]{2}$",
        error_messages={"invalid": "Use a two-letter ISO 3166-1 code in capitals, e.g. DE."},
    )
    is_default = serializers.BooleanField(default=False)

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        # A PATCH is partial for the customer, not for an address: addresses are replaced
        # whole, so each one needs every required field even then.
        missing = {
            name: [serializers.ErrorDetail("This field is required.", code="required")]
            for name, field in self.fields.items()
            if field.required and name not in values
        }
        if missing:
            raise serializers.ValidationError(missing)
        return services.AddressData(**values)


class CustomerInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=200)
    addresses = AddressInputSerializer(many=True, default=list)

    def validate_addresses(self, value):
        if sum(1 for address in value if address.is_default) > 1:
            raise serializers.ValidationError("At most one address can be the default.")
        return value


class CustomerListApi(ListAPIView):
    """GET lists customers (?email=, ?country=, search by name/email); POST creates one.

    A user who is not staff sees only their own customer record, and creating one links it to
    them (one per user); staff see every customer and create unlinked ones.
    """

    permission_classes = [IsAuthenticated]
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter
    search_fields = ["name", "email"]
    ordering_fields = ["id", "name", "email", "created_at"]
    ordering = ["id"]

    def get_queryset(self):
        return selectors.customer_list(user=self.request.user)

    @extend_schema(request=CustomerInputSerializer, responses={201: CustomerSerializer})
    def post(self, request: Request) -> Response:
        serializer = CustomerInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        owner = None if request.user.is_staff else request.user.pk
        if owner is not None and selectors.customers_visible_to(request.user).exists():
            raise serializers.ValidationError(
                {"detail": "Your user already has a customer record; change that one."}
            )
        customer = services.customer_create(**serializer.validated_data, user_id=owner)
        return Response(CustomerSerializer(customer).data, status=status.HTTP_201_CREATED)


class CustomerDetailApi(APIView):
    """One customer: GET, PUT (replace, addresses included), PATCH, DELETE."""

    # Someone else's record is a 404, as if it did not exist (customers_visible_to).
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=CustomerSerializer)
    def get(self, request: Request, customer_id: int) -> Response:
        customer = selectors.customer_get(customer_id=customer_id, user=request.user)
        return Response(CustomerSerializer(customer).data)

    @extend_schema(request=CustomerInputSerializer, responses=CustomerSerializer)
    def put(self, request: Request, customer_id: int) -> Response:
        return self._update(request, customer_id, partial=False)

    @extend_schema(request=CustomerInputSerializer, responses=CustomerSerializer)
    def patch(self, request: Request, customer_id: int) -> Response:
        return self._update(request, customer_id, partial=True)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, customer_id: int) -> Response:
        services.customer_delete(
            customer=selectors.customer_get(customer_id=customer_id, user=request.user)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request: Request, customer_id: int, *, partial: bool) -> Response:
        customer = selectors.customer_get(customer_id=customer_id, user=request.user)
        serializer = CustomerInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_update(customer=customer, changes=serializer.validated_data)
        return Response(CustomerSerializer(customer).data)
