"""The demo's stand-in for a Slack webhook: apprise's `json://` target on 127.0.0.1,
which answers its first message 429 with Retry-After, the way Slack meets a burst, and
every later one 200; it keeps what it was sent."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

KEY_HEADER = "Idempotency-Key"


class Hook:
    """A webhook receiver on a free port of 127.0.0.1, while the `with` block lasts."""

    def __init__(self) -> None:
        self.got: list[tuple[int, str | None, str]] = []  # (answered, key, title)
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                title = str(json.loads(self.rfile.read(length) or b"{}").get("title", ""))
                with hook._lock:
                    status = 429 if not hook.got else 200
                    hook.got.append((status, self.headers.get(KEY_HEADER), title))
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The apprise URL of the hook."""
        return f"json://127.0.0.1:{self._server.server_address[1]}/hook"

    def delivered(self) -> list[str]:
        """The titles of the messages it took (answered 200), each key once."""
        seen: dict[str | None, str] = {}
        for status, key, title in self.got:
            if status == 200 and key not in seen:
                seen[key] = title
        return list(seen.values())

    def __enter__(self) -> Hook:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
