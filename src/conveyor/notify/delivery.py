"""One attempt to send one message to one target, through apprise; what the service answered.

Apprise says whether a service took a message (its `AppriseResult`), but not the HTTP
status nor the headers: a 429's Retry-After is lost (it has no retries of its own that
would honour it; caronc/apprise#1341), and its log lines are words for a person. Nearly
every apprise service sends with `requests`, and every `requests` call, module-level or
through a session, goes through a transport adapter's `send()`. So this module wraps
`requests.adapters.HTTPAdapter.send` once, and the wrapper only looks: it records the
status and Retry-After of each response (and the exception of a request that got none)
into the `Seen` of the attempt under way, found through a context variable; outside an
attempt it only passes the call on. Apprise copies the caller's context into the worker
threads it sends from (`submit_with_context`), so the attempt's `Seen` is the one the
worker finds. Of the ways to see the answer this is the least fragile: it depends on one
public, stable method of requests (transport adapters are its documented extension point)
rather than on apprise's private plugin code or the wording of its logs, and it works
for every HTTP service apprise has. A service that does not use HTTP (email, MQTT) gives
apprise's yes or no and its log lines, and is retried with backoff like any failure.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlsplit

from conveyor.notify.policy import permanent

# Services whose apprise URL takes `+Header=value`: the idempotency key goes in a header too.
HEADER_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})
KEY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Answer:
    """How one attempt went: `ok` only when the service confirmed the message."""

    ok: bool
    error: str = ""  # for a person, secrets masked
    status: int | None = None  # the last HTTP status the service answered
    retry_after: str | None = None  # its Retry-After header, as sent
    permanent: bool = False  # a later attempt would fail the same way


@dataclass
class Seen:
    """The responses (and errors) of the requests made during one attempt, in order."""

    responses: list[tuple[int, str | None]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


_SEEN: ContextVar[Seen | None] = ContextVar("conveyor_notify_seen", default=None)
_installed = threading.Lock()
_done = False


def deliver(url: str, *, title: str, body: str, level: str, key: str, timeout: float) -> Answer:
    """Send the message to `url` (expanded) and wait at most `timeout` seconds for its
    answer; the error is not masked yet (the caller knows the secrets)."""
    import apprise  # 0.6 s to load its services: only when something is sent

    _install()
    sender = apprise.Apprise()
    if not sender.add(with_key(url, key)):
        return Answer(False, "apprise cannot use this URL (unknown scheme or a part missing)",
                      permanent=True)  # fmt: skip
    seen = Seen()
    token = _SEEN.set(seen)
    try:
        result = sender.notify(
            body=body,
            title=title,
            notify_type=apprise.NotifyType(level),
            body_format=apprise.NotifyFormat.TEXT,
            timeout=timeout,
        )
    finally:
        _SEEN.reset(token)
    responses, errors = list(seen.responses), list(seen.errors)  # a late worker may add more
    if result:
        return Answer(True, status=responses[-1][0] if responses else None)
    if result.status == apprise.AppriseResultStatus.TIMEOUT:
        return Answer(False, f"no answer within {timeout:g}s")
    if responses:
        status, wait = responses[-1]
        return Answer(False, _status_text(status, wait), status, wait, permanent(status))
    if errors:
        return Answer(False, _error_text(errors[-1]))
    said = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR")]
    return Answer(False, "; ".join(said) or "the service did not take the message")


def with_key(url: str, key: str) -> str:
    """The URL with an `Idempotency-Key` header for services that take headers."""
    if urlsplit(url).scheme.lower() not in HEADER_SCHEMES:
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}%2B{KEY_HEADER}={quote(key, safe='')}"


def _status_text(status: int, retry_after: str | None) -> str:
    try:
        reason = f" {HTTPStatus(status).phrase}"
    except ValueError:
        reason = ""
    wait = f" (Retry-After: {retry_after})" if retry_after is not None else ""
    return f"answered HTTP {status}{reason}{wait}"


def _error_text(error: BaseException) -> str:
    import requests

    if isinstance(error, requests.Timeout):
        return "timed out waiting for the service"
    if isinstance(error, requests.ConnectionError):
        return f"could not connect: {_root(error)}"
    return f"{type(error).__name__}: {error}"


def _root(error: BaseException) -> str:
    """The innermost reason of a connection error ("Connection refused"), not its URL."""
    seen = {id(error)}
    while (inner := error.__cause__ or error.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        error = inner
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _install() -> None:
    """Wrap HTTPAdapter.send once, for every thread."""
    global _done
    with _installed:
        if _done:
            return
        from requests.adapters import HTTPAdapter

        original = HTTPAdapter.send

        def send(self: HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
            seen = _SEEN.get()
            if seen is None:
                return original(self, request, *args, **kwargs)
            try:
                response = original(self, request, *args, **kwargs)
            except BaseException as error:
                seen.errors.append(error)
                raise
            seen.responses.append((response.status_code, response.headers.get("Retry-After")))
            return response

        HTTPAdapter.send = send  # type: ignore[method-assign]
        _done = True
