"""Events written by a thread of their own: a deploy's event loop never waits on the database.

`HistoryStore.event_later` queues an event; the writer thread appends it with
`HistoryStore.event`, in the order they were queued. `flush` waits until every
queued event is written (the store's `finish` and `close` flush first, so a
record is never finished before its events). A write that failed in the thread
is tried once more by `flush`; one that fails again is returned, and the
store's `finish` says in the record how many events it could not record.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from conveyor.history.records import Value


@dataclass(frozen=True)
class Queued:
    """One event waiting to be written (`HistoryStore.event`'s arguments)."""

    deploy_id: str
    kind: str
    message: str
    host: str | None
    fields: Mapping[str, Value] | None = None
    seconds: float | None = None


Write = Callable[[Queued], None]


@dataclass
class EventWriter:
    """A thread that writes queued events with `write`, one at a time, in order."""

    write: Write
    _queue: queue.Queue[Queued | None] = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None
    _failed: list[Queued] = field(default_factory=list)

    def put(self, item: Queued) -> None:
        """Queue one event; returns at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
            self._thread.start()
        self._queue.put(item)

    def flush(self) -> list[str]:
        """Wait until every queued event is written; why each one that could not be was not."""
        if self._thread is None:
            return []
        self._queue.join()
        failed, self._failed = self._failed, []
        errors = []
        for item in failed:
            try:
                self.write(item)
            except Exception as error:
                errors.append(str(error))
        return errors

    def stop(self) -> list[str]:
        """Flush, then end the thread; what `flush` returns."""
        try:
            return self.flush()
        finally:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()
                self._thread = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                try:
                    self.write(item)
                except Exception:
                    self._failed.append(item)
            finally:
                self._queue.task_done()
