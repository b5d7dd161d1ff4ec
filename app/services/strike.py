"""Strike: what happens to each file that appears in a watched directory.

`StrikeProcessor` holds the logic for one Strike and needs no watchdog: `handle_many(events)` processes
file events together (a few transactions for the whole batch; `handle(name)` is a batch of one), `scan()`
one full pass over the directory (and over the Strike's unfinished ingest rows). Both return the ids of ingests that became QUEUED (or must be sent again); the caller hands them to
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

Every arrival of a file has its own Ingest row, and at most one arrival of a name is in flight per Strike
(a partial unique index). A file that appears again after its row finished (an operator putting a
deferred file back, the same file sent twice) gets a new row, the earlier one left as it was: a second
copy of an ingested file becomes a DUPLICATE row that points at the source file already stored, beside
the INGESTED original. Only a file that errored and is still in place (same checksum) is tried again on
its own row. Every step is idempotent and the order of file moves and
commits lets `scan()` finish whatever a crash interrupted, so a restart never ingests a file twice.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os

import stat
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable

import regex
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import utcnow, with_retry
from app.models import Ingest, Strike, Workspace
from app.services.executions import guess_media_type
from app.services.ingest import (
    DEFERRED_DIR,
    DUPLICATE_DIR,
    INGESTING_DIR,
    STALE_INGESTING,
    checksum_file,
    find_duplicate_sources,
    move_file,
    run_batch,
)
from app.services.lookups import lookup_workspaces_by_name
from app.services.workspaces import WorkspacePathError, broker_for, mount_path, mount_problem, outside_roots
from app.settings import settings
from app.specs.base import Problem, SpecError
from app.specs.strike_config import validate_strike_configuration
from app.states import INGEST

log = logging.getLogger(__name__)

# A file written in place (no transfer suffix) is taken once it has not changed for this long.
SETTLE_SECONDS = 1.0
# bytes_transferred of a TRANSFERRING file is written at most this often.
PROGRESS_INTERVAL = 1.0
# A QUEUED ingest whose task has not run after this long is sent again (a lost message).
RESEND_QUEUED_AFTER = timedelta(seconds=30)
# Files of a full pass processed together (one pair of transactions per group).
SCAN_BATCH = 500
RESERVED_DIRS = (INGESTING_DIR, DEFERRED_DIR, DUPLICATE_DIR)
IN_FLIGHT = ("TRANSFERRED", "QUEUED", "INGESTING")
FINISHED = ("DEFERRED", "INGESTED", "DUPLICATE", "ERRORED")


# ---------------------------------------------------------------- Strike records


def strike_directory(configuration: dict) -> Path:
    return mount_path(configuration["mount"])


def validate_configuration(session: Session, configuration) -> tuple[dict, list[Problem]]:
    """A normalized Strike configuration and its warnings; SpecError lists every problem."""
    config = validate_strike_configuration(configuration, lookup_workspaces_by_name=lookup_workspaces_by_name(session))
    warnings = []
    directory = strike_directory(config)
    problem = mount_problem(str(config.get("mount", "")), "Strike mount") or outside_roots(
        directory, "Strike directory"
    )
    if problem:
        raise SpecError(Problem("INVALID_PATH", f"Strike configuration: {problem}"))
    if not directory.is_dir():
        warnings.append(
            Problem(
                "MISSING_DIRECTORY",
                f"The Strike directory {directory} does not exist yet; the Strike process creates it",
            )
        )
    return config, warnings


def create_strike(
    session: Session, name: str, configuration: dict, title: str | None = None, description: str | None = None
) -> Strike:
    config, _ = validate_configuration(session, configuration)
    now = utcnow()
    strike = Strike(
        name=name,
        title=title,
        description=description,
        configuration=config,
        is_active=True,
        created=now,
        last_modified=now,
    )
    session.add(strike)
    session.flush()
    return strike


# ---------------------------------------------------------------- per-file logic


@dataclass(frozen=True)
class FileRule:
    pattern: regex.Pattern
    data_types: tuple[str, ...]
    workspace_path: str
    workspace_name: str


def compile_rules(configuration: dict) -> list[FileRule]:
    rules = []
    for rule in configuration.get("files_to_ingest", []):
        try:
            pattern = regex.compile(rule["filename_regex"])
        except (regex.error, TypeError) as exc:  # validated on save; an old row could still hold one
            log.error("Strike rule %r is not a valid regular expression, skipped: %s", rule.get("filename_regex"), exc)
            continue
        rules.append(
            FileRule(
                pattern,
                tuple(rule.get("data_types") or ()),
                (rule.get("workspace_path") or "").strip("/"),
                rule["workspace_name"],
            )
        )
    return rules


def first_matching_rule(rules: list[FileRule], file_name: str) -> FileRule | None:
    """The first rule whose regular expression matches the start of the name (as the original did).

    Each match runs under STRIKE_REGEX_TIMEOUT (the `regex` module's timeout): a rule that backtracks
    catastrophically on a name does not match it, and says so in the log, instead of pinning the process."""
    for rule in rules:
        try:
            if rule.pattern.match(file_name, timeout=settings.STRIKE_REGEX_TIMEOUT):
                return rule
        except TimeoutError:
            log.error(
                "Strike rule %r took longer than STRIKE_REGEX_TIMEOUT=%ss on %r: treated as not matching",
                rule.pattern.pattern,
                settings.STRIKE_REGEX_TIMEOUT,
                file_name,
            )
    return None


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


def _retry_in_place(ingest: Ingest, now: datetime) -> None:
    """The file that errored, still in place, is tried again: its row starts over."""
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


@dataclass(frozen=True)
class _Progress:
    """A file still being written: its row is TRANSFERRING with the bytes seen so far."""

    name: str  # the name in the directory (with the transfer suffix, if any)
    final: str  # the ingest's file name
    size: int


@dataclass(frozen=True)
class _Complete:
    """A complete file, to mark TRANSFERRED and decide about."""

    name: str
    path: Path
    size: int
    checksum: str
    rule: FileRule | None


@dataclass(frozen=True)
class _Decision:
    """What to do with a TRANSFERRED file: DUPLICATE, DEFERRED, QUEUED or ERRORED."""

    name: str
    path: Path
    rule: FileRule | None
    ingest_id: int
    outcome: str
    ref: int | None = None  # the source file (DUPLICATE) or the workspace (QUEUED)
    detail: str | None = None  # the workspace path (QUEUED) or the reason (ERRORED)
    was_errored: bool = False  # the row was ERRORED before this arrival


class StrikeProcessor:
    """The file logic of one Strike, driven by events (`handle_many`) and periodic passes (`scan`).

    Files are processed in batches, a batch of one being no different: the files are looked at, one
    transaction records every TRANSFERRING and TRANSFERRED row with its decision, the files move, and one
    transaction commits the outcomes. When a batch transaction fails, each file is tried in its own.
    """

    def __init__(
        self,
        strike_id: int,
        configuration: dict,
        *,
        settle_seconds: float = SETTLE_SECONDS,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
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
        return self.handle_many([(name, renamed)])

    def handle_many(self, events: Iterable[tuple[str, bool]]) -> list[int]:
        """Process files of the Strike directory, given as (name, renamed); returns ingest ids that became QUEUED."""
        seen: list[tuple[str, Path, os.stat_result, bool]] = []
        items: list[_Progress | _Complete] = []
        for name, renamed in events:
            item = self._guard(name, lambda n=name, r=renamed: self._examine(n, r))
            if isinstance(item, _Progress):
                items.append(item)
            elif item is not None:
                seen.append(item)
        errored = self._still_errored([s[0] for s in seen if s[0] in self._retried_errors])
        for name, path, st, trusted in seen:
            if name not in errored:  # left in place after an error; not read again on every pass
                item = self._guard(name, lambda n=name, p=path, s=st, t=trusted: self._settled(n, p, s, t))
                if item is not None:
                    items.append(item)
        progress = [i for i in items if isinstance(i, _Progress)]
        decisions = run_batch(items, self._record, self._failed)
        now_m = time.monotonic()
        for item in progress:
            self._progress_written[item.final] = now_m
        for decision in decisions:
            if decision.was_errored:
                self._retried_errors.add(
                    decision.name
                )  # retried once; a restart or a configuration change retries again
        return self._apply(decisions)

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
        for start in range(0, len(entries), SCAN_BATCH):
            queued.extend(self.handle_many((e.name, False) for e in entries[start : start + SCAN_BATCH]))
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

    # ------------------------------------------------------------ looking at the files

    def _guard(self, name: str, fn: Callable[[], object]):
        """One file's failure (an unreadable file...) is logged and never stops the batch."""
        try:
            return fn()
        except Exception:  # noqa: BLE001
            log.exception("Strike %s: processing %s failed", self.strike_id, name)
            return None

    def _examine(self, name: str, renamed: bool) -> _Progress | tuple | None:
        """A transfer in progress, (name, path, stat, trusted) for a file that may be complete, or None."""
        if not _is_candidate(name):
            return None
        path = self.directory / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            self.rechecks.pop(name, None)
            return None
        if not stat.S_ISREG(st.st_mode):
            return None  # directories (ours: ingesting/, deferred/, duplicate/) and symlinks are not ingested
        final = slice_suffix(name, self.suffix)
        if final != name:
            self._seen_with_suffix.add(final)
            return self._progress(name, final, st.st_size)
        return name, path, st, renamed or name in self._seen_with_suffix

    def _progress(self, name: str, final: str, size: int) -> _Progress | None:
        last = self._progress_written.get(final)
        if last is not None and time.monotonic() - last < PROGRESS_INTERVAL:
            # Throttled: look again once the interval passed so the last size seen is written too.
            self.rechecks.setdefault(name, last + PROGRESS_INTERVAL)
            return None
        return _Progress(name, final, size)

    def _settled(self, name: str, path: Path, st: os.stat_result, trusted: bool) -> _Progress | _Complete | None:
        """The complete file with its checksum, or a transfer in progress when it is still changing."""
        if not trusted:
            age = self.wall_clock() - st.st_mtime
            if age < self.settle_seconds:
                self.rechecks[name] = time.monotonic() + (self.settle_seconds - age) + 0.05
                return self._progress(name, name, st.st_size)
        checksum = checksum_file(path)
        after = os.lstat(path)
        if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            self.rechecks[name] = time.monotonic() + self.settle_seconds
            return None  # still being written
        self.rechecks.pop(name, None)
        self._progress_written.pop(name, None)
        self._seen_with_suffix.discard(name)
        return _Complete(name, path, st.st_size, checksum, first_matching_rule(self.rules, name))

    def _still_errored(self, names: list[str]) -> set[str]:
        if not names:
            return set()
        return with_retry(lambda s: {n for n, row in self._rows(s, names).items() if row.status == "ERRORED"})

    # ------------------------------------------------------------ recording and deciding (one transaction)

    def _record(self, session: Session, items: list[_Progress | _Complete]) -> list[_Decision]:
        """TRANSFERRING rows for files in progress; TRANSFERRED with size and checksum, and a decision, for complete ones."""
        rows = self._rows(session, [i.final if isinstance(i, _Progress) else i.name for i in items])
        now = utcnow()
        marked: list[tuple[_Complete, Ingest, bool]] = []
        for item in items:
            if isinstance(item, _Progress):
                rows[item.final] = self._transferring(session, rows.get(item.final), item, now)
                continue
            ingest = rows.get(item.name)
            previous = ingest.status if ingest is not None else None
            if previous in ("QUEUED", "INGESTING"):
                continue  # the previous file of this name is still being ingested; the rescan looks again
            if previous == "ERRORED" and item.name in self._retried_errors:
                continue
            retry = previous == "ERRORED" and ingest is not None and ingest.checksum == item.checksum
            if ingest is None or (previous in FINISHED and not retry):
                ingest = rows[item.name] = Ingest(
                    strike_id=self.strike_id,
                    file_name=item.name,
                    status="TRANSFERRED",
                    transfer_started=now,
                    created=now,
                )
                session.add(ingest)
            else:
                if retry:
                    _retry_in_place(ingest, now)
                INGEST.move(ingest, "TRANSFERRED", now)
            ingest.transfer_ended = now
            ingest.bytes_transferred = item.size
            ingest.file_size = item.size
            ingest.media_type = guess_media_type(item.name)
            ingest.checksum = item.checksum
            ingest.last_modified = now
            marked.append((item, ingest, previous == "ERRORED"))
        session.flush()
        return self._decide(
            session, [(item.path, item.rule, ingest, was_errored) for item, ingest, was_errored in marked]
        )

    def _transferring(self, session: Session, ingest: Ingest | None, item: _Progress, now: datetime) -> Ingest:
        if ingest is None or (ingest.status in FINISHED and ingest.status != "ERRORED"):
            ingest = Ingest(
                strike_id=self.strike_id,
                file_name=item.final,
                status="TRANSFERRING",
                bytes_transferred=item.size,
                transfer_started=now,
                created=now,
                last_modified=now,
            )
            session.add(ingest)
        elif ingest.status == "TRANSFERRING":
            if ingest.bytes_transferred != item.size:
                ingest.bytes_transferred = item.size
                ingest.last_modified = now
        elif ingest.status == "ERRORED" and not (self.directory / item.final).exists():
            # A new file of the name is arriving after one that failed and was taken away: a new arrival.
            return self._transferring(session, None, item, now)
        return ingest

    def _decide(self, session: Session, marked: list[tuple[Path, FileRule | None, Ingest, bool]]) -> list[_Decision]:
        """The decision for each TRANSFERRED row (path, rule, row, was errored): DUPLICATE, DEFERRED, QUEUED or ERRORED."""
        duplicates = find_duplicate_sources(session, [(i.file_name, i.checksum) for _, _, i, _ in marked if i.checksum])
        names = {rule.workspace_name for _, rule, _, _ in marked if rule is not None}
        workspaces = (
            {w.name: w for w in session.scalars(select(Workspace).where(Workspace.name.in_(names)))} if names else {}
        )
        now = utcnow()
        decisions = []
        for path, rule, ingest, was_errored in marked:
            decision = functools.partial(_Decision, ingest.file_name, path, rule, ingest.id, was_errored=was_errored)
            workspace = workspaces.get(rule.workspace_name) if rule is not None else None
            rel = workspace_file_path(rule, ingest.file_name, now) if rule is not None else None
            if (ingest.file_name, ingest.checksum) in duplicates:
                decisions.append(decision("DUPLICATE", duplicates[(ingest.file_name, ingest.checksum)]))
            elif rule is None:
                decisions.append(decision("DEFERRED"))
            elif workspace is None or not workspace.is_active:
                decisions.append(
                    decision("ERRORED", detail=f"workspace '{rule.workspace_name}' does not exist or is not active")
                )
            else:
                try:
                    broker_for(workspace.json_config).resolve(rel)
                    decisions.append(decision("QUEUED", workspace.id, rel))
                except (ValueError, KeyError, WorkspacePathError) as exc:
                    decisions.append(
                        decision("ERRORED", detail=f"cannot store '{rel}' in workspace '{workspace.name}': {exc}")
                    )
        return decisions

    def _failed(self, item: _Progress | _Complete | _Decision, exc: Exception) -> None:
        """A file whose own transaction failed: left for a later look (the rescan, or a recheck)."""
        name = item.name
        if isinstance(exc, IntegrityError):
            # Another Strike process created the row at the same moment; look again later.
            log.warning("Strike %s: ingest row for %s was created concurrently; retrying later", self.strike_id, name)
            self.rechecks[name] = time.monotonic() + self.settle_seconds
        else:
            log.error("Strike %s: processing %s failed: %s", self.strike_id, name, exc, exc_info=exc)

    # ------------------------------------------------------------ carrying out the decisions

    def _apply(self, decisions: list[_Decision]) -> list[int]:
        """The files move first, then the outcomes commit (a crash in between is repaired by `scan`)."""
        outcomes = [self._move(d) for d in decisions]
        for d in outcomes:
            if d.outcome == "ERRORED":
                self._retried_errors.add(d.name)  # the file stays: do not decide again on every pass
                log.warning("Strike %s: %s: %s", self.strike_id, d.name, d.detail)
        return run_batch(outcomes, self._commit, self._failed)

    def _move(self, decision: _Decision) -> _Decision:
        """Move the file where its outcome says; the decision with what the move changed (ERRORED when it failed)."""
        target_dir = {"DUPLICATE": DUPLICATE_DIR, "DEFERRED": DEFERRED_DIR, "QUEUED": INGESTING_DIR}.get(
            decision.outcome
        )
        if target_dir is None:
            return decision
        try:
            moved_to = move_file(decision.path, self.directory / target_dir, decision.name)
        except OSError as exc:
            return dataclasses.replace(
                decision, outcome="ERRORED", detail=f"moving the file to {target_dir}/ failed: {exc}"
            )
        return dataclasses.replace(decision, path=moved_to)

    def _commit(self, session: Session, decisions: list[_Decision]) -> list[int]:
        """Commit the outcomes of rows still TRANSFERRED; returns the ids that became QUEUED.

        Per outcome, one `compare_and_set_each`: a row another process moved meanwhile is left alone."""
        queued: list[int] = []
        now = utcnow()
        by_outcome: dict[str, list[_Decision]] = {}
        for d in decisions:
            by_outcome.setdefault(d.outcome, []).append(d)
        for outcome, group in by_outcome.items():
            rows = [{"id": d.ingest_id, **self._outcome_values(d)} for d in group]
            moved = INGEST.compare_and_set_each(session, Ingest, rows, outcome, now, sources={"TRANSFERRED"})
            if outcome == "QUEUED":
                queued += [d.ingest_id for d in group if d.ingest_id in moved]
        return queued

    @staticmethod
    def _outcome_values(d: _Decision) -> dict:
        values: dict = {}
        if d.rule is not None:
            values["data_type"] = ",".join(d.rule.data_types) or None
        if d.outcome == "DUPLICATE":
            values.update(source_file_id=d.ref, ingest_path=str(d.path))
        elif d.outcome == "QUEUED":
            values.update(workspace_id=d.ref, file_path=d.detail, ingest_path=str(d.path))
        elif d.outcome == "ERRORED":
            values["error_message"] = d.detail
        return values

    # ------------------------------------------------------------ repairs

    def _revisit_rows(self) -> list[int]:
        """Finish rows whose file moved or vanished, and send again ingests whose message was lost."""
        now = utcnow()
        resend_before = now if self._first_scan else now - RESEND_QUEUED_AFTER
        stale_before = now - STALE_INGESTING

        def load(session: Session):
            return [
                (i.file_name, i.status)
                for i in session.scalars(
                    select(Ingest).where(
                        Ingest.strike_id == self.strike_id, Ingest.status.in_(("TRANSFERRING", "TRANSFERRED"))
                    )
                )
            ]

        recovered: list[tuple[str, Path]] = []
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
                recovered.append((name, top))
                continue
            with_retry(lambda s, n=name: self._vanished(s, n))

        def decide_again(session: Session) -> list[_Decision]:
            rows = self._rows(session, [name for name, _ in recovered])
            return self._decide(
                session,
                [
                    (path, first_matching_rule(self.rules, name), rows[name], False)
                    for name, path in recovered
                    if name in rows and rows[name].status == "TRANSFERRED"
                ],
            )

        queued = self._apply(with_retry(decide_again)) if recovered else []

        def resend(session: Session) -> list[int]:
            rows = session.scalars(
                select(Ingest).where(
                    Ingest.strike_id == self.strike_id,
                    ((Ingest.status == "QUEUED") & (Ingest.last_modified <= resend_before))
                    | ((Ingest.status == "INGESTING") & (Ingest.ingest_started < stale_before)),
                )
            ).all()
            for row in rows:
                if row.status == "QUEUED":
                    row.last_modified = now  # at most one resend per interval
            return [r.id for r in rows]

        queued.extend(with_retry(resend))
        return queued

    def _vanished(self, session: Session, name: str) -> None:
        ingest = self._rows(session, [name]).get(name)
        if ingest is None or ingest.status not in ("TRANSFERRING", "TRANSFERRED"):
            return
        if (self.directory / name).exists():
            return
        INGEST.move(ingest, "ERRORED")
        ingest.error_message = "the file disappeared from the Strike directory before it was ingested"
        ingest.last_modified = utcnow()
        self._seen_with_suffix.discard(name)
        self._progress_written.pop(name, None)

    def _rows(self, session: Session, names: list[str]) -> dict[str, Ingest]:
        """The latest ingest row of each given file name in this Strike (earlier arrivals are history)."""
        if not names:
            return {}
        latest = (
            select(func.max(Ingest.id))
            .where(Ingest.strike_id == self.strike_id, Ingest.file_name.in_(set(names)))
            .group_by(Ingest.file_name)
        )
        return {i.file_name: i for i in session.scalars(select(Ingest).where(Ingest.id.in_(latest)))}


def active_strikes(session: Session) -> list[tuple[int, dict, datetime]]:
    """(id, configuration, last_modified) of every active Strike."""
    return [
        (s.id, s.configuration, s.last_modified)
        for s in session.scalars(select(Strike).where(Strike.is_active.is_(True)).order_by(Strike.id))
    ]
