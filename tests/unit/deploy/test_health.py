"""Health gates against a real HTTP server on loopback whose answers the test scripts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conveyor.deploy.health import HealthResult, wait_healthy, watch


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
    result = run(wait_healthy(server.url, interval=0.02, deadline=0.3))
    assert not result.healthy
    assert result.reason == 'not healthy after 0.3s (last probe: 500 {"status":"unavailable"})'
    # It kept probing until the deadline (how many times is the machine's business: CI saw 4
    # where a quiet run sees 12).
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
