"""The Strike process (`python -m workers.strike`): watches every active Strike's directory.

A thin loop around `app.services.strike.StrikeProcessor`: watchdog events are queued by the observer
thread and handled on the main thread, every pending event at once, in groups that share their
transactions and their ingest message; every STRIKE_RESCAN_INTERVAL each directory is scanned in full (missed events, files present at start, interrupted work); the strike table is read
every few seconds so new Strikes and configuration edits apply without a restart. Ingest ids that
become QUEUED are handed to `submit` (by default the Celery task `tasks.ingest.ingest_files`).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from watchdog.events import FileClosedEvent, FileCreatedEvent, FileMovedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from app.db import with_retry
from app.services import system_jobs
from app.services.strike import SETTLE_SECONDS, StrikeProcessor, active_strikes
from app.settings import settings
from app.specs.base import SpecError

log = logging.getLogger("workers.strike")

STRIKE_POLL_INTERVAL = 3.0
# Files of one burst processed together: one pair of Strike transactions and one ingest message per group.
SUBMIT_BATCH = 100
# Appearing, finished writing, renamed. Every write (IN_MODIFY) is not needed: a file written in place is
# looked at again until it stops changing, and the rescans refresh bytes_transferred.
WATCHED_EVENTS = [FileCreatedEvent, FileClosedEvent, FileMovedEvent]
Submit = Callable[[list[int]], object]


def send_ingest_tasks(ingest_ids: list[int]) -> None:
    from tasks.celery_app import send
    from tasks.ingest import ingest_files

    send(ingest_files, list(ingest_ids))


class _DirectoryEvents(FileSystemEventHandler):
    """Turns watchdog events for files directly inside one Strike directory into (strike id, name, renamed)."""

    def __init__(self, strike_id: int, directory: str, suffix: str, sink: queue.Queue) -> None:
        self.strike_id = strike_id
        self.directory = directory
        self.suffix = suffix
        self.sink = sink

    def _name_in_directory(self, path) -> str | None:
        path = os.fsdecode(path)
        parent, name = os.path.split(path)
        return name if parent == self.directory else None

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        if event.event_type == "moved":
            dest = self._name_in_directory(event.dest_path)
            if dest is not None:
                src = self._name_in_directory(event.src_path)
                # The sender renamed `<name><suffix>` to `<name>`: the transfer is complete.
                renamed = bool(self.suffix) and src == f"{dest}{self.suffix}"
                self.sink.put((self.strike_id, dest, renamed))
        elif event.event_type in ("created", "closed"):
            name = self._name_in_directory(event.src_path)
            if name is not None:
                self.sink.put((self.strike_id, name, False))


@dataclass
class _Watched:
    processor: StrikeProcessor
    handler: _DirectoryEvents
    watch: ObservedWatch
    fingerprint: str
    next_scan: float = 0.0


class StrikeWatcher:
    """Runs every active Strike in this process. `run()` blocks until `stop()`."""

    def __init__(
        self,
        submit: Submit | None = None,
        *,
        poll_interval: float = STRIKE_POLL_INTERVAL,
        rescan_interval: float | None = None,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        self.submit = submit or send_ingest_tasks
        self.poll_interval = poll_interval
        self.rescan_interval = settings.STRIKE_RESCAN_INTERVAL if rescan_interval is None else rescan_interval
        self.settle_seconds = settle_seconds
        self.events: queue.Queue = queue.Queue()
        self.observer = Observer()
        self.watched: dict[int, _Watched] = {}
        self._stop = threading.Event()
        self.ready = threading.Event()  # set after the first sync and scans (tests wait on it)
        self.process = system_jobs.Process.this("strike")
        self.system_exes: dict[int, int] = {}  # strike id -> the RUNNING execution of its system job
        self.next_beat = 0.0

    # ------------------------------------------------------------ strikes

    def sync_strikes(self) -> None:
        """Start watching new Strikes, rebuild edited ones, stop watching removed or inactive ones."""
        current = {}
        for strike_id, configuration, _modified in with_retry(active_strikes):
            current[strike_id] = (configuration, json.dumps(configuration, sort_keys=True))
        for strike_id in [s for s in self.watched if s not in current or self.watched[s].fingerprint != current[s][1]]:
            self._unwatch(strike_id)
        for strike_id, (configuration, fingerprint) in current.items():
            if strike_id in self.watched:
                continue
            try:
                processor = StrikeProcessor(strike_id, configuration, settle_seconds=self.settle_seconds)
                processor.directory.mkdir(parents=True, exist_ok=True)
                directory = str(processor.directory)
                handler = _DirectoryEvents(strike_id, directory, processor.suffix, self.events)
                watch = self.observer.schedule(handler, directory, recursive=False, event_filter=WATCHED_EVENTS)
            except (SpecError, OSError) as exc:
                log.error("Strike %s cannot be watched: %s", strike_id, exc)
                continue
            self.watched[strike_id] = _Watched(processor, handler, watch, fingerprint)
            log.info("watching Strike %s at %s", strike_id, directory)
        try:  # bookkeeping: a failure here never stops the ingest work
            self.sync_system_jobs()
        except Exception:  # noqa: BLE001
            log.exception("could not record the Strike system jobs")

    def sync_system_jobs(self) -> None:
        """Each watched Strike has a RUNNING system job execution of this process: started for new ones
        (and again when one was failed as silent), beaten on, ended for those no longer watched."""
        for strike_id in [s for s in self.system_exes if s not in self.watched]:
            exe_id = self.system_exes.pop(strike_id)
            with_retry(lambda s, e=exe_id: system_jobs.stop(s, e, "the Strike was deactivated, edited or removed"))
        gone: set[int] = set()
        if time.monotonic() >= self.next_beat:  # a write per beat, not per poll: ingest work shares the database
            gone = with_retry(lambda s: system_jobs.beat(s, list(self.system_exes.values())))
            self.next_beat = time.monotonic() + settings.SYSTEM_JOB_SILENCE / 4
        for strike_id in [s for s in self.watched if s not in self.system_exes or self.system_exes[s] in gone]:
            exe_id = with_retry(lambda s, i=strike_id: system_jobs.strike_job(s, i, self.process))
            if exe_id is not None:
                self.system_exes[strike_id] = exe_id

    def stop_system_jobs(self, why: str) -> None:
        for exe_id in self.system_exes.values():
            try:
                with_retry(lambda s, e=exe_id: system_jobs.stop(s, e, why))
            except Exception:  # noqa: BLE001 - the reconcile fails it once its heartbeat is old
                log.exception("could not end system job execution %s", exe_id)
        self.system_exes.clear()

    def _unwatch(self, strike_id: int) -> None:
        watched = self.watched.pop(strike_id)
        try:
            self.observer.remove_handler_for_watch(watched.handler, watched.watch)
        except (KeyError, OSError):
            pass
        log.info("stopped watching Strike %s", strike_id)

    # ------------------------------------------------------------ work

    def _submit(self, ingest_ids: Iterable[int]) -> None:
        ids = list(ingest_ids)
        if ids:
            try:
                self.submit(ids)
            except Exception:  # noqa: BLE001 - the rescan sends QUEUED ingests again
                log.exception("submitting ingests %s failed", ids)

    def _guarded(self, what: str, fn: Callable[[], list[int]]) -> None:
        """Run fn and submit the ingest ids it returns; a failure is logged (the rescan catches up)."""
        try:
            ids = fn()
        except Exception:  # noqa: BLE001 - one bad group or Strike never stops the process
            log.exception("Strike processing failed: %s", what)
            return
        self._submit(ids)

    def _scan_due(self, now: float) -> None:
        for strike_id, watched in list(self.watched.items()):
            if now >= watched.next_scan:
                self._guarded(f"scan of Strike {strike_id}", watched.processor.scan)
                watched.next_scan = time.monotonic() + self.rescan_interval
            due = [(name, False) for name in watched.processor.due_rechecks(now)]
            if due:
                self._guarded(f"rechecks in Strike {strike_id}", lambda p=watched.processor, d=due: p.handle_many(d))

    def _handle_events(self, first) -> None:
        """Every queued event at once: per Strike, groups of SUBMIT_BATCH files share their transactions and message."""
        batch: dict[tuple[int, str], bool] = {}
        item = first
        while item is not None:
            strike_id, name, renamed = item
            batch[(strike_id, name)] = batch.get((strike_id, name), False) or renamed
            try:
                item = self.events.get_nowait()
            except queue.Empty:
                item = None
        by_strike: dict[int, list[tuple[str, bool]]] = {}
        for (strike_id, name), renamed in batch.items():
            by_strike.setdefault(strike_id, []).append((name, renamed))
        for strike_id, events in by_strike.items():
            watched = self.watched.get(strike_id)
            if watched is None:
                continue
            for start in range(0, len(events), SUBMIT_BATCH):
                group = events[start : start + SUBMIT_BATCH]
                self._guarded(
                    f"{len(group)} files in Strike {strike_id}", lambda p=watched.processor, g=group: p.handle_many(g)
                )

    def _next_deadline(self, next_sync: float) -> float:
        deadlines = [next_sync]
        for watched in self.watched.values():
            deadlines.append(watched.next_scan)
            recheck = watched.processor.next_recheck()
            if recheck is not None:
                deadlines.append(recheck)
        return min(deadlines)

    def run(self) -> None:
        self.observer.start()
        next_sync = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_sync:
                    try:
                        self.sync_strikes()
                    except Exception:  # noqa: BLE001 - the database may be briefly unavailable
                        log.exception("reading the Strike configurations failed")
                    next_sync = time.monotonic() + self.poll_interval
                self._scan_due(time.monotonic())
                self.ready.set()
                timeout = max(0.0, self._next_deadline(next_sync) - time.monotonic())
                try:
                    first = self.events.get(timeout=timeout)
                except queue.Empty:
                    continue
                if first is not None:
                    self._handle_events(first)
        finally:
            self.observer.stop()
            self.observer.join(timeout=10)
            self.stop_system_jobs("the Strike process stopped")

    def stop(self) -> None:
        self._stop.set()
        self.events.put(None)


def main() -> None:
    logging.basicConfig(level=settings.LOG_LEVEL, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    watcher = StrikeWatcher()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: watcher.stop())
    watcher.run()


if __name__ == "__main__":
    main()
