"""Health gates against a real HTTP server on loopback whose answers the test scripts; a
probe's words and the gate's wiring (its tunnel, its timing, when it asks whether the program
died) without one."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from conveyor.deploy import health
from conveyor.deploy.health import (
    HealthResult,
    Probe,
    Settings,
    gate,
    healthy_reason,
    probe,
    wait_healthy,
    watch,
)
from conveyor.deploy.hostops import Target
from conveyor.deploy.layout import HostPaths
from tests.unit.deploy.memhost import MemoryHost


class Scripted:
    """A server answering each request with the next status of a script (last one repeats)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.count = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = owner.statuses[min(owner.count, len(owner.statuses) - 1)]
                owner.count += 1
                body = b'{"status":"ok"}' if status < 300 else b'{"status":"unavailable"}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[type[Scripted]]:
    servers: list[Scripted] = []

    class Tracked(Scripted):
        def __init__(self, statuses: list[int]) -> None:
            super().__init__(statuses)
            servers.append(self)

    yield Tracked
    for server in servers:
        server.close()


def run(coro: object) -> HealthResult:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_healthy_after_threshold_consecutive_successes(serve: type[Scripted]) -> None:
    server = serve([503, 503, 200, 500, 200, 200, 200])
    result = run(wait_healthy(server.url, threshold=3, interval=0.01, deadline=5))
    assert result.healthy
    assert [p.status for p in result.probes] == [503, 503, 200, 500, 200, 200, 200]
    assert result.reason == "3 healthy answers in a row"


def test_a_threshold_of_one_is_one_healthy_answer(serve: type[Scripted]) -> None:
    server = serve([503, 200])
    result = run(wait_healthy(server.url, threshold=1, interval=0.01, deadline=5))
    assert result.healthy
    assert result.reason == "1 healthy answer"


def test_deadline_gives_the_last_probe_and_body(serve: type[Scripted]) -> None:
    server = serve([500])
    result = run(wait_healthy(server.url, interval=0.02, deadline=1.0))
    assert not result.healthy
    assert result.reason == 'not healthy after 1s (last probe: 500 {"status":"unavailable"})'
    # It kept probing until the deadline (how many times is the machine's business: a quiet
    # run sees 40; a loaded CI run once took 250 ms to make its first probe).
    assert len(result.probes) >= 2
    assert result.timeline(last=1).endswith('500 {"status":"unavailable"}')


def test_nothing_listening_is_reported_as_refused() -> None:
    result = run(wait_healthy("http://127.0.0.1:9/health", interval=0.01, deadline=0.1))
    assert not result.healthy
    assert result.probes[0].error == "connection refused"
    assert "(last probe: connection refused)" in result.reason


def test_abort_stops_the_gate_at_once(serve: type[Scripted]) -> None:
    server = serve([503])
    calls = 0

    async def crashed() -> str | None:
        nonlocal calls
        calls += 1
        return "process exited with status 1" if calls == 2 else None

    result = run(wait_healthy(server.url, interval=0.01, deadline=10, abort=crashed, abort_every=0))
    assert not result.healthy
    assert result.reason == "process exited with status 1"
    assert len(result.probes) == 2


def test_watch_passes_a_healthy_window(serve: type[Scripted]) -> None:
    server = serve([200])
    result = run(watch(server.url, window=0.2, interval=0.02))
    assert result.healthy
    assert result.reason.endswith("probes, 0 failed")


def test_the_watch_ends_with_a_probe_as_its_window_ends_not_an_interval_later(
    serve: type[Scripted],
) -> None:
    server = serve([200])
    result = run(watch(server.url, window=0.5, interval=0.4))
    assert result.healthy
    # Probes at 0, 0.4 and 0.5 (however slow this machine is, the last one ends after the
    # window): not at 0, 0.4 and then a sleep until 0.8 with no probe after 0.4.
    last = result.probes[-1]
    assert last.at + last.elapsed_ms / 1000 >= 0.5


def test_watch_fails_after_consecutive_errors(serve: type[Scripted]) -> None:
    server = serve([200, 200, 502, 200, 500, 500, 500, 200])
    result = run(watch(server.url, window=5, interval=0.01, max_consecutive_failures=3))
    assert not result.healthy
    assert result.reason.startswith("3 failed probes in a row (+")
    assert result.reason.endswith(' 500 {"status":"unavailable"})')
    assert [p.status for p in result.probes] == [200, 200, 502, 200, 500, 500, 500]


def test_a_release_that_keeps_answering_5xx_fails_fast(serve: type[Scripted]) -> None:
    server = serve([503, 503, 500])
    result = run(wait_healthy(server.url, interval=0.01, deadline=30, unhealthy_threshold=5))
    assert not result.healthy
    assert result.reason == '5 error answers in a row (last probe: 500 {"status":"unavailable"})'
    assert len(result.probes) == 5


def test_error_answers_between_successes_do_not_count(serve: type[Scripted]) -> None:
    server = serve([500, 500, 200, 500, 500, 200, 200])
    result = run(wait_healthy(server.url, interval=0.01, threshold=2, unhealthy_threshold=3))
    assert result.healthy


# What follows needs no server: httpx's MockTransport answers (or fails) in process, and
# the gate's own wiring is checked with a stand-in for wait_healthy, on memhost's host.


def probe_with(answer: Callable[[httpx.Request], httpx.Response]) -> Probe:
    async def go() -> Probe:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            return await probe(client, "http://app/health", started=time.monotonic(), timeout=1)

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection refused"),
        (httpx.ReadTimeout("timed out"), "timed out"),
        (httpx.RemoteProtocolError("Server disconnected"), "RemoteProtocolError"),
    ],
)
def test_a_probe_that_gets_no_answer_says_why_in_a_word(error: httpx.HTTPError, said: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    found = probe_with(fail)
    assert (found.status, found.error, found.ok) == (None, said, False)
    assert found.describe().endswith(f"s {said}")


def test_a_failed_answer_shows_the_start_of_its_body_and_a_good_one_does_not() -> None:
    long = "x" * 500
    bad = probe_with(lambda r: httpx.Response(503, text=f"{long}\n"))
    assert bad.body == "x" * 200
    assert bad.describe() == f"+{bad.at:.2f}s 503 {'x' * 200}"
    good = probe_with(lambda r: httpx.Response(200, text='{"status":"ok"}'))
    assert good.ok and good.describe() == f"+{good.at:.2f}s 200"
    assert Probe(1.5, None, None, "", 0.0).describe() == "+1.50s no answer"


def test_why_a_gate_passed_and_the_timeline_of_its_last_probes() -> None:
    assert healthy_reason(1) == "1 healthy answer"
    assert healthy_reason(3) == "3 healthy answers in a row"
    probes = tuple(Probe(float(n), 503, None, "", 1.0) for n in range(12))
    result = HealthResult(False, "not healthy", probes)
    assert result.timeline(2) == "+10.00s 503\n+11.00s 503"
    assert len(result.timeline().splitlines()) == 10


class Tunnelled(MemoryHost):
    """memhost's host, whose ports are reached through a tunnel on another local port."""

    async def forward(self, host: str, port: int) -> tuple[str, int]:
        return "127.0.0.1", 40000 + port % 1000


def test_the_gate_probes_the_colour_through_its_tunnel_with_the_strategys_timing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: dict[str, Any] = {}

    async def fake(url: str, **options: Any) -> HealthResult:
        asked.update(options, url=url)
        return HealthResult(True, "2 healthy answers in a row", ())

    monkeypatch.setattr(health, "wait_healthy", fake)
    host = Tunnelled("deploy@app-1")
    target = Target("deploy@app-1", host, HostPaths("/srv/shop"), "python3")
    settings = Settings(healthy_threshold=2, unhealthy_threshold=5, health_timeout=30)
    result = asyncio.run(gate(target, "web-green", 8101, "/health", settings))
    assert result.healthy
    assert asked["url"] == "http://127.0.0.1:40101/health"
    assert (asked["threshold"], asked["unhealthy_threshold"], asked["deadline"]) == (2, 5, 30)


def test_the_gate_gives_up_once_the_program_died_but_not_while_it_is_being_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = MemoryHost("deploy@app-1")
    host.status = "web-green                        FATAL     Exited too quickly\n"
    target = Target("deploy@app-1", host, HostPaths("/srv/shop"), "python3")
    said: list[str | None] = []

    async def go() -> HealthResult:
        spawned: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()

        async def fake(url: str, *, abort: Any, **_: Any) -> HealthResult:
            said.append(await abort())
            spawned.set_result({"web-green": 101})
            said.append(await abort())
            return HealthResult(False, str(said[-1]), ())

        monkeypatch.setattr(health, "wait_healthy", fake)
        return await gate(target, "web-green", 8101, "/health", Settings(), spawned)

    result = asyncio.run(go())
    assert said[0] is None  # still being started: supervisor is not asked
    assert result.reason == "web-green is fatal\n  | (no output)"
