"""Strike: what happens to each file that appears in a watched directory.

`StrikeProcessor` holds the logic for one Strike and needs no watchdog: `handle(name)` processes one
file event, `scan()` one full pass over the directory (and over the Strike's unfinished ingest rows).
Both return the ids of ingests that became QUEUED (or must be sent again); the caller hands them to
the ingest service (a Celery task in production, a direct call in tests).

Per file, in the Strike directory (an nfs-style `mount` resolved under WORKSPACE_MOUNT_ROOT):
- `<name><transfer_suffix>`: still being copied -> Ingest `<name>` TRANSFERRING (bytes_transferred kept up to date);
- `<name>` (suffix sliced off by the rename, or written in place and no longer changing) -> TRANSFERRED
  with size, media type and checksum, then
  - same name and checksum as an existing source file -> DUPLICATE, file moved to `duplicate/`;
  - no `files_to_ingest` rule matches -> DEFERRED, file moved to `deferred/`;
  - otherwise -> QUEUED, file moved to `ingesting/` until the ingest stores it into the workspace at
    `workspace_path/YYYY/MM/DD/<name>`;
  - anything that fails -> ERRORED with the reason (the file stays where it is).

The Ingest row is unique per (Strike, file name): it describes the latest arrival of that name. A file
that appears again after its row finished (an operator putting a deferred file back, the same file sent
twice) starts a new arrival on the same row; a second copy of an ingested file becomes DUPLICATE and
points at the source file already stored. Every step is idempotent and the order of file moves and
commits lets `scan()` finish whatever a crash interrupted, so a restart never ingests a file twice.
"""
from __future__ import annotations

import logging
import os
import re
import stat
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import utcnow, with_retry
from app.models import Ingest, Strike, Workspace
from app.services import jobs as job_service
from app.services.executions import guess_media_type
from app.services.ingest import (
    DEFERRED_DIR,
    DUPLICATE_DIR,
    INGESTING_DIR,
    STALE_INGESTING,
    checksum_file,
    find_duplicate_source,
    move_file,
)
from app.services.workspaces import WorkspacePathError, broker_for, mount_path
from app.specs.base import Problem
from app.specs.strike_config import validate_strike_configuration

log = logging.getLogger(__name__)

# A file written in place (no transfer suffix) is taken once it has not changed for this long.
SETTLE_SECONDS = 1.0
# bytes_transferred of a TRANSFERRING file is written at most this often.
PROGRESS_INTERVAL = 1.0
# A QUEUED ingest whose task has not run after this long is sent again (a lost message).
RESEND_QUEUED_AFTER = timedelta(seconds=30)
RESERVED_DIRS = (INGESTING_DIR, DEFERRED_DIR, DUPLICATE_DIR)
IN_FLIGHT = ("TRANSFERRED", "QUEUED", "INGESTING")
FINISHED = ("DEFERRED", "INGESTED", "DUPLICATE", "ERRORED")


# ---------------------------------------------------------------- Strike records

def strike_directory(configuration: dict) -> Path:
    return mount_path(configuration["mount"])


def validate_configuration(session: Session, configuration) -> tuple[dict, list[Problem]]:
    """A normalized Strike configuration and its warnings; SpecError lists every problem."""
    config = validate_strike_configuration(configuration, lookup_workspaces_by_name=job_service.lookup_workspaces_by_name(session))
    warnings = []
    directory = strike_directory(config)
    if not directory.is_dir():
        warnings.append(Problem("MISSING_DIRECTORY", f"The Strike directory {directory} does not exist yet; "
                                                     f"the Strike process creates it"))
    return config, warnings


def create_strike(session: Session, name: str, configuration: dict, title: str | None = None,
                  description: str | None = None) -> Strike:
    config, _ = validate_configuration(session, configuration)
    now = utcnow()
    strike = Strike(name=name, title=title, description=description, configuration=config, is_active=True,
                    created=now, last_modified=now)
    session.add(strike)
    session.flush()
    return strike


# ---------------------------------------------------------------- per-file logic

@dataclass(frozen=True)
class FileRule:
    pattern: re.Pattern
    data_types: tuple[str, ...]
    workspace_path: str
    workspace_name: str


def compile_rules(configuration: dict) -> list[FileRule]:
    rules = []
    for rule in configuration.get("files_to_ingest", []):
        try:
            pattern = re.compile(rule["filename_regex"])
        except (re.error, TypeError) as exc:  # validated on save; an old row could still hold one
            log.error("Strike rule %r is not a valid regular expression, skipped: %s", rule.get("filename_regex"), exc)
            continue
        rules.append(FileRule(pattern, tuple(rule.get("data_types") or ()), (rule.get("workspace_path") or "").strip("/"),
                              rule["workspace_name"]))
    return rules


def first_matching_rule(rules: list[FileRule], file_name: str) -> FileRule | None:
    """The first rule whose regular expression matches the start of the name (as the original did)."""
    return next((r for r in rules if r.pattern.match(file_name)), None)


def workspace_file_path(rule: FileRule, file_name: str, when: datetime) -> str:
    parts = [p for p in (rule.workspace_path, f"{when:%Y}", f"{when:%m}", f"{when:%d}", file_name) if p]
    return "/".join(parts)


def slice_suffix(name: str, suffix: str) -> str:
    """The name without the transfer suffix; the suffix is sliced off, never stripped as a set of characters."""
    if suffix and name.endswith(suffix) and len(name) > len(suffix):
        return name[: -len(suffix)]
    return name


_reported_names: set[str] = set()


def _is_candidate(name: str) -> bool:
    """Hidden files (rsync and editors write temporaries as dot files) and undecodable names are left alone."""
    if not name or name.startswith(".") or "/" in name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        if name not in _reported_names:
            _reported_names.add(name)
            log.warning("Strike ignores a file whose name is not valid UTF-8: %r", name)
        return False
    return True


def _new_arrival(ingest: Ingest, now: datetime) -> None:
    """The same name arrived again after its row finished: the row follows the new file from the start."""
    ingest.bytes_transferred = None
    ingest.transfer_started = now
    ingest.transfer_ended = None
    ingest.media_type = None
    ingest.file_size = None
    ingest.data_type = None
    ingest.file_path = None
    ingest.workspace_id = None
    ingest.ingest_path = None
    ingest.checksum = None
    ingest.source_file_id = None
    ingest.error_message = None
    ingest.ingest_started = None
    ingest.ingest_ended = None


class StrikeProcessor:
    """The file logic of one Strike, driven by events (`handle`) and periodic passes (`scan`)."""

    def __init__(self, strike_id: int, configuration: dict, *, settle_seconds: float = SETTLE_SECONDS,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.strike_id = strike_id
        self.configuration = validate_strike_configuration(configuration, lookup_workspaces_by_name=None)
        self.directory = strike_directory(self.configuration)
        self.suffix = self.configuration.get("transfer_suffix") or ""
        self.rules = compile_rules(self.configuration)
        self.settle_seconds = settle_seconds
        self.wall_clock = wall_clock
        # name -> monotonic time at which a file that was still changing is looked at again
        self.rechecks: dict[str, float] = {}
        self._seen_with_suffix: set[str] = set()
        self._progress_written: dict[str, float] = {}
        self._retried_errors: set[str] = set()
        self._first_scan = True

    # ------------------------------------------------------------ entry points

    def handle(self, name: str, renamed: bool = False) -> list[int]:
        """Process one file of the Strike directory (by name); returns ingest ids that became QUEUED."""
        if not _is_candidate(name):
            return []
        path = self.directory / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            self.rechecks.pop(name, None)
            return []
        if not stat.S_ISREG(st.st_mode):
            return []  # directories (ours: ingesting/, deferred/, duplicate/) and symlinks are not ingested
        final = slice_suffix(name, self.suffix)
        try:
            if final != name:
                self._seen_with_suffix.add(final)
                self._record_transferring(final, st.st_size, name)
                return []
            return self._arrived(name, path, st, trusted=renamed or name in self._seen_with_suffix)
        except IntegrityError:
            # Another Strike process created the row at the same moment; look again later.
            log.warning("Strike %s: ingest row for %s was created concurrently; retrying later", self.strike_id, name)
            self.rechecks[name] = time.monotonic() + self.settle_seconds
            return []

    def scan(self) -> list[int]:
        """One full pass: every file of the directory, then rows a crash or a lost event left unfinished."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            entries = [e for e in os.scandir(self.directory) if e.is_file(follow_symlinks=False)]
        except OSError as exc:
            log.error("Strike %s: cannot list %s: %s", self.strike_id, self.directory, exc)
            return []
        entries.sort(key=lambda e: (e.stat(follow_symlinks=False).st_mtime, e.name))
        queued: list[int] = []
        for entry in entries:
            queued.extend(self.handle(entry.name))
        queued.extend(self._revisit_rows())
        self._first_scan = False
        return list(dict.fromkeys(queued))

    def due_rechecks(self, now_monotonic: float | None = None) -> list[str]:
        now_monotonic = time.monotonic() if now_monotonic is None else now_monotonic
        due = [name for name, at in self.rechecks.items() if at <= now_monotonic]
        for name in due:
            del self.rechecks[name]
        return due

    def next_recheck(self) -> float | None:
        return min(self.rechecks.values()) if self.rechecks else None

    # ------------------------------------------------------------ transferring

    def _record_transferring(self, final: str, size: int, name: str | None = None) -> None:
        now_m = time.monotonic()
        last = self._progress_written.get(final)
        if last is not None and now_m - last < PROGRESS_INTERVAL:
            # Throttled: look again once the interval passed so the last size seen is written too.
            self.rechecks.setdefault(name or final, last + PROGRESS_INTERVAL)
            return

        def work(session: Session) -> None:
            ingest = self._row(session, final)
            now = utcnow()
            if ingest is None:
                session.add(Ingest(strike_id=self.strike_id, file_name=final, status="TRANSFERRING", bytes_transferred=size,
                                   transfer_started=now, created=now, last_modified=now))
            elif ingest.status == "TRANSFERRING":
                if ingest.bytes_transferred != size:
                    ingest.bytes_transferred = size
                    ingest.last_modified = now
            elif ingest.status in FINISHED and not (ingest.status == "ERRORED" and (self.directory / final).exists()):
                _new_arrival(ingest, now)
                ingest.status = "TRANSFERRING"
                ingest.bytes_transferred = size
                ingest.last_modified = now
            session.flush()

        with_retry(work)
        self._progress_written[final] = now_m

    # ------------------------------------------------------------ a complete file

    def _arrived(self, name: str, path: Path, st: os.stat_result, trusted: bool) -> list[int]:
        if name in self._retried_errors and with_retry(lambda s: getattr(self._row(s, name), "status", None)) == "ERRORED":
            return []  # left in place after an error; not read again on every pass
        if not trusted:
            age = self.wall_clock() - st.st_mtime
            if age < self.settle_seconds:
                self._record_transferring(name, st.st_size)
                self.rechecks[name] = time.monotonic() + (self.settle_seconds - age) + 0.05
                return []
        checksum = checksum_file(path)
        after = os.lstat(path)
        if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            self.rechecks[name] = time.monotonic() + self.settle_seconds
            return []  # still being written
        self.rechecks.pop(name, None)
        self._progress_written.pop(name, None)
        self._seen_with_suffix.discard(name)
        rule = first_matching_rule(self.rules, name)
        decision = with_retry(lambda s: self._mark_transferred(s, name, st.st_size, checksum, rule))
        if decision is not None and decision[-1] == "ERRORED":
            self._retried_errors.add(name)  # retried once by this processor; a restart or a configuration change retries again
        return self._apply(name, path, rule, decision[:-1] if decision is not None else None)

    def _mark_transferred(self, session: Session, name: str, size: int, checksum: str,
                          rule: FileRule | None) -> tuple | None:
        """The file is complete: TRANSFERRED with its size and checksum, and what to do with it (one transaction).

        Returns the decision (see `_look`) followed by the row's previous status, or None to leave the file for now.
        """
        ingest = self._row(session, name)
        previous = ingest.status if ingest is not None else None
        if previous in ("QUEUED", "INGESTING"):
            return None  # the previous file of this name is still being ingested; the rescan looks again
        if previous == "ERRORED" and name in self._retried_errors:
            return None
        now = utcnow()
        if ingest is None:
            ingest = Ingest(strike_id=self.strike_id, file_name=name, transfer_started=now, created=now)
            session.add(ingest)
        elif ingest.status in FINISHED:
            _new_arrival(ingest, now)
        ingest.status = "TRANSFERRED"
        ingest.transfer_ended = now
        ingest.bytes_transferred = size
        ingest.file_size = size
        ingest.media_type = guess_media_type(name)
        ingest.checksum = checksum
        ingest.last_modified = now
        session.flush()
        return (*self._look(session, ingest, rule), previous)

    def _look(self, session: Session, ingest: Ingest, rule: FileRule | None) -> tuple:
        """(ingest id, outcome, reference, detail) for a TRANSFERRED file: DUPLICATE, DEFERRED, QUEUED or ERRORED."""
        dup = find_duplicate_source(session, ingest.file_name, ingest.checksum) if ingest.checksum else None
        if dup is not None:
            return ingest.id, "DUPLICATE", dup.id, None
        if rule is None:
            return ingest.id, "DEFERRED", None, None
        workspace = session.scalar(select(Workspace).where(Workspace.name == rule.workspace_name))
        if workspace is None or not workspace.is_active:
            return ingest.id, "ERRORED", None, f"workspace '{rule.workspace_name}' does not exist or is not active"
        rel = workspace_file_path(rule, ingest.file_name, utcnow())
        try:
            broker_for(workspace.json_config).resolve(rel)
        except (ValueError, KeyError, WorkspacePathError) as exc:
            return ingest.id, "ERRORED", None, f"cannot store '{rel}' in workspace '{workspace.name}': {exc}"
        return ingest.id, "QUEUED", workspace.id, rel

    def _decide(self, name: str, path: Path) -> list[int]:
        """Decide again for a row left TRANSFERRED (a crash before its decision was committed)."""
        rule = first_matching_rule(self.rules, name)

        def look(session: Session):
            ingest = self._row(session, name)
            return self._look(session, ingest, rule) if ingest is not None and ingest.status == "TRANSFERRED" else None

        return self._apply(name, path, rule, with_retry(look))

    def _apply(self, name: str, path: Path, rule: FileRule | None, decision: tuple | None) -> list[int]:
        """Carry out a decision: the file moves first, then the status commits (a crash in between is repaired by `scan`)."""
        if decision is None:
            return []
        ingest_id, outcome, ref, detail = decision
        target_dir = {"DUPLICATE": DUPLICATE_DIR, "DEFERRED": DEFERRED_DIR, "QUEUED": INGESTING_DIR}.get(outcome)
        moved_to = None
        if target_dir is not None:
            try:
                moved_to = move_file(path, self.directory / target_dir, name)
            except OSError as exc:
                outcome, detail = "ERRORED", f"moving the file to {target_dir}/ failed: {exc}"
        values: dict = {"status": outcome, "last_modified": utcnow()}
        if rule is not None:
            values["data_type"] = ",".join(rule.data_types) or None
        if outcome == "DUPLICATE":
            values.update(source_file_id=ref, ingest_path=str(moved_to))
        elif outcome == "QUEUED":
            values.update(workspace_id=ref, file_path=detail, ingest_path=str(moved_to))
        elif outcome == "ERRORED":
            values["error_message"] = detail
            self._retried_errors.add(name)  # the file stays: do not decide again on every pass
            log.warning("Strike %s: %s: %s", self.strike_id, name, detail)

        def commit(session: Session) -> bool:
            result = session.execute(update(Ingest).where(Ingest.id == ingest_id, Ingest.status == "TRANSFERRED")
                                     .values(**values))
            return result.rowcount == 1

        committed = with_retry(commit)
        return [ingest_id] if committed and outcome == "QUEUED" else []

    # ------------------------------------------------------------ repairs

    def _revisit_rows(self) -> list[int]:
        """Finish rows whose file moved or vanished, and send again ingests whose message was lost."""
        now = utcnow()
        resend_before = now if self._first_scan else now - RESEND_QUEUED_AFTER
        stale_before = now - STALE_INGESTING

        def load(session: Session):
            return [(i.file_name, i.status) for i in session.scalars(select(Ingest).where(
                Ingest.strike_id == self.strike_id, Ingest.status.in_(("TRANSFERRING", "TRANSFERRED"))))]

        queued: list[int] = []
        for name, status in with_retry(load):
            top = self.directory / name
            if top.exists() or (self.suffix and (self.directory / f"{name}{self.suffix}").exists()):
                continue  # the directory pass handles it
            parked = next((p for p in (self.directory / d / name for d in RESERVED_DIRS) if p.exists()), None)
            if status == "TRANSFERRED" and parked is not None:
                # The move out of the directory happened but its commit did not: bring it back and decide again.
                try:
                    os.replace(parked, top)
                except OSError as exc:
                    log.error("Strike %s: cannot recover %s: %s", self.strike_id, parked, exc)
                    continue
                queued.extend(self._decide(name, top))
                continue
            with_retry(lambda s, n=name: self._vanished(s, n))

        def resend(session: Session) -> list[int]:
            rows = session.scalars(select(Ingest).where(
                Ingest.strike_id == self.strike_id,
                ((Ingest.status == "QUEUED") & (Ingest.last_modified <= resend_before))
                | ((Ingest.status == "INGESTING") & (Ingest.ingest_started < stale_before)))).all()
            for row in rows:
                if row.status == "QUEUED":
                    row.last_modified = now  # at most one resend per interval
            return [r.id for r in rows]

        queued.extend(with_retry(resend))
        return queued

    def _vanished(self, session: Session, name: str) -> None:
        ingest = self._row(session, name)
        if ingest is None or ingest.status not in ("TRANSFERRING", "TRANSFERRED"):
            return
        if (self.directory / name).exists():
            return
        ingest.status = "ERRORED"
        ingest.error_message = "the file disappeared from the Strike directory before it was ingested"
        ingest.last_modified = utcnow()
        self._seen_with_suffix.discard(name)
        self._progress_written.pop(name, None)

    def _row(self, session: Session, name: str) -> Ingest | None:
        return session.scalar(select(Ingest).where(Ingest.strike_id == self.strike_id, Ingest.file_name == name))


def active_strikes(session: Session) -> list[tuple[int, dict, datetime]]:
    """(id, configuration, last_modified) of every active Strike."""
    return [(s.id, s.configuration, s.last_modified)
            for s in session.scalars(select(Strike).where(Strike.is_active.is_(True)).order_by(Strike.id))]
