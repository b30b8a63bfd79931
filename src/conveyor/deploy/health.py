"""Health gates: probe a URL until it is healthy, or watch it after a switch.

Every probe is kept, so a failed deploy can show its timeline: when each probe
ran, what it got, and the body of the last failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from conveyor.deploy import programs
from conveyor.deploy.hostops import Target

BODY_EXCERPT = 200


@dataclass(frozen=True)
class Probe:
    """One request to a health endpoint."""

    at: float  # seconds since the gate started
    status: int | None  # None when no response came back
    error: str | None
    body: str  # the first characters of the response body
    elapsed_ms: float

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        """`+0.35s 503 {"status":"unavailable"}` or `+0.10s connection refused`."""
        what = str(self.status) if self.status is not None else (self.error or "no answer")
        body = f" {self.body}" if self.body and not self.ok else ""
        return f"+{self.at:.2f}s {what}{body}"


@dataclass(frozen=True)
class HealthResult:
    """The outcome of a gate or a watch, with every probe."""

    healthy: bool
    reason: str
    probes: tuple[Probe, ...]

    def timeline(self, last: int = 10) -> str:
        """The last probes, one per line."""
        return "\n".join(probe.describe() for probe in self.probes[-last:])


# Returns a reason to give up at once (e.g. "process exited"), or None to keep probing.
Abort = Callable[[], Awaitable[str | None]]


async def probe(client: httpx.AsyncClient, url: str, *, started: float, timeout: float) -> Probe:
    """One GET; never raises for network trouble."""
    begin = time.monotonic()
    try:
        response = await client.get(url, timeout=timeout)
    except httpx.HTTPError as error:
        return Probe(begin - started, None, _short(error), "", _ms(begin))
    body = response.text[:BODY_EXCERPT].strip()
    return Probe(begin - started, response.status_code, None, body, _ms(begin))


def healthy_reason(threshold: int) -> str:
    """Why a gate passed: "1 healthy answer", "3 healthy answers in a row"."""
    return "1 healthy answer" if threshold == 1 else f"{threshold} healthy answers in a row"


async def wait_healthy(
    url: str,
    *,
    threshold: int = 3,
    deadline: float = 60.0,
    interval: float = 0.15,
    probe_timeout: float = 2.0,
    unhealthy_threshold: int = 0,
    abort: Abort | None = None,
    abort_every: float = 1.0,
) -> HealthResult:
    """Probe until `threshold` consecutive 2xx answers, the deadline, or a reason to stop.

    A process that answers 5xx `unhealthy_threshold` times in a row is up and says it is
    broken: waiting out the deadline would only keep a bad release around (0: never).
    `abort` (e.g. "has the process died?") is asked at most every `abort_every` seconds.
    """
    probes: list[Probe] = []
    started = time.monotonic()
    streak = failures = 0
    asked = started
    async with httpx.AsyncClient() as client:
        while True:
            result = await probe(client, url, started=started, timeout=probe_timeout)
            probes.append(result)
            streak = streak + 1 if result.ok else 0
            failures = failures + 1 if result.status is not None and result.status >= 500 else 0
            if streak >= threshold:
                return HealthResult(True, healthy_reason(threshold), tuple(probes))
            if unhealthy_threshold and failures >= unhealthy_threshold:
                last = result.describe().split(" ", 1)[1]
                reason = f"{failures} error answers in a row (last probe: {last})"
                return HealthResult(False, reason, tuple(probes))
            if abort is not None and time.monotonic() - asked >= abort_every:
                asked = time.monotonic()
                if why := await abort():
                    return HealthResult(False, why, tuple(probes))
            if time.monotonic() - started >= deadline:
                last = result.describe().split(" ", 1)[1]
                reason = f"not healthy after {deadline:g}s (last probe: {last})"
                return HealthResult(False, reason, tuple(probes))
            await asyncio.sleep(interval)


async def watch(
    url: str,
    *,
    window: float,
    interval: float = 0.15,
    max_consecutive_failures: int = 3,
    probe_timeout: float = 2.0,
) -> HealthResult:
    """Probe through the proxy for `window` seconds, the last probe as it ends; bad after N
    failures (5xx or none) in a row."""
    probes: list[Probe] = []
    started = time.monotonic()
    failures = 0
    async with httpx.AsyncClient() as client:
        while True:
            result = await probe(client, url, started=started, timeout=probe_timeout)
            probes.append(result)
            bad = result.status is None or result.status >= 500
            failures = failures + 1 if bad else 0
            if failures >= max_consecutive_failures:
                reason = f"{failures} failed probes in a row ({result.describe()})"
                return HealthResult(False, reason, tuple(probes))
            left = window - (time.monotonic() - started)
            if left <= 0:
                break
            await asyncio.sleep(min(interval, left))
    errors = sum(1 for p in probes if p.status is None or p.status >= 500)
    return HealthResult(True, f"{len(probes)} probes, {errors} failed", tuple(probes))


def _ms(begin: float) -> float:
    return (time.monotonic() - begin) * 1000


def _short(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.ConnectError):
        return "connection refused"
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    return type(error).__name__


@dataclass(frozen=True)
class Settings:
    """How the deploy behaves, from the environment's strategy."""

    healthy_threshold: int = 3
    unhealthy_threshold: int = 10
    health_timeout: float = 60.0
    watch: float = 30.0
    keep_warm: float = 900.0
    probe_interval: float = 0.15
    batch: int | str = 1  # hosts switched at once: a number or a share, "25%"
    max_failures: int = 0  # hosts that may fail (and stay on the old release) before all go back
    concurrency: int = 16  # hosts prepared (upload, venv) at once


async def gate(
    target: Target,
    program: str,
    port: int,
    path: str,
    settings: Settings,
    spawned: asyncio.Future[dict[str, int]] | None = None,
) -> HealthResult:
    """Probe a colour directly (over SSH: tunnelled) until healthy, broken, or its process died.

    `spawned`: while it is not done, the process is still being started and is not asked after.
    """
    address, local_port = await target.conn.forward("127.0.0.1", port)

    async def crashed() -> str | None:
        if spawned is not None and not spawned.done():
            return None
        return await programs.running(target, program)

    return await wait_healthy(
        f"http://{address}:{local_port}{path}",
        threshold=settings.healthy_threshold,
        unhealthy_threshold=settings.unhealthy_threshold,
        deadline=settings.health_timeout,
        interval=settings.probe_interval,
        abort=crashed,
    )
