"""Catalog HTTP API of the service: the monolith's contract, thin views over services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import DjangoModelPermissionsOrAnonReadOnly
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from extracted.catalog.catalog import selectors, services
from extracted.catalog.catalog.filters import CategoryFilter, ProductFilter
from extracted.catalog.catalog.models import Category, Product


class CategorySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField()
    slug = serializers.SlugField()
    parent = serializers.IntegerField(source="parent_id", allow_null=True)


class CategoryInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    slug = serializers.SlugField(max_length=120)
    parent = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(), allow_null=True, default=None
    )


class ProductSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    sku = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    category = serializers.IntegerField(source="category_id", allow_null=True)
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ProductInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, default="")
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    currency = serializers.RegexField(
        r"^[A-Z]{3}$",
        error_messages={"invalid": "Use a three-letter ISO 4217 code in capitals, e.g. EUR."},
    )
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(), allow_null=True, default=None
    )
    active = serializers.BooleanField(default=True)


class CategoryListApi(ListAPIView):
    """GET lists categories (?parent=, ?root=); POST creates one."""

    permission_classes = [DjangoModelPermissionsOrAnonReadOnly]
    serializer_class = CategorySerializer
    filterset_class = CategoryFilter
    search_fields = ["name", "slug"]
    ordering_fields = ["id", "name", "slug"]
    ordering = ["id"]

    def get_queryset(self):
        return selectors.category_list()

    @extend_schema(request=CategoryInputSerializer, responses={201: CategorySerializer})
    def post(self, request: Request) -> Response:
        serializer = CategoryInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        category = services.category_create(**serializer.validated_data)
        return Response(CategorySerializer(category).data, status=status.HTTP_201_CREATED)


class CategoryDetailApi(APIView):
    """One category: GET, PUT (replace), PATCH (change some fields), DELETE."""

    # Reads are public; writes need catalog.change_category / delete_category.
    permission_classes = [DjangoModelPermissionsOrAnonReadOnly]
    queryset = Category.objects.all()

    @extend_schema(responses=CategorySerializer)
    def get(self, request: Request, category_id: int) -> Response:
        category = selectors.category_get(category_id=category_id)
        return Response(CategorySerializer(category).data)

    @extend_schema(request=CategoryInputSerializer, responses=CategorySerializer)
    def put(self, request: Request, category_id: int) -> Response:
        return self._update(request, category_id, partial=False)

    @extend_schema(request=CategoryInputSerializer, responses=CategorySerializer)
    def patch(self, request: Request, category_id: int) -> Response:
        return self._update(request, category_id, partial=True)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, category_id: int) -> Response:
        services.category_delete(category=selectors.category_get(category_id=category_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request: Request, category_id: int, *, partial: bool) -> Response:
        category = selectors.category_get(category_id=category_id)
        serializer = CategoryInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        category = services.category_update(category=category, changes=serializer.validated_data)
        return Response(CategorySerializer(category).data)


class ProductListApi(ListAPIView):
    """GET lists products (search, filters, ordering); POST creates one."""

    permission_classes = [DjangoModelPermissionsOrAnonReadOnly]
    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    search_fields = ["name", "sku", "description"]
    ordering_fields = ["id", "sku", "name", "price", "created_at", "updated_at"]
    ordering = ["id"]

    def get_queryset(self):
        return selectors.product_list()

    @extend_schema(request=ProductInputSerializer, responses={201: ProductSerializer})
    def post(self, request: Request) -> Response:
        serializer = ProductInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product = services.product_create(**serializer.validated_data)
        return Response(ProductSerializer(product).data, status=status.HTTP_201_CREATED)


class ProductDetailApi(APIView):
    """One product: GET, PUT (replace), PATCH (change some fields), DELETE."""

    # Reads are public; writes need catalog.change_product / delete_product.
    permission_classes = [DjangoModelPermissionsOrAnonReadOnly]
    queryset = Product.objects.all()

    @extend_schema(responses=ProductSerializer)
    def get(self, request: Request, product_id: int) -> Response:
        product = selectors.product_get(product_id=product_id)
        return Response(ProductSerializer(product).data)

    @extend_schema(request=ProductInputSerializer, responses=ProductSerializer)
    def put(self, request: Request, product_id: int) -> Response:
        return self._update(request, product_id, partial=False)

    @extend_schema(request=ProductInputSerializer, responses=ProductSerializer)
    def patch(self, request: Request, product_id: int) -> Response:
        return self._update(request, product_id, partial=True)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, product_id: int) -> Response:
        services.product_delete(product=selectors.product_get(product_id=product_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request: Request, product_id: int, *, partial: bool) -> Response:
        product = selectors.product_get(product_id=product_id)
        serializer = ProductInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        product = services.product_update(product=product, changes=serializer.validated_data)
        return Response(ProductSerializer(product).data)
