"""The issuer's token endpoint: a username and password in, a signed access token out."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from strangler.api import ErrorSerializer
from strangler.identity.conf import identity_settings
from strangler.identity.tokens import issue_token_for_user

# The challenge a 401 carries (RFC 9110 11.6.1): the token this endpoint issues is a bearer one.
CHALLENGE = 'Bearer realm="api"'


class InvalidCredentials(exceptions.AuthenticationFailed):
    """The username and password do not name an active user (which of the two is not said)."""

    default_detail = "Unknown username or wrong password."
    default_code = "invalid_credentials"


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class TokenIssueApi(APIView):
    """POST {"username", "password"}: 200 with a bearer token, 401 when they do not match, 400
    for a body that is not a username and a password; errors in the kit's error shape."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: inline_serializer(
                "AccessToken",
                {
                    "access": serializers.CharField(),
                    "token_type": serializers.CharField(),
                    "expires_in": serializers.IntegerField(),
                },
            ),
            400: OpenApiResponse(
                ErrorSerializer,
                description="The body is not a username and a password: `error.fields` names "
                "each field at fault and why.",
            ),
            401: OpenApiResponse(
                ErrorSerializer,
                description="The username and password do not name an active user "
                f"(`invalid_credentials`); the answer carries `WWW-Authenticate: {CHALLENGE}`.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(request=request._request, **serializer.validated_data)
        if user is None or not user.is_active:
            raise InvalidCredentials()
        return Response(
            {
                "access": issue_token_for_user(user),
                "token_type": "Bearer",
                "expires_in": identity_settings().token_lifetime,
            }
        )

    def get_authenticate_header(self, request: Request) -> str:
        # With no authentication classes DRF would turn a 401 into a 403: the challenge keeps
        # it a 401, as RFC 9110 wants for credentials that were refused.
        return CHALLENGE
