"""Orders HTTP API: place, read, cancel and move orders through their statuses."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.customers.models import Customer
from monolith.customers.selectors import customers_visible_to
from monolith.orders import selectors, services
from monolith.orders.filters import OrderFilter
from monolith.orders.models import OrderStatus


class OrderLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    product = serializers.IntegerField(source="product_id")
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    line_total = serializers.DecimalField(max_digits=14, decimal_places=2)


class OrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    customer = serializers.IntegerField(source="customer_id")
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    lines = OrderLineSerializer(many=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OrderLineInputSerializer(serializers.Serializer):
    product = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        return services.OrderLineRequest(product_id=values["product"], quantity=values["quantity"])


class VisibleCustomerField(serializers.PrimaryKeyRelatedField):
    """A customer the requesting user may see: their own, or any for staff."""

    def get_queryset(self):
        return customers_visible_to(self.context["request"].user)


class OrderPlaceInputSerializer(serializers.Serializer):
    customer = VisibleCustomerField(queryset=Customer.objects.all())
    lines = OrderLineInputSerializer(many=True, allow_empty=False, max_length=100)


class OrderCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, allow_blank=True, default="")


class OrderTransitionInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices)


class OrderListApi(ListAPIView):
    """GET lists orders (?customer=, ?status=, created range); POST places an order.

    A user who is not staff sees and places only the orders of their own customer record.
    """

    permission_classes = [IsAuthenticated]
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    search_fields: list[str] = []
    ordering_fields = ["id", "created_at", "total", "status"]
    ordering = ["id"]

    def get_queryset(self):
        return selectors.order_list(user=self.request.user)

    @extend_schema(request=OrderPlaceInputSerializer, responses={201: OrderSerializer})
    def post(self, request: Request) -> Response:
        serializer = OrderPlaceInputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        order = services.order_place(**serializer.validated_data)
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)


class OrderDetailApi(APIView):
    """One order with its lines; someone else's is a 404."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=OrderSerializer)
    def get(self, request: Request, order_id: int) -> Response:
        return Response(
            OrderSerializer(selectors.order_get(order_id=order_id, user=request.user)).data
        )


class OrderCancelApi(APIView):
    """POST cancels a pending or paid order and releases its stock (the customer's own, or any
    for staff)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=OrderCancelInputSerializer, responses=OrderSerializer)
    def post(self, request: Request, order_id: int) -> Response:
        serializer = OrderCancelInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = services.order_cancel(
            order=selectors.order_get(order_id=order_id, user=request.user),
            **serializer.validated_data,
        )
        return Response(OrderSerializer(order).data)


class OrderTransitionApi(APIView):
    """POST moves an order: pending -> paid -> shipped, pending/paid -> cancelled. Staff only."""

    permission_classes = [IsAdminUser]

    @extend_schema(request=OrderTransitionInputSerializer, responses=OrderSerializer)
    def post(self, request: Request, order_id: int) -> Response:
        serializer = OrderTransitionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = services.order_transition(
            order=selectors.order_get(order_id=order_id, user=request.user),
            to_status=serializer.validated_data["status"],
        )
        return Response(OrderSerializer(order).data)
