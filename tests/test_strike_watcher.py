"""The Strike process with real watchdog observers on temporary directories, run in a thread of the test.

The ingest service is called directly (no Celery) so the tests are about the watcher. Rescans are set
far apart where a test must prove that watchdog events alone drive the ingest."""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from app.db import session_scope
from app.models import Ingest, ScaleFile, Strike
from app.services import ingest as ingest_service
from tests.test_strike import ingest_row, make_strike, make_workspace, source_count, today_path, workspace_root
from workers.strike import StrikeWatcher

pytestmark = pytest.mark.timeout(60)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def status_of(strike_id: int, name: str) -> str | None:
    row = ingest_row(strike_id, name)
    return row.status if row is not None else None


@contextmanager
def running_watcher(submit=ingest_service.ingest_files, rescan_interval: float = 60.0, settle_seconds: float = 0.3):
    watcher = StrikeWatcher(
        submit=submit, poll_interval=0.2, rescan_interval=rescan_interval, settle_seconds=settle_seconds
    )
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        assert watcher.ready.wait(10), "the watcher did not start"
        yield watcher
    finally:
        watcher.stop()
        thread.join(15)
        assert not thread.is_alive()


@pytest.fixture
def raw_workspace(scale_env):
    make_workspace(scale_env)
    return workspace_root(scale_env)


def test_events_drive_transfer_rename_and_deferral(scale_env, raw_workspace):
    strike_id, directory = make_strike()
    with running_watcher(rescan_interval=60.0):
        partial = directory / "scene.txt_tmp"
        with open(partial, "wb") as fh:
            fh.write(b"a" * 4096)
        wait_for(lambda: status_of(strike_id, "scene.txt") == "TRANSFERRING")
        # Progress writes are throttled, but the last size seen is always written.
        wait_for(lambda: ingest_row(strike_id, "scene.txt").bytes_transferred == 4096, timeout=3)
        assert status_of(strike_id, "scene.txt") == "TRANSFERRING"
        os.rename(partial, directory / "scene.txt")
        wait_for(lambda: status_of(strike_id, "scene.txt") == "INGESTED")
        assert (raw_workspace / today_path("scene.txt")).read_bytes() == b"a" * 4096

        (directory / "picture.png").write_bytes(b"png")
        wait_for(lambda: status_of(strike_id, "picture.png") == "DEFERRED")
        assert (directory / "deferred" / "picture.png").exists()

        name = "données brutes 北京.txt"
        (directory / f"{name}_tmp").write_text("unicode")
        os.rename(directory / f"{name}_tmp", directory / name)
        wait_for(lambda: status_of(strike_id, name) == "INGESTED")
        assert (raw_workspace / today_path(name)).read_text() == "unicode"


def test_duplicate_sent_twice_is_set_aside(scale_env, raw_workspace):
    strike_id, directory = make_strike()
    with running_watcher():
        for _ in range(2):
            (directory / "a.txt_tmp").write_text("same")
            os.rename(directory / "a.txt_tmp", directory / "a.txt")
            wait_for(
                lambda: (
                    not (directory / "a.txt").exists() and status_of(strike_id, "a.txt") in ("INGESTED", "DUPLICATE")
                )
            )
        wait_for(lambda: (directory / "duplicate" / "a.txt").exists())
    assert status_of(strike_id, "a.txt") == "DUPLICATE"
    assert source_count() == 1


def test_file_being_written_in_place_is_ingested_whole(scale_env, raw_workspace):
    strike_id, directory = make_strike()
    with running_watcher(settle_seconds=0.5):
        path = directory / "slow.txt"
        with open(path, "wb") as fh:
            for _ in range(10):
                fh.write(b"z" * 1000)
                fh.flush()
                time.sleep(0.15)
                assert status_of(strike_id, "slow.txt") in (None, "TRANSFERRING")
        wait_for(lambda: status_of(strike_id, "slow.txt") == "INGESTED")
    row = ingest_row(strike_id, "slow.txt")
    assert row.file_size == 10_000
    assert (raw_workspace / row.file_path).read_bytes() == b"z" * 10_000


def test_files_present_at_start_and_restarts_never_ingest_twice(scale_env, raw_workspace):
    strike_id, directory = make_strike()
    names = [f"file-{i}.txt" for i in range(5)]
    for name in names:
        (directory / name).write_text(name)
        old = time.time() - 60
        os.utime(directory / name, (old, old))

    lost = []
    with running_watcher(submit=lost.extend):  # the ingest messages are lost (the process dies)
        wait_for(lambda: {status_of(strike_id, n) for n in names} == {"QUEUED"})
    assert sorted(lost) and source_count() == 0

    with running_watcher():  # restarted: the QUEUED ingests are sent again
        wait_for(lambda: {status_of(strike_id, n) for n in names} == {"INGESTED"})
    ingest_service.ingest_files(lost)  # the old messages finally arrive: nothing happens
    with running_watcher():
        time.sleep(1.0)
    assert source_count() == 5
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Ingest)) == 5


def test_missed_events_are_caught_by_the_rescan(scale_env, raw_workspace):
    strike_id, directory = make_strike()
    with running_watcher(rescan_interval=0.5) as watcher:
        watcher.observer.unschedule_all()  # no more events: only the periodic rescan sees files
        (directory / "late.txt").write_text("late")
        wait_for(lambda: status_of(strike_id, "late.txt") == "INGESTED")


def test_new_strikes_and_edits_apply_without_restart(scale_env, raw_workspace):
    with running_watcher() as watcher:
        strike_id, directory = make_strike("added-later")
        wait_for(lambda: strike_id in watcher.watched)  # the next poll of the strike table starts watching it
        (directory / "a.txt_tmp").write_text("a")
        os.rename(directory / "a.txt_tmp", directory / "a.txt")
        wait_for(lambda: status_of(strike_id, "a.txt") == "INGESTED")

        with session_scope() as s:
            strike = s.get(Strike, strike_id)
            config = dict(strike.configuration)
            config["files_to_ingest"] = [{**config["files_to_ingest"][0], "filename_regex": r".*\.bin$"}]
            strike.configuration = config
        wait_for(
            lambda: (
                strike_id in watcher.watched
                and watcher.watched[strike_id].processor.rules[0].pattern.pattern == r".*\.bin$"
            )
        )
        (directory / "b.bin_tmp").write_text("b")
        os.rename(directory / "b.bin_tmp", directory / "b.bin")
        wait_for(lambda: status_of(strike_id, "b.bin") == "INGESTED")

        with session_scope() as s:
            s.get(Strike, strike_id).is_active = False
        wait_for(lambda: strike_id not in watcher.watched)
        (directory / "c.bin_tmp").write_text("c")
        os.rename(directory / "c.bin_tmp", directory / "c.bin")
        time.sleep(1.0)
        assert (directory / "c.bin").exists()
        assert status_of(strike_id, "c.bin") is None


def test_two_strikes_are_watched_independently(scale_env, raw_workspace):
    first_id, first_dir = make_strike("first")
    second_id, second_dir = make_strike("second", suffix=".part")
    with running_watcher():
        (first_dir / "one.txt_tmp").write_text("1")
        os.rename(first_dir / "one.txt_tmp", first_dir / "one.txt")
        (second_dir / "two.txt.part").write_text("2")
        os.rename(second_dir / "two.txt.part", second_dir / "two.txt")
        wait_for(lambda: status_of(first_id, "one.txt") == "INGESTED" and status_of(second_id, "two.txt") == "INGESTED")
    with session_scope() as s:
        names = sorted(s.scalars(select(ScaleFile.file_name)))
    assert names == ["one.txt", "two.txt"]
