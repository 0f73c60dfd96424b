"""The routing table as rows (editable in the admin) and the shadow comparison results."""

from __future__ import annotations

from django.db import models


class Backend(models.Model):
    """A named upstream: the monolith or an extracted service."""

    class Balance(models.TextChoices):
        DEFAULT = "", "gateway default"
        ROUND_ROBIN = "round_robin", "round robin"
        LEAST_OUTSTANDING = "least_outstanding", "least outstanding requests"

    name = models.SlugField(max_length=64, unique=True)
    balance = models.CharField(max_length=32, choices=Balance.choices, blank=True, default="")
    health_path = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Instance(models.Model):
    """A configured instance of a backend (instances may also register themselves at runtime)."""

    backend = models.ForeignKey(Backend, on_delete=models.CASCADE, related_name="instances")
    url = models.CharField(max_length=200, help_text="http://host:port, no path")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["backend__name", "url"]
        constraints = [
            models.UniqueConstraint(fields=["backend", "url"], name="gateway_instance_unique_url")
        ]

    def __str__(self) -> str:
        return f"{self.backend.name} {self.url}"


class Route(models.Model):
    """One row of the routing table; lower position is matched first."""

    class Mode(models.TextChoices):
        MONOLITH = "monolith"
        SHADOW = "shadow"
        CANARY = "canary"
        SERVICE = "service"
        DENY = "deny"

    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=100, blank=True, default="")
    prefix = models.CharField(max_length=300)
    methods = models.JSONField(
        default=list, blank=True, help_text='e.g. ["GET", "HEAD"]; empty = all'
    )
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.MONOLITH)
    service = models.ForeignKey(
        Backend, on_delete=models.PROTECT, null=True, blank=True, related_name="routes"
    )
    percent = models.FloatField(default=0, help_text="canary: share of clients sent to the service")
    ignore = models.JSONField(default=list, blank=True, help_text="shadow: JSON paths not compared")
    mirror_unsafe = models.BooleanField(default=False, help_text="shadow: mirror writes too")
    client_key = models.CharField(
        max_length=100, blank=True, default="", help_text="header:NAME or cookie:NAME"
    )
    context = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="writes (POST/PUT/PATCH/DELETE) go to this context's writer (needs service)",
    )
    status = models.PositiveSmallIntegerField(
        default=404, help_text="deny: the status the gateway answers (404 or 403)"
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.prefix} {self.mode}"


class ShadowStats(models.Model):
    """Running totals of shadow comparisons per route."""

    route = models.CharField(max_length=200, unique=True)
    requests = models.BigIntegerField(default=0)
    matches = models.BigIntegerField(default=0)
    mismatches = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["route"]
        verbose_name_plural = "shadow stats"

    def __str__(self) -> str:
        return self.route


class ShadowMismatch(models.Model):
    """One mirrored request whose service answer differed from the monolith's."""

    route = models.CharField(max_length=200, db_index=True)
    method = models.CharField(max_length=16)
    path = models.TextField()
    monolith_status = models.PositiveSmallIntegerField()
    service_status = models.PositiveSmallIntegerField(null=True, blank=True)
    differences = models.JSONField(default=list)
    diff = models.TextField(help_text="path: monolith value -> service value, one per line")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "shadow mismatches"

    def __str__(self) -> str:
        return f"{self.method} {self.path}"
