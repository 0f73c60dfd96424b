"""Mount on the issuer only, e.g. path("api/auth/", include("strangler.identity.urls"))."""

from __future__ import annotations

from django.urls import path

from strangler.identity.views import TokenIssueApi

app_name = "identity"
urlpatterns = [path("token/", TokenIssueApi.as_view(), name="token")]
