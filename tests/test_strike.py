"""Strike file logic without watchdog: one event (`handle`) or one pass (`scan`) at a time, with the
ingest service called directly. Real files in a temporary directory, a real SQLite database."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db import session_scope, utcnow
from app.models import Ingest, ScaleFile, Strike, Workspace
from app.services import ingest as ingest_service
from app.services import strike as strike_service
from app.services.ingest import checksum_file
from app.services.strike import StrikeProcessor, slice_suffix
from tests import factories as f

TXT_RULE = {
    "filename_regex": r".*\.txt$",
    "data_types": ["text", "raw"],
    "workspace_path": "/incoming",
    "workspace_name": "raw",
}


# ---------------------------------------------------------------- helpers (also used by the other Strike tests)


def make_workspace(var_dir: Path, name: str = "raw", **kw):
    with session_scope() as s:
        ws = f.make_workspace(
            s,
            name=name,
            json_config={"version": "1.0", "broker": {"type": "host", "host_path": str(var_dir / "workspaces" / name)}},
            **kw,
        )
        return ws.id


def make_strike(
    name: str = "strike-1", rules: list[dict] | None = None, suffix: str = "_tmp", mount: str | None = None
) -> tuple[int, Path]:
    """A Strike row (validated like the API does); returns (id, watched directory)."""
    config = {
        "version": "1.0",
        "mount": mount or f"host:/transfer/{name}",
        "transfer_suffix": suffix,
        "files_to_ingest": rules or [dict(TXT_RULE)],
    }
    with session_scope() as s:
        strike = strike_service.create_strike(s, name, config)
        directory = strike_service.strike_directory(strike.configuration)
        directory.mkdir(parents=True, exist_ok=True)
        return strike.id, directory


def ingest_row(strike_id: int, name: str) -> Ingest | None:
    """The latest arrival of a file name."""
    rows = ingest_rows(strike_id, name)
    return rows[-1] if rows else None


def ingest_rows(strike_id: int, name: str) -> list[Ingest]:
    """Every arrival of a file name, oldest first."""
    with session_scope() as s:
        return list(
            s.scalars(select(Ingest).where(Ingest.strike_id == strike_id, Ingest.file_name == name).order_by(Ingest.id))
        )


def source_count() -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(ScaleFile).where(ScaleFile.file_type == "SOURCE"))


def workspace_root(var_dir: Path, name: str = "raw") -> Path:
    return var_dir / "workspaces" / name


def today_path(*parts: str) -> str:
    now = utcnow()
    return "/".join(["incoming", f"{now:%Y}", f"{now:%m}", f"{now:%d}", *parts])


def age(path: Path, seconds: float = 60.0) -> None:
    """Make a file look untouched for a while (a file written in place is taken once it settled)."""
    old = time.time() - seconds
    os.utime(path, (old, old))


@pytest.fixture
def raw_workspace(scale_env):
    make_workspace(scale_env)
    return workspace_root(scale_env)


# ---------------------------------------------------------------- tests


def test_suffix_is_sliced_not_stripped():
    assert slice_suffix("report_tmp", "_tmp") == "report"
    assert slice_suffix("data_tmp_tmp", "_tmp") == "data_tmp"
    assert slice_suffix("tmp_tmp", "_tmp") == "tmp"
    assert slice_suffix("_tmp", "_tmp") == "_tmp"  # nothing would be left: not a transfer name
    assert slice_suffix("report.txt", "_tmp") == "report.txt"


def test_transfer_suffix_flow_ingests_into_dated_workspace_path(scale_env, raw_workspace):
    strike_id, directory = make_strike()
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    partial = directory / "scene.txt_tmp"
    partial.write_bytes(b"first half ")

    assert processor.handle(partial.name) == []
    row = ingest_row(strike_id, "scene.txt")
    assert row.status == "TRANSFERRING"
    assert row.bytes_transferred == len(b"first half ")
    assert row.transfer_started is not None

    with open(partial, "ab") as fh:
        fh.write(b"second half")
    os.rename(partial, directory / "scene.txt")
    queued = processor.handle("scene.txt", renamed=True)

    row = ingest_row(strike_id, "scene.txt")
    assert queued == [row.id]
    assert row.status == "QUEUED"
    assert row.file_path == today_path("scene.txt")
    assert row.data_type == "text,raw"
    assert row.media_type == "text/plain"
    assert row.file_size == len(b"first half second half")
    assert Path(row.ingest_path) == directory / "ingesting" / "scene.txt"
    assert not (directory / "scene.txt").exists()

    results = ingest_service.ingest_files(queued)
    assert [r.status for r in results] == ["INGESTED"]
    row = ingest_row(strike_id, "scene.txt")
    assert row.status == "INGESTED" and row.ingest_ended is not None
    stored = raw_workspace / today_path("scene.txt")
    assert stored.read_bytes() == b"first half second half"
    assert not Path(row.ingest_path).exists()
    with session_scope() as s:
        source = s.get(ScaleFile, row.source_file_id)
        assert (source.file_type, source.file_name, source.media_type) == ("SOURCE", "scene.txt", "text/plain")
        assert source.file_size == stored.stat().st_size
        assert source.checksum == checksum_file(stored)
        assert source.data_type == "text,raw"
        assert source.file_path == today_path("scene.txt")

    # Running the ingest again (a redelivered message) changes nothing.
    assert ingest_service.ingest_files(queued) == []
    assert source_count() == 1


def test_a_batch_where_another_worker_finished_one_ingest_still_ingests_the_others_once(
    scale_env, raw_workspace, monkeypatch
):
    """Between the claim and the record another worker finished one of the batch: the batch's transaction
    rolls back and each file is tried alone, so the others are ingested and that one is left as it is."""
    strike_id, directory = make_strike()
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    for name in ("a.txt", "b.txt", "c.txt"):
        (directory / name).write_bytes(name.encode())
        age(directory / name)
    queued = processor.scan()
    assert len(queued) == 3
    stolen = ingest_row(strike_id, "b.txt").id
    move = ingest_service._move_into_workspace

    def move_then_lose_one(claim):
        if claim.ingest_id == stolen:
            with session_scope() as s:
                s.get(Ingest, stolen).status = "INGESTED"  # the other worker's ending, as the database shows it
        return move(claim)

    monkeypatch.setattr(ingest_service, "_move_into_workspace", move_then_lose_one)
    results = ingest_service.ingest_files(queued)
    assert sorted(r.ingest_id for r in results) == sorted(set(queued) - {stolen})
    assert {r.status for r in results} == {"INGESTED"}
    assert source_count() == 2
    assert ingest_row(strike_id, "b.txt").source_file_id is None  # what the other worker left stays


def test_file_named_like_the_suffix_keeps_its_real_name(scale_env, raw_workspace):
    strike_id, directory = make_strike(rules=[{**TXT_RULE, "filename_regex": "report"}])
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    (directory / "report_tmp").write_text("r")
    processor.handle("report_tmp")
    assert ingest_row(strike_id, "report").status == "TRANSFERRING"
    assert ingest_row(strike_id, "repor") is None
    os.rename(directory / "report_tmp", directory / "report")
    ids = processor.handle("report", renamed=True)
    ingest_service.ingest_files(ids)
    assert ingest_row(strike_id, "report").status == "INGESTED"


def test_unmatched_file_is_deferred(scale_env, raw_workspace):
    strike_id, directory = make_strike()
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    (directory / "image.png").write_bytes(b"png")
    age(directory / "image.png")
    assert processor.handle("image.png") == []
    row = ingest_row(strike_id, "image.png")
    assert row.status == "DEFERRED"
    assert (directory / "deferred" / "image.png").read_bytes() == b"png"
    assert not (directory / "image.png").exists()
    assert source_count() == 0


def test_regex_that_matches_nothing_defers_every_file(scale_env, raw_workspace):
    strike_id, directory = make_strike(rules=[{**TXT_RULE, "filename_regex": r"^$never"}])
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    for name in ("a.txt", "b.txt"):
        (directory / name).write_text(name)
        age(directory / name)
    assert processor.scan() == []
    assert {ingest_row(strike_id, n).status for n in ("a.txt", "b.txt")} == {"DEFERRED"}
    assert sorted(p.name for p in (directory / "deferred").iterdir()) == ["a.txt", "b.txt"]


def test_first_matching_rule_decides(scale_env, raw_workspace):
    make_workspace(scale_env, "other")
    rules = [
        {"filename_regex": r"special_.*", "data_types": ["special"], "workspace_path": "sp", "workspace_name": "other"},
        dict(TXT_RULE),
    ]
    strike_id, directory = make_strike(rules=rules)
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    for name in ("special_1.txt", "plain.txt"):
        (directory / name).write_text(name)
        age(directory / name)
    ingest_service.ingest_files(processor.scan())
    special, plain = ingest_row(strike_id, "special_1.txt"), ingest_row(strike_id, "plain.txt")
    assert (special.status, special.data_type) == ("INGESTED", "special")
    assert special.file_path.startswith("sp/") and (workspace_root(scale_env, "other") / special.file_path).exists()
    assert (plain.status, plain.data_type) == ("INGESTED", "text,raw")


def test_same_file_again_is_duplicate_and_set_aside(scale_env, raw_workspace):
    strike_id, directory = make_strike()
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    (directory / "a.txt").write_text("same content")
    age(directory / "a.txt")
    ingest_service.ingest_files(processor.scan())
    first = ingest_row(strike_id, "a.txt")
    assert first.status == "INGESTED"

    # The same file arrives again in the same Strike, and in another Strike.
    (directory / "a.txt").write_text("same content")
    age(directory / "a.txt")
    other_id, other_dir = make_strike("strike-2")
    (other_dir / "a.txt").write_text("same content")
    age(other_dir / "a.txt")
    assert processor.scan() == []
    assert StrikeProcessor(other_id, ingest_config(other_id)).scan() == []

    again, other = ingest_row(strike_id, "a.txt"), ingest_row(other_id, "a.txt")
    assert again.status == "DUPLICATE" and again.source_file_id == first.source_file_id
    # the duplicate is a row of its own: the original keeps its status and times
    original, duplicate = ingest_rows(strike_id, "a.txt")
    assert duplicate.id == again.id and original.id == first.id
    assert (original.status, original.ingest_started, original.ingest_ended, original.file_path) == (
        "INGESTED",
        first.ingest_started,
        first.ingest_ended,
        first.file_path,
    )
    with session_scope() as s:
        hours = ingest_service.ingest_status(s, first.ingest_ended - timedelta(hours=1), utcnow(), True)
    assert next(h for h in hours if h.strike.id == strike_id).files == 1  # the ingested file, counted once
    assert other.status == "DUPLICATE" and other.source_file_id == first.source_file_id
    assert (directory / "duplicate" / "a.txt").read_text() == "same content"
    assert (other_dir / "duplicate" / "a.txt").read_text() == "same content"
    assert source_count() == 1


def test_same_name_with_other_content_is_not_a_duplicate(scale_env, raw_workspace):
    strike_id, directory = make_strike()
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    (directory / "a.txt").write_text("version 1")
    age(directory / "a.txt")
    ingest_service.ingest_files(processor.scan())
    (directory / "a.txt").write_text("version 2")
    age(directory / "a.txt")
    ingest_service.ingest_files(processor.scan())

    assert ingest_row(strike_id, "a.txt").status == "INGESTED"
    with session_scope() as s:
        sources = s.scalars(select(ScaleFile).where(ScaleFile.file_name == "a.txt").order_by(ScaleFile.id)).all()
        contents = [(raw_workspace / src.file_path).read_text() for src in sources]
    assert contents == ["version 1", "version 2"]  # the first file was not overwritten


def test_file_still_being_written_is_not_ingested_until_it_settles(scale_env, raw_workspace):
    strike_id, directory = make_strike()
    processor = StrikeProcessor(strike_id, ingest_config(strike_id), settle_seconds=0.4)
    path = directory / "growing.txt"
    with open(path, "wb") as fh:
        fh.write(b"x" * 1000)
        fh.flush()
        assert processor.handle("growing.txt") == []
        assert ingest_row(strike_id, "growing.txt").status == "TRANSFERRING"
        assert processor.rechecks  # it will be looked at again
        time.sleep(0.2)
        fh.write(b"y" * 1000)
        fh.flush()
        assert processor.handle("growing.txt") == []
        assert ingest_row(strike_id, "growing.txt").status == "TRANSFERRING"
    time.sleep(0.5)
    assert processor.due_rechecks() == ["growing.txt"]
    ids = processor.handle("growing.txt")
    assert len(ids) == 1
    ingest_service.ingest_files(ids)
    row = ingest_row(strike_id, "growing.txt")
    assert row.status == "INGESTED" and row.file_size == 2000
    assert (raw_workspace / row.file_path).read_bytes() == b"x" * 1000 + b"y" * 1000


def test_names_with_spaces_and_unicode(scale_env, raw_workspace):
    strike_id, directory = make_strike()
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    name = "relevé de données 東京 #1.txt"
    (directory / f"{name}_tmp").write_text("unicode")
    processor.handle(f"{name}_tmp")
    os.rename(directory / f"{name}_tmp", directory / name)
    ingest_service.ingest_files(processor.handle(name, renamed=True))
    row = ingest_row(strike_id, name)
    assert row.status == "INGESTED"
    assert (raw_workspace / today_path(name)).read_text() == "unicode"


def test_hidden_files_symlinks_directories_and_undecodable_names_are_left_alone(scale_env, raw_workspace, tmp_path):
    strike_id, directory = make_strike()
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    (directory / ".partial.txt").write_text("rsync temporary")
    outside = tmp_path / "secret.txt"
    outside.write_text("outside the Strike directory")
    os.symlink(outside, directory / "link.txt")
    (directory / "folder.txt").mkdir()
    with open(os.path.join(os.fsencode(directory), b"not-utf8-\xff.txt"), "wb") as fh:
        fh.write(b"undecodable name")
    for p in (directory / ".partial.txt", outside):
        age(p)
    assert processor.scan() == []
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Ingest)) == 0
    assert outside.read_text() == "outside the Strike directory"


def test_vanished_transfer_is_errored(scale_env, raw_workspace):
    strike_id, directory = make_strike()
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    (directory / "gone.txt_tmp").write_text("partial")
    processor.handle("gone.txt_tmp")
    (directory / "gone.txt_tmp").unlink()
    processor.scan()
    row = ingest_row(strike_id, "gone.txt")
    assert row.status == "ERRORED" and "disappeared" in row.error_message


def test_inactive_workspace_errors_and_a_new_processor_retries(scale_env):
    ws_id = make_workspace(scale_env)
    strike_id, directory = make_strike()
    with session_scope() as s:
        s.get(Workspace, ws_id).is_active = False  # archived after the Strike was configured
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    (directory / "a.txt").write_text("a")
    age(directory / "a.txt")
    assert processor.scan() == []
    row = ingest_row(strike_id, "a.txt")
    assert row.status == "ERRORED" and "'raw'" in row.error_message
    assert (directory / "a.txt").exists()  # left in place for a retry
    assert processor.scan() == []  # not retried on every pass

    with session_scope() as s:
        s.get(Workspace, ws_id).is_active = True
    restarted = StrikeProcessor(strike_id, ingest_config(strike_id))
    ids = restarted.scan()
    ingest_service.ingest_files(ids)
    assert ingest_row(strike_id, "a.txt").status == "INGESTED"


def test_restart_sends_queued_again_and_never_ingests_twice(scale_env, raw_workspace):
    strike_id, directory = make_strike()
    first = StrikeProcessor(strike_id, ingest_config(strike_id))
    for name in ("a.txt", "b.txt"):
        (directory / name).write_text(name)
        age(directory / name)
    queued = first.scan()
    assert len(queued) == 2  # ...and the process dies before the ingest messages are handled

    restarted = StrikeProcessor(strike_id, ingest_config(strike_id))
    again = restarted.scan()
    assert sorted(again) == sorted(queued)
    ingest_service.ingest_files(again)
    ingest_service.ingest_files(queued)  # the lost messages show up after all
    assert source_count() == 2
    assert StrikeProcessor(strike_id, ingest_config(strike_id)).scan() == []
    assert source_count() == 2


@pytest.mark.parametrize(
    "name, parked_in, expected", [("a.txt", "ingesting", "INGESTED"), ("a.png", "deferred", "DEFERRED")]
)
def test_crash_between_move_and_commit_is_repaired_by_the_scan(scale_env, raw_workspace, name, parked_in, expected):
    strike_id, directory = make_strike()
    (directory / name).write_text("a")
    age(directory / name)
    # Simulate: marked TRANSFERRED and moved out of the directory, then the process died before the commit.
    (directory / parked_in).mkdir()
    with session_scope() as s:
        s.add(
            Ingest(
                strike_id=strike_id,
                file_name=name,
                status="TRANSFERRED",
                checksum=checksum_file(directory / name),
                file_size=1,
                transfer_started=utcnow(),
            )
        )
    os.replace(directory / name, directory / parked_in / name)

    ingest_service.ingest_files(StrikeProcessor(strike_id, ingest_config(strike_id)).scan())
    assert ingest_row(strike_id, name).status == expected
    assert source_count() == (1 if expected == "INGESTED" else 0)


def ingest_config(strike_id: int) -> dict:
    with session_scope() as s:
        return s.get(Strike, strike_id).configuration


# ---------------------------------------------------------------- batches


def count_transactions(monkeypatch) -> list[int]:
    """Counts the transactions (`with_retry` calls) the Strike and ingest services open."""
    calls = [0]
    real = strike_service.with_retry

    def counting(fn, *args, **kwargs):
        calls[0] += 1
        return real(fn, *args, **kwargs)

    monkeypatch.setattr(strike_service, "with_retry", counting)
    monkeypatch.setattr(ingest_service, "with_retry", counting)
    return calls


def test_many_files_share_their_transactions(scale_env, raw_workspace, monkeypatch):
    strike_id, directory = make_strike()
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    names = [f"f{i:02d}.txt" for i in range(20)] + ["other.png"]
    for name in names:
        (directory / f"{name}_tmp").write_text(name)
    calls = count_transactions(monkeypatch)
    assert processor.handle_many([(f"{n}_tmp", False) for n in names]) == []
    assert calls[0] == 1  # every TRANSFERRING row in one transaction
    for name in names:
        os.rename(directory / f"{name}_tmp", directory / name)

    calls[0] = 0
    queued = processor.handle_many([(n, True) for n in names])
    assert len(queued) == 20 and calls[0] == 2  # decide every file, then commit every outcome
    assert ingest_row(strike_id, "other.png").status == "DEFERRED"

    calls[0] = 0
    results = ingest_service.ingest_files(queued)
    assert [r.status for r in results] == ["INGESTED"] * 20 and calls[0] == 2  # claim, then record
    assert source_count() == 20


def test_one_bad_file_never_fails_its_batch(scale_env, raw_workspace, monkeypatch):
    strike_id, directory = make_strike()
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    names = ["a.txt", "bad.txt", "c.txt"]
    for name in names:
        (directory / name).write_text(name)
    real_media_type = strike_service.guess_media_type

    def broken_for_one(name):
        if name == "bad.txt":
            raise RuntimeError("broken")
        return real_media_type(name)

    # Deciding: the batch transaction fails, each file is then tried alone; the bad one is left for a later pass.
    monkeypatch.setattr(strike_service, "guess_media_type", broken_for_one)
    queued = processor.handle_many([(n, True) for n in names])
    assert len(queued) == 2
    assert ingest_row(strike_id, "bad.txt") is None and (directory / "bad.txt").exists()
    monkeypatch.undo()
    queued += processor.handle("bad.txt", renamed=True)
    assert len(queued) == 3

    # Recording: one file fails alone and is ERRORED, the others are INGESTED.
    real_uuid = ingest_service.source_uuid
    monkeypatch.setattr(
        ingest_service, "source_uuid", lambda name, checksum: 1 / 0 if name == "bad.txt" else real_uuid(name, checksum)
    )
    results = {r.ingest_id: r.status for r in ingest_service.ingest_files(queued)}
    assert sorted(results.values()) == ["ERRORED", "INGESTED", "INGESTED"]
    row = ingest_row(strike_id, "bad.txt")
    assert row.status == "ERRORED" and "recording the source file failed" in row.error_message
    assert source_count() == 2


def test_a_backtracking_rule_times_out_and_the_next_rule_still_ingests(scale_env, raw_workspace, caplog):
    # (a|aa)+$ against 'aaa...a!' backtracks exponentially: without a time limit this scan would not end
    rules = [
        {"filename_regex": r"(a|aa)+$", "data_types": ["slow"], "workspace_path": "slow", "workspace_name": "raw"},
        dict(TXT_RULE),
    ]
    strike_id, directory = make_strike(rules=rules)
    processor = StrikeProcessor(strike_id, ingest_config(strike_id))
    name = "a" * 40 + "!.txt"
    (directory / name).write_text("x")
    age(directory / name)
    with caplog.at_level("ERROR"):
        ingest_service.ingest_files(processor.scan())
    row = ingest_row(strike_id, name)
    assert row.status == "INGESTED" and row.data_type != "slow"
    assert "STRIKE_REGEX_TIMEOUT" in caplog.text and "(a|aa)+$" in caplog.text
