"""Ingesting a QUEUED file: move it into its workspace, record the SOURCE file, fire ingest triggers.

`ingest_file(ingest_id)` is idempotent and safe to run concurrently for the same id: a compare-and-set
claims the row (QUEUED -> INGESTING) in its own short transaction, the file is moved outside any
transaction (a large copy must not hold the database), and the result is recorded in a last
transaction together with the ingest triggers, so the rules fire exactly once per ingest.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from sqlalchemy import func, or_, select, type_coerce
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.db import utcnow, with_retry
from app.models import Ingest, ScaleFile, Strike, UTCDateTime, Workspace
from app.services import triggers
from app.services.executions import guess_media_type
from app.services.workspaces import WorkspacePathError, broker_for, mount_path
from app.states import INGEST

log = logging.getLogger(__name__)

# An INGESTING row older than this lost its worker (killed mid-move): it may be claimed again.
STALE_INGESTING = timedelta(minutes=10)
CHECKSUM_CHUNK = 1024 * 1024
INGESTING_DIR = "ingesting"
DEFERRED_DIR = "deferred"
DUPLICATE_DIR = "duplicate"

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class IngestResult:
    ingest_id: int
    status: str
    source_file_id: int | None = None
    job_ids: tuple[int, ...] = ()
    recipe_ids: tuple[int, ...] = ()


def checksum_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHECKSUM_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def find_duplicate_sources(session: Session, files: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """For each (file name, checksum) that an existing, not deleted SOURCE file has: that file's id (the oldest one)."""
    files = set(files)
    if not files:
        return {}
    rows = session.execute(
        select(ScaleFile.id, ScaleFile.file_name, ScaleFile.checksum)
        .where(
            ScaleFile.file_type == "SOURCE",
            ScaleFile.file_name.in_({n for n, _ in files}),
            ScaleFile.checksum.in_({c for _, c in files}),
            ScaleFile.is_deleted.is_(False),
        )
        .order_by(ScaleFile.id)
    )
    found: dict[tuple[str, str], int] = {}
    for row in rows:
        if (row.file_name, row.checksum) in files:
            found.setdefault((row.file_name, row.checksum), row.id)
    return found


def run_batch(
    items: list[T], work: Callable[[Session, list[T]], list[R]], on_error: Callable[[T, Exception], None]
) -> list[R]:
    """`work(session, items)` in one transaction; when that fails, each item in its own, so one bad item never
    loses the others (`on_error(item, exc)` is told about each item that fails alone). A batch of one is simply
    tried alone. The database itself failing (OperationalError, after the retries) is raised to the caller."""
    if len(items) > 1:
        try:
            return with_retry(lambda s: work(s, items))
        except OperationalError:
            raise
        except Exception as exc:  # noqa: BLE001 - found below, item by item
            log.warning("a batch of %d failed (%s); trying each alone", len(items), exc)
    results: list[R] = []
    for item in items:
        try:
            results.extend(with_retry(lambda s, one=[item]: work(s, one)))
        except OperationalError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad item never stops the others
            on_error(item, exc)
    return results


def unique_target(directory: Path, name: str) -> Path:
    """`directory/name`, or `directory/name.N` when a different file already has that name (never overwrite)."""
    target = directory / name
    n = 1
    while target.exists():
        target = directory / f"{name}.{n}"
        n += 1
    return target


def source_uuid(file_name: str, checksum: str) -> str:
    return hashlib.md5(f"{file_name}:{checksum}".encode()).hexdigest()


# ---------------------------------------------------------------- the three steps


@dataclass(frozen=True)
class _Claim:
    ingest_id: int
    strike_id: int | None
    file_name: str
    ingest_path: str
    file_path: str
    checksum: str | None
    media_type: str | None
    data_type: str | None
    workspace_id: int | None
    workspace_config: dict
    strike_mount: str | None
    duplicate_of: int | None = None


def _claim_all(session: Session, ingest_ids: list[int], now: datetime) -> list[_Claim]:
    """QUEUED (or abandoned INGESTING) -> INGESTING in one statement; files whose content is already stored -> DUPLICATE."""
    stale = now - STALE_INGESTING
    rows = INGEST.compare_and_set(
        session,
        Ingest,
        [Ingest.id.in_(ingest_ids), or_(Ingest.status == "QUEUED", Ingest.ingest_started < stale)],
        "INGESTING",
        now,
        sources={"QUEUED", "INGESTING"},
        synchronize=False,
        ingest_started=now,
        error_message=None,
        returning=(
            Ingest.id,
            Ingest.strike_id,
            Ingest.file_name,
            Ingest.ingest_path,
            Ingest.file_path,
            Ingest.checksum,
            Ingest.media_type,
            Ingest.data_type,
            Ingest.workspace_id,
        ),
    ).all()
    if not rows:
        return []
    workspace_ids = {r.workspace_id for r in rows if r.workspace_id is not None}
    configs = (
        dict(session.execute(select(Workspace.id, Workspace.json_config).where(Workspace.id.in_(workspace_ids))).all())
        if workspace_ids
        else {}
    )
    strike_ids = {r.strike_id for r in rows if r.strike_id is not None}
    mounts = (
        {
            s.id: (s.configuration or {}).get("mount")
            for s in session.scalars(select(Strike).where(Strike.id.in_(strike_ids)))
        }
        if strike_ids
        else {}
    )
    # Another Strike may have ingested the same file since this one was queued.
    duplicates = find_duplicate_sources(session, [(r.file_name, r.checksum) for r in rows if r.checksum])
    claims = []
    for row in sorted(rows, key=lambda r: r.id):
        dup = duplicates.get((row.file_name, row.checksum))
        if dup is not None:
            _finish(session, row.id, "DUPLICATE", None, dup)
        claims.append(
            _Claim(
                ingest_id=row.id,
                strike_id=row.strike_id,
                file_name=row.file_name,
                ingest_path=row.ingest_path or "",
                file_path=row.file_path or "",
                checksum=row.checksum,
                media_type=row.media_type,
                data_type=row.data_type,
                workspace_id=row.workspace_id,
                workspace_config=configs.get(row.workspace_id) or {},
                strike_mount=mounts.get(row.strike_id),
                duplicate_of=dup,
            )
        )
    return claims


def _finish(
    session: Session, ingest_id: int, status: str, error: str | None = None, source_file_id: int | None = None
) -> None:
    now = utcnow()
    values = {"error_message": error, "ingest_ended": now}
    if source_file_id is not None:
        values["source_file_id"] = source_file_id
    INGEST.compare_and_set(session, Ingest, [Ingest.id == ingest_id], status, now, sources={"INGESTING"}, **values)


def _conflict_path(file_path: str, checksum: str | None) -> str:
    """Where a file goes when a different file already has its path: a subdirectory named after its checksum."""
    directory, name = posixpath.split(file_path)
    return posixpath.join(directory, (checksum or "conflict")[:12], name)


def _move_into_workspace(claim: _Claim) -> tuple[str | None, str]:
    """Move the file from `ingesting/` into its workspace. Returns (error message or None, workspace path).

    Never overwrites: when a different file already has the path (same name sent again the same day with
    other content), the file is stored one directory deeper, named after its checksum.
    """
    rel = claim.file_path
    try:
        broker = broker_for(claim.workspace_config)
        dest = broker.resolve(rel)
        if dest.exists() and not (claim.checksum and checksum_file(dest) == claim.checksum):
            rel = _conflict_path(rel, claim.checksum)
            dest = broker.resolve(rel)
    except (ValueError, KeyError, WorkspacePathError) as exc:
        return f"cannot store into the workspace: {exc}", rel
    except OSError as exc:
        return f"cannot read the workspace: {exc}", rel
    src = Path(claim.ingest_path) if claim.ingest_path else None
    try:
        if dest.exists() and claim.checksum and checksum_file(dest) == claim.checksum:
            if src is not None and src.exists():
                src.unlink()  # an earlier attempt stored it but did not remove the original
            return None, rel
        if src is not None and src.exists():
            if dest.exists():
                return f"a different file is already stored at '{rel}' in the workspace", rel
            broker.store(src, rel, move=True)
            return None, rel
        return f"the file to ingest is missing ({claim.ingest_path})", rel
    except OSError as exc:
        return f"moving the file into the workspace failed: {exc}", rel


def _set_aside_duplicate(claim: _Claim) -> None:
    """Move a duplicate from `ingesting/` to the Strike's `duplicate/` directory (best effort)."""
    src = Path(claim.ingest_path) if claim.ingest_path else None
    if src is None or not src.exists():
        return
    directory = (
        mount_path(claim.strike_mount) / DUPLICATE_DIR if claim.strike_mount else src.parent.parent / DUPLICATE_DIR
    )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        os.replace(src, unique_target(directory, claim.file_name))
    except OSError as exc:
        log.warning("ingest %s: could not move duplicate %s aside: %s", claim.ingest_id, src, exc)


class _AlreadyDone(Exception):
    """Another worker finished one of the batch's ingests meanwhile."""


def _record_all(session: Session, items: list[tuple[_Claim, str]]) -> list[IngestResult]:
    """The SOURCE files, INGESTED, and the ingest triggers, in the caller's transaction: the rules fire exactly once."""
    now = utcnow()
    sources = []
    for claim, rel in items:
        dest = broker_for(claim.workspace_config).resolve(rel)
        checksum = claim.checksum or checksum_file(dest)
        sources.append(
            ScaleFile(
                file_type="SOURCE",
                file_name=claim.file_name,
                media_type=claim.media_type or guess_media_type(claim.file_name),
                file_size=dest.stat().st_size,
                data_type=claim.data_type,
                file_path=rel,
                workspace_id=claim.workspace_id,
                checksum=checksum,
                uuid=source_uuid(claim.file_name, checksum),
                created=now,
                last_modified=now,
            )
        )
    session.add_all(sources)
    session.flush()
    rows = [
        {"id": claim.ingest_id, "file_path": rel, "source_file_id": source.id, "file_size": source.file_size}
        for (claim, rel), source in zip(items, sources)
    ]
    moved = INGEST.compare_and_set_each(session, Ingest, rows, "INGESTED", now, ingest_ended=now)
    if len(moved) != len(rows):  # one was finished elsewhere: run_batch tries each alone to find it
        raise _AlreadyDone()
    fired = triggers.RuleSet(session, "INGEST").fire_many(
        session,
        [
            (source, triggers.ingest_description(source, claim.ingest_id, claim.strike_id))
            for (claim, _), source in zip(items, sources)
        ],
    )
    return [
        IngestResult(claim.ingest_id, "INGESTED", source.id, tuple(f.job_ids), tuple(f.recipe_ids))
        for (claim, _), source, f in zip(items, sources, fired)
    ]


def ingest_files(ingest_ids: Iterable[int]) -> list[IngestResult]:
    """Ingest QUEUED files: move them into their workspaces, record their SOURCE files, fire the ingest triggers.

    Idempotent and safe to run concurrently for the same ids: rows that are not claimable (already done or
    being done) are skipped. A batch shares its transactions: one to claim, one to record (each file in its
    own when the batch's fails), one to record the errors.
    """
    ids = sorted(set(ingest_ids))
    if not ids:
        return []
    now = utcnow()
    claims = with_retry(lambda s: _claim_all(s, ids, now))
    results: list[IngestResult] = []
    errors: list[tuple[_Claim, str]] = []
    to_record: list[tuple[_Claim, str]] = []
    for claim in claims:
        if claim.duplicate_of is not None:
            _set_aside_duplicate(claim)
            results.append(IngestResult(claim.ingest_id, "DUPLICATE", claim.duplicate_of))
            continue
        error, rel = _move_into_workspace(claim)
        if error is not None:
            log.warning("ingest %s (%s) failed: %s", claim.ingest_id, claim.file_name, error)
            errors.append((claim, error))
        else:
            to_record.append((claim, rel))

    def failed(item: tuple[_Claim, str], exc: Exception) -> None:
        claim = item[0]
        if not isinstance(exc, _AlreadyDone):
            log.error(
                "ingest %s (%s): recording the source file failed: %s",
                claim.ingest_id,
                claim.file_name,
                exc,
                exc_info=exc,
            )
            errors.append((claim, f"recording the source file failed: {exc}"))

    results.extend(run_batch(to_record, _record_all, failed))
    if errors:
        with_retry(lambda s: [_finish(s, c.ingest_id, "ERRORED", reason) for c, reason in errors])
        results.extend(IngestResult(c.ingest_id, "ERRORED") for c, _ in errors)
    return sorted(results, key=lambda r: r.ingest_id)


def stalled_ingest_ids(session: Session, older_than: timedelta, limit: int = 1000) -> list[int]:
    """QUEUED ingests whose message seems lost, and INGESTING ones abandoned by a dead worker (for the reconcile)."""
    cutoff = utcnow() - older_than
    return list(
        session.scalars(
            select(Ingest.id)
            .where(
                or_(
                    (Ingest.status == "QUEUED") & (Ingest.last_modified < cutoff),
                    (Ingest.status == "INGESTING") & (Ingest.ingest_started < utcnow() - STALE_INGESTING),
                )
            )
            .order_by(Ingest.id)
            .limit(limit)
        )
    )


def ingest_file(ingest_id: int) -> IngestResult | None:
    """Ingest one QUEUED file. Returns None when the row was not claimable (already done or in progress)."""
    results = ingest_files([ingest_id])
    return results[0] if results else None


def move_file(src: Path, directory: Path, name: str) -> Path:
    """Move a file into a Strike subdirectory without overwriting anything there.

    Hard link then unlink rather than rename: a rename out of a watched directory reaches watchdog as an
    unpaired IN_MOVED_FROM, which it holds for 0.5 s at the head of its queue, delaying every later event.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    if target.exists() and os.path.samefile(src, target):
        os.unlink(src)  # an interrupted earlier move had linked it already
        return target
    target = unique_target(directory, name)
    try:
        os.link(src, target)
    except OSError:  # a filesystem without hard links
        os.replace(src, target)
        return target
    os.unlink(src)
    return target


# ---------------------------------------------------------------- ingest status (hourly counts per Strike)


@dataclass
class StrikeIngestStatus:
    strike: Strike
    most_recent: datetime | None
    files: int
    size: int
    values: list[tuple[datetime, int, int]]  # (hour, files, bytes), every hour of the range


def _hour_bucket(session: Session, column):
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00", column)
    return func.date_trunc("hour", column)


def _as_hour(value) -> datetime:
    if isinstance(value, str):
        value = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def ingest_status(
    session: Session, started: datetime, ended: datetime, use_ingest_time: bool = False
) -> list[StrikeIngestStatus]:
    """INGESTED files per Strike in 1-hour slots, by ingest time or by data time.

    Data time is the source file's data_started; a file whose data time is unknown counts at its ingest time.
    """
    if use_ingest_time:
        when = Ingest.ingest_ended
    else:
        when = type_coerce(func.coalesce(ScaleFile.data_started, Ingest.ingest_ended), UTCDateTime)
    hour = _hour_bucket(session, when)
    rows = session.execute(
        select(
            Ingest.strike_id,
            hour.label("hour"),
            func.count(Ingest.id),
            func.coalesce(func.sum(Ingest.file_size), 0),
            func.max(Ingest.ingest_ended),
        )
        .select_from(Ingest)
        .outerjoin(ScaleFile, ScaleFile.id == Ingest.source_file_id)
        .where(Ingest.status == "INGESTED", Ingest.strike_id.is_not(None), when >= started, when <= ended)
        .group_by(Ingest.strike_id, hour)
    ).all()
    by_strike: dict[int, dict[datetime, tuple[int, int]]] = {}
    latest: dict[int, datetime] = {}
    for strike_id, bucket, count, size, last in rows:
        by_strike.setdefault(strike_id, {})[_as_hour(bucket)] = (int(count), int(size))
        if last is not None and (strike_id not in latest or last > latest[strike_id]):
            latest[strike_id] = last
    first_hour = started.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    hours = []
    slot = first_hour
    while slot <= ended:
        hours.append(slot)
        slot += timedelta(hours=1)
    statuses = []
    for strike in session.scalars(select(Strike).order_by(Strike.name, Strike.id)):
        counts = by_strike.get(strike.id, {})
        values = [(h, *counts.get(h, (0, 0))) for h in hours]
        statuses.append(
            StrikeIngestStatus(
                strike,
                latest.get(strike.id),
                sum(c for c, _ in counts.values()),
                sum(s for _, s in counts.values()),
                values,
            )
        )
    return statuses
