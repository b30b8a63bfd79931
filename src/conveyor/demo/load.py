"""A steady stream of requests through the proxy, counting what a user would notice."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

import httpx


@dataclass
class Load:
    """GETs at `rate` per second in a thread: successes, failures, the longest gap."""

    url: str
    rate: float = 100.0
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    ok_times: list[float] = field(default_factory=list)
    failed_times: list[float] = field(default_factory=list)
    longest_gap: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        time.sleep(0.3)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def summary(self) -> str:
        """`812 requests, 0 failed, longest gap 0.05s, versions: 1.0.0 -> 1.1.0`."""
        seen = list(dict.fromkeys(self.versions))
        return (
            f"{self.ok + len(self.failed)} requests, {len(self.failed)} failed, "
            f"longest gap {self.longest_gap:.2f}s, versions: {' -> '.join(seen) or '-'}"
        )

    def _run(self) -> None:
        last_ok = began = time.monotonic()
        sent = 0
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                sent += 1
                try:
                    response = client.get(self.url)
                except httpx.HTTPError as error:
                    self.failed.append(type(error).__name__)
                    self.failed_times.append(time.monotonic())
                else:
                    if response.status_code == 200:
                        now = time.monotonic()
                        self.ok += 1
                        self.longest_gap = max(self.longest_gap, now - last_ok)
                        last_ok = now
                        self.ok_times.append(now)
                        self.versions.append(str(response.json().get("version")))
                    else:
                        self.failed.append(str(response.status_code))
                        self.failed_times.append(time.monotonic())
                # Paced by the clock, not by the answers: `rate` requests per second.
                time.sleep(max(0.0, began + sent / self.rate - time.monotonic()))
