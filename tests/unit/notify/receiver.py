"""A local HTTP receiver standing in for a service's webhook: each request answered as the
test scripted it (a status with headers, or a hang), every request kept in arrival order."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG = "hang"
KEY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a status and headers, or HANG (no answer until released)."""

    status: int | str = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    key: str | None
    title: str
    message: str
    path: str
    answered: int | str
    at: float  # time.monotonic() on arrival


class Receiver:
    """`json://127.0.0.1:PORT/hook`: answers from `script` in order, then 200."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.received: list[Received] = []
        self.changed = threading.Condition()
        self.released = threading.Event()  # hung requests answer (200) once it is set
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The apprise URL of the hook."""
        return f"json://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        """Listen (again, on the same port once it had one)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length) or b"{}")
                with receiver.changed:
                    reply = receiver.script.pop(0) if receiver.script else Reply()
                    receiver.received.append(
                        Received(
                            self.headers.get(KEY_HEADER),
                            payload.get("title", ""),
                            payload.get("message", ""),
                            self.path,
                            reply.status,
                            time.monotonic(),
                        )
                    )
                    receiver.changed.notify_all()
                if reply.status == HANG:
                    receiver.released.wait(timeout=30)
                    status = 200
                else:
                    assert isinstance(reply.status, int)
                    status = reply.status
                self.send_response(status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def up(self) -> bool:
        """Whether it listens now."""
        return self._server is not None

    def stop(self) -> None:
        """Stop listening: connections are refused until `start` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = self._thread = None

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Until `count` requests arrived."""
        with self.changed:
            return self.changed.wait_for(lambda: len(self.received) >= count, timeout)

    def keys_in_order(self) -> list[str]:
        """The idempotency keys in arrival order, each once (the first time it came)."""
        return list(dict.fromkeys(r.key for r in self.received if r.key is not None))


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A started receiver, stopped (and its hung requests released) afterwards."""
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.released.set()
        receiver.stop()
