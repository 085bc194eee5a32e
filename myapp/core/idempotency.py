"""@idempotent: a creating POST sent again with its Idempotency-Key replays, never runs twice.

The client names each operation with a key of its choosing
(draft-ietf-httpapi-idempotency-key-header). The first request with a key runs the
view; a successful outcome is stored with a fingerprint of the request, in the
same transaction as what the view wrote, so either both are committed or neither
is. A retry of the same request gets that outcome again. A key belongs to the
caller: the identity the app's `identity_loader` names, else the client address.

Where the outcomes live is the app's to say: an `IdempotencyStore` on
`app.extensions["idempotency"]` (myapp keeps them in its database).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from myapp.core.errors import ApiException, BadRequest, Conflict
from myapp.core.jsonbody import parse_json
from myapp.core.request import ApiRequest, api_request, current_api_app
from myapp.core.result import ApiResult

EXTENSION = "idempotency"
HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
F = TypeVar("F", bound=Callable[..., Any])
# Visible ASCII (RFC 9110's VCHAR), bare or as a structured-field string (RFC 8941)
# whose only escapes are \" and \\. A bare key has no quote, backslash or comma: a
# comma is what a proxy puts between two of the header's values.
_BARE_TEXT = r"[!#-+\--\[\]-~]{1,255}"
_QUOTED_TEXT = r'(?:[!#-\[\]-~]|\\["\\]){1,255}'
_BARE, _QUOTED = re.compile(_BARE_TEXT), re.compile(f'"({_QUOTED_TEXT})"')
#: Both forms, as a JSON Schema pattern (for the OpenAPI document).
KEY_PATTERN = f'^(?:{_BARE_TEXT}|"{_QUOTED_TEXT}")$'
_ESCAPE = re.compile(r'\\(["\\])')


class IdempotencyKeyInvalid(BadRequest):
    """The Idempotency-Key header is not a key."""

    title = "Invalid Idempotency-Key"
    type = "idempotency-key-invalid"

    def __init__(self) -> None:
        detail = "must be 1 to 255 visible ASCII characters, bare or in double quotes"
        super().__init__(
            f"The {HEADER} header {detail}.", errors=[{"header": HEADER, "detail": detail}]
        )


class IdempotencyKeyReused(ApiException):
    """The key was used before for a request with another method, path or body."""

    status = 422
    title = "Idempotency-Key reused"
    type = "idempotency-key-reused"
    detail = f"This {HEADER} was used for a different request; send a new key for a new request."


class IdempotencyKeyInFlight(Conflict):
    """The first request with this key has not finished."""

    title = "Idempotency-Key in flight"
    type = "idempotency-key-in-flight"
    detail = f"A request with this {HEADER} is still running; retry after it finishes."

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(headers={"Retry-After": str(retry_after)})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a keyed request was answered, kept to be answered again."""

    #: The caller the key belongs to, and the key.
    scope: str
    key: str
    #: `fingerprint(request)` of the request that ran.
    fingerprint: str
    status: int
    #: The result's own headers (Location, ETag), never the per-request ones.
    headers: list[tuple[str, str]]
    #: The JSON document sent (the result's envelope).
    document: Any

    def replay(self) -> ReplayedResult:
        """The stored answer as a result, marked as replayed."""
        return ReplayedResult(self)


class ReplayedResult(ApiResult):
    """A stored outcome sent again: same status, document and headers, plus Idempotent-Replayed."""

    __slots__ = ("document",)

    def __init__(self, outcome: Outcome) -> None:
        document = outcome.document
        value = document.get("data") if isinstance(document, dict) else None
        super().__init__(value, outcome.status)
        self.headers.extend(outcome.headers)
        self.headers[REPLAYED] = "true"
        self.document = document

    def envelope(self) -> Any:
        """The document exactly as it was first sent."""
        return self.document


class IdempotencyStore(Protocol):
    """Where outcomes live: in the transaction the view writes in."""

    def claim(self, scope: str, key: str) -> Outcome | None:
        """Hold the key for this request's transaction and return its live outcome, if any.

        Raise IdempotencyKeyInFlight when another request holds it.
        """

    def commit(self, outcome: Outcome | None) -> None:
        """Commit the view's writes, with the outcome when there is one to keep."""


class Idempotency:
    """The app's store, and who a key belongs to."""

    def __init__(self, store: IdempotencyStore) -> None:
        self.store = store
        #: The authenticated caller's identity ("user:42"), or None for the address.
        self.identity_loader: Callable[[ApiRequest], str | None] = lambda _request: None


def idempotency_key(current: ApiRequest) -> str | None:
    """The request's Idempotency-Key, None without one; 400 when it is malformed."""
    given: str | None = current.environ.get("HTTP_IDEMPOTENCY_KEY")
    if given is None:
        return None
    if _BARE.fullmatch(given):
        return given
    quoted = _QUOTED.fullmatch(given)
    if quoted is None:
        raise IdempotencyKeyInvalid()
    return _ESCAPE.sub(r"\1", quoted.group(1))


def fingerprint(current: ApiRequest) -> str:
    """A hash of what makes two requests the same: method, path, query and JSON body.

    The body counts as parsed JSON written canonically, so a retry may space or order
    its keys differently and still be the same request.
    """
    raw = current.read_body()
    body = b""
    if raw:
        value = parse_json(raw, current_api_app().config["JSON_MAX_DEPTH"])
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        body = text.encode()
    digest = hashlib.sha256()
    for part in (current.method.encode(), current.path.encode(), current.query_string, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def idempotent(view: F) -> F:
    """Let a creating POST be retried safely with an Idempotency-Key.

    The view leaves its writes uncommitted; this commits them when it returns, with
    the outcome of a keyed request. A retry with that key and the same request gets
    the stored answer (`Idempotent-Replayed: true`) and the view does not run; a
    different request is a 422, and one while the first still runs a 409. Only
    successes are kept: a problem changed nothing, so the retry runs again.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        current = api_request()
        idempotency: Idempotency = current_api_app().extensions[EXTENSION]
        key = idempotency_key(current)
        if key is None:
            result = view(*args, **kwargs)
            idempotency.store.commit(None)
            return result
        scope = idempotency.identity_loader(current) or f"ip:{current.remote_addr}"
        request_fingerprint = fingerprint(current)
        stored = idempotency.store.claim(scope, key)
        if stored is not None:
            if stored.fingerprint != request_fingerprint:
                raise IdempotencyKeyReused()
            return stored.replay()
        result = view(*args, **kwargs)
        if not isinstance(result, ApiResult):
            raise TypeError("an @idempotent view returns an ApiResult")
        outcome = None
        if 200 <= result.status < 300:
            headers = list(result.headers.items())
            outcome = Outcome(
                scope, key, request_fingerprint, result.status, headers, result.envelope()
            )
        idempotency.store.commit(outcome)
        return result

    wrapper.idempotent = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
