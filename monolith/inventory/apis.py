"""Inventory HTTP API: stock levels, adjustments and their history."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.inventory import selectors, services
from monolith.inventory.filters import StockFilter
from monolith.inventory.models import MAX_UNITS, StockItem


class StockSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    product = serializers.IntegerField(source="product_id")
    sku = serializers.CharField()
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    available = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class StockAdjustmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    delta = serializers.IntegerField()
    reason = serializers.CharField()
    on_hand_after = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class StockAdjustInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    delta = serializers.IntegerField(min_value=-MAX_UNITS, max_value=MAX_UNITS)
    reason = serializers.CharField(max_length=200)


class StockListApi(ListAPIView):
    """GET lists stock items (?sku=, ?product=, ?max_available= for low stock)."""

    serializer_class = StockSerializer
    filterset_class = StockFilter
    search_fields = ["sku"]
    ordering_fields = ["id", "sku", "on_hand", "reserved", "available_units"]
    ordering = ["id"]

    def get_queryset(self):
        return selectors.stock_list()


class StockDetailApi(APIView):
    """One stock item."""

    @extend_schema(responses=StockSerializer)
    def get(self, request: Request, stock_id: int) -> Response:
        return Response(StockSerializer(selectors.stock_get(stock_id=stock_id)).data)


class CanAdjustStock(DjangoModelPermissions):
    """Adjusting stock changes a stock item: POST needs inventory.change_stockitem."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "POST": ["%(app_label)s.change_%(model_name)s"],
    }


class StockAdjustApi(APIView):
    """POST adds (delta > 0) or removes (delta < 0) units of a SKU, with a reason."""

    permission_classes = [CanAdjustStock]
    queryset = StockItem.objects.all()

    @extend_schema(request=StockAdjustInputSerializer, responses=StockSerializer)
    def post(self, request: Request) -> Response:
        serializer = StockAdjustInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        stock = services.stock_adjust(**serializer.validated_data)
        return Response(StockSerializer(stock).data)


class StockAdjustmentListApi(ListAPIView):
    """GET the adjustment history of one stock item, newest first."""

    serializer_class = StockAdjustmentSerializer
    filter_backends: list = []

    def get_queryset(self):
        stock = selectors.stock_get(stock_id=self.kwargs["stock_id"])
        return selectors.stock_adjustment_list(stock=stock)
