"""The internal API the two sides of a migration speak: /internal/sync/ and /internal/cutover/.

One protocol version, one token check and one endpoint wrapper serve it; one client calls it, and
every way a call can fail (nothing listening, a timeout, another server at the URL, a peer of
another kit version, a refused token, an answer missing a field) is a `PeerError` whose message is
one line naming what is wrong and what to do.
"""

from __future__ import annotations

import functools
import hmac
import importlib.metadata
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from strangler.sync.conf import sync_settings

logger = logging.getLogger(__name__)

# Raise when a request or an answer of an internal endpoint changes shape.
PROTOCOL_VERSION = 2  # 2: reconcile hashes with hashtextextended; copy and load endpoints
TOKEN_HEADER = "X-Strangler-Token"
CALLER_HEADER = "X-Strangler-Caller"
PROTOCOL_HEADER = "X-Strangler-Protocol"
KIT_HEADER = "X-Strangler-Kit"
DISTRIBUTION = "strangler-kit"

T = TypeVar("T")


@functools.cache
def kit_version() -> str:
    """The installed strangler-kit version ("unknown" when run from a tree never installed)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# -- the serving side ------------------------------------------------------------------------


def token_refusal(request: HttpRequest) -> str | None:
    """None when the request may proceed, else why it is refused (sent with 403).

    The one check of the internal endpoints. Each caller names itself (X-Strangler-Caller) and
    shows its own key (X-Strangler-Token); the key is compared, in constant time, with every key
    STRANGLER_SYNC['INTERNAL_CREDENTIALS'] lists for that caller (two during a rotation), and with
    the shared STRANGLER_INTERNAL_TOKEN when one is still set. With neither configured,
    everything is refused unless DEBUG is on.
    """
    conf = sync_settings()
    if not conf.internal_credentials and not conf.internal_token:
        if settings.DEBUG:
            return None
        return (
            "no caller may use this side's internal endpoints: neither "
            "STRANGLER_INTERNAL_CREDENTIALS nor STRANGLER_INTERNAL_TOKEN is set here; refusing."
        )
    caller = request.headers.get(CALLER_HEADER, "")
    given = request.headers.get(TOKEN_HEADER, "").encode()
    accepted = [key.encode() for key in conf.internal_credentials.get(caller, ())]
    if conf.internal_token:
        accepted.append(conf.internal_token.encode())
    matched = False
    for key in accepted:  # every key compared: the time taken says nothing about which matched
        matched |= hmac.compare_digest(given, key)
    if matched:
        return None
    logger.warning(
        "internal request with a wrong or missing key",
        extra={"path": request.path, "caller": caller[:100]},
    )
    if not conf.internal_credentials:
        return f"missing or wrong {TOKEN_HEADER}."
    return f"missing or wrong {TOKEN_HEADER} for {CALLER_HEADER} {caller[:100]!r}."


def protocol_refusal(request: HttpRequest) -> str | None:
    """None when the caller speaks this side's protocol version, else why it is refused (409)."""
    given = request.headers.get(PROTOCOL_HEADER)
    if given == str(PROTOCOL_VERSION):
        return None
    caller = request.headers.get(KIT_HEADER) or "older than protocol 1"
    return (
        f"this side speaks internal protocol {PROTOCOL_VERSION} (strangler-kit {kit_version()}), "
        f"the caller {given or 'none'} (strangler-kit {caller}): install the same strangler-kit "
        "version on both sides."
    )


def internal_answer(data: Mapping[str, Any], status: int = 200) -> JsonResponse:
    """A JSON answer of an internal endpoint, stamped with this side's protocol and kit version."""
    body = {**data, "protocol": PROTOCOL_VERSION, "kit": kit_version()}
    response = JsonResponse(body, status=status)
    response[PROTOCOL_HEADER] = str(PROTOCOL_VERSION)
    response[KIT_HEADER] = kit_version()
    return response


def internal_endpoint(
    handler: Callable[..., Mapping[str, Any]],
    *,
    statuses: Mapping[type[Exception], int] | None = None,
) -> Callable[..., JsonResponse]:
    """A POST view for `handler(body, **url_kwargs)`: token and protocol checked, JSON in and out.

    `statuses` maps the handler's expected exceptions to the status they are answered with (their
    message as "error"); ValueError and TypeError are bad requests (400).
    """
    expected = dict(statuses or {})

    @csrf_exempt
    @require_POST
    def view(request: HttpRequest, **kwargs: Any) -> JsonResponse:
        refusal = token_refusal(request)
        if refusal is not None:
            return internal_answer({"error": refusal}, status=403)
        refusal = protocol_refusal(request)
        if refusal is not None:
            return internal_answer({"error": refusal}, status=409)
        try:
            body = json.loads(request.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            return internal_answer(handler(body, **kwargs))
        except tuple(expected) as exc:
            status = next(code for kind, code in expected.items() if isinstance(exc, kind))
            return internal_answer({"error": str(exc)}, status=status)
        except (ValueError, TypeError) as exc:
            return internal_answer({"error": f"bad request: {exc}"}, status=400)

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return view


# -- the calling side ------------------------------------------------------------------------


class PeerError(RuntimeError):
    """The other side could not be asked; the message is one line: what is wrong, what to do."""


class PeerUnreachable(PeerError):
    """Nothing answered at the peer's URL: connection refused, unknown host, or a timeout."""


class PeerTimeout(PeerUnreachable):
    """The peer did not answer within the timeout."""


class NotAPeer(PeerError):
    """Something answered at the peer's URL, but not a strangler-kit internal endpoint."""


class PeerVersionMismatch(PeerError):
    """The peer runs a strangler-kit that speaks another internal protocol version."""


class PeerRefused(PeerError):
    """The peer refused the request's token (401 or 403)."""


class PeerFailed(PeerError):
    """The peer understood the request and answered with an error."""


class PeerAnswerInvalid(PeerError):
    """The peer answered 200 with a body that lacks a field or holds one of the wrong type."""


class InternalClient:
    """Calls the internal endpoints of the other side of one context.

    `configured_by` names where the URL came from (a setting or an option), so that a message can
    say what to fix.
    """

    def __init__(
        self,
        base_url: str,
        *,
        context: str,
        configured_by: str,
        token: str,
        timeout: float,
        caller: str = "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.context = context
        self.configured_by = configured_by
        self.timeout = timeout
        self.caller = caller
        self._token = token
        headers = {PROTOCOL_HEADER: str(PROTOCOL_VERSION), KIT_HEADER: kit_version()}
        if caller:
            headers[CALLER_HEADER] = caller
        if token:
            headers[TOKEN_HEADER] = token
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    @classmethod
    def from_settings(
        cls, base_url: str, *, context: str, configured_by: str | None = None
    ) -> InternalClient:
        """A client that calls as this side (STRANGLER_SYNC's INTERNAL_CALLER and INTERNAL_KEY,
        or the shared INTERNAL_TOKEN when this side has no key of its own) within PEER_TIMEOUT;
        the URL from PEERS by default."""
        conf = sync_settings()
        return cls(
            base_url,
            context=context,
            configured_by=configured_by or f"STRANGLER_SYNC['PEERS'][{context!r}]",
            token=conf.internal_key or conf.internal_token,
            timeout=conf.peer_timeout,
            caller=conf.internal_caller if conf.internal_key else "",
        )

    def clone(self) -> InternalClient:
        """Another client to the same peer, with its own connections (closed independently)."""
        return InternalClient(
            self.base_url,
            context=self.context,
            configured_by=self.configured_by,
            token=self._token,
            timeout=self.timeout,
            caller=self.caller,
        )

    @property
    def _credential_fix(self) -> str:
        if not self.caller:
            return "set the same STRANGLER_INTERNAL_TOKEN on both sides"
        return (
            f"list this side's STRANGLER_INTERNAL_KEY under {self.caller!r} in the other side's "
            "STRANGLER_INTERNAL_CREDENTIALS"
        )

    @property
    def who(self) -> str:
        return f"peer {self.base_url} for context {self.context}"

    def call(self, api: str, path: str, body: Mapping[str, Any], read: Callable[[dict], T]) -> T:
        """POST `body` to /internal/<api>/<path> and `read` the answer; PeerError on any failure."""
        url = f"/internal/{api}/{path}"
        try:
            response = self._client.post(url, json=dict(body))
        except httpx.HTTPError as exc:
            raise self._transport_error(url, exc) from exc
        data = self._checked(api, url, response)
        try:
            return read(data)
        except KeyError as exc:
            raise PeerAnswerInvalid(
                f"{self.who} answered {url} without the field {exc.args[0]!r}: install the same "
                f"strangler-kit version on both sides"
            ) from exc
        except (TypeError, ValueError, AttributeError) as exc:
            raise PeerAnswerInvalid(
                f"{self.who} answered {url} with a malformed field ({_one_line(str(exc), 120)}): "
                f"install the same strangler-kit version on both sides"
            ) from exc

    def close(self) -> None:
        self._client.close()

    def _transport_error(self, url: str, exc: httpx.HTTPError) -> PeerError:
        check = f"check that the other side is running and {self.configured_by} is its base URL"
        if isinstance(exc, httpx.TimeoutException):
            return PeerTimeout(
                f"{self.who} did not answer {url} within {self.timeout:g}s: {check}, or raise "
                f"STRANGLER_SYNC['PEER_TIMEOUT'] if it is only slow"
            )
        if isinstance(exc, httpx.ConnectError):
            if "refused" in str(exc).lower():
                return PeerUnreachable(f"{self.who} refused the connection: {check}")
            return PeerUnreachable(
                f"{self.who} cannot be reached ({_one_line(str(exc), 120)}): {check}"
            )
        return PeerUnreachable(
            f"{self.who} broke off at {url} ({type(exc).__name__}: {_one_line(str(exc), 120)}): "
            f"{check}"
        )

    def _checked(self, api: str, url: str, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        kind = response.headers.get("content-type", "").partition(";")[0].strip() or "untyped"
        answer = f"{status} {kind}"
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = None
        version = response.headers.get(PROTOCOL_HEADER) or (data or {}).get("protocol")
        if version is None:
            if status in (401, 403):
                raise PeerRefused(
                    f"{self.who} refused the request ({answer}) at {url}: {self._credential_fix}"
                )
            if status >= 500:
                raise PeerFailed(
                    f"{self.who} failed with {answer} at {url}: read the log of the other side"
                )
            mounted = (
                f"check {self.configured_by} points at the other side's base URL and that side "
                f"includes strangler.{api}.urls at /internal/{api}/"
            )
            if data is not None and status < 300:
                raise NotAPeer(
                    f"{self.who} answered {answer} without a protocol version at {url}: not a "
                    f"strangler-kit {api} endpoint, or one older than protocol {PROTOCOL_VERSION}; "
                    f"{mounted}, and both sides run the same strangler-kit version"
                )
            raise NotAPeer(
                f"{self.who} answered {answer} at {url}: not a strangler-kit {api} endpoint; "
                f"{mounted}"
            )
        if str(version) != str(PROTOCOL_VERSION):
            kit = response.headers.get(KIT_HEADER) or (data or {}).get("kit") or "unknown"
            raise PeerVersionMismatch(
                f"{self.who} speaks internal protocol {version} (strangler-kit {kit}), this side "
                f"{PROTOCOL_VERSION} (strangler-kit {kit_version()}): install the same "
                f"strangler-kit version on both sides"
            )
        error = _one_line((data or {}).get("error") or response.text or "no detail")
        if status in (401, 403):
            raise PeerRefused(
                f"{self.who} refused the token ({status}: {error}): {self._credential_fix}"
            )
        if status == 404:
            raise PeerFailed(
                f"{self.who} answered 404 at {url}: {error}; list the same aggregates in "
                f"STRANGLER_SYNC['CONTEXTS'] on both sides"
            )
        if status != 200:
            raise PeerFailed(f"{self.who} answered {status} at {url}: {error}")
        if data is None:
            raise PeerAnswerInvalid(
                f"{self.who} answered {answer} at {url}, not a JSON object: install the same "
                f"strangler-kit version on both sides"
            )
        return {key: value for key, value in data.items() if key not in ("protocol", "kit")}
