"""The local cluster's two task wrappers (task_wrapper.py and the C one `make` builds) keep one protocol:
the ready pipe says whether the command started, the exit status file says how it ended, and the
wrapper ends as the command did."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from workers.local_cluster.checkpoint import NATIVE_WRAPPER, WRAPPER


def python_wrapper() -> list[str]:
    return [sys.executable, "-I", "-S", str(WRAPPER)]


def native_wrapper() -> list[str]:
    if not os.access(NATIVE_WRAPPER, os.X_OK):
        pytest.skip(f"needs {NATIVE_WRAPPER} (make builds it with cc)")
    return [str(NATIVE_WRAPPER)]


@pytest.fixture(params=[python_wrapper, native_wrapper], ids=["python", "native"])
def wrapper(request):
    return request.param()


READY_FD = 57  # a fixed number, so a command can look for it


def start(wrapper, tmp_path, executable, *argv):
    ready_r, pipe_w = os.pipe()
    ready_w = os.dup2(pipe_w, READY_FD, inheritable=False)
    os.close(pipe_w)
    status = tmp_path / "exit_status"
    proc = subprocess.Popen(
        [*wrapper, str(status), str(ready_w), executable, *argv],
        pass_fds=(ready_w,),
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    os.close(ready_w)
    ready = b""
    while chunk := os.read(ready_r, 4096):
        ready += chunk
    os.close(ready_r)
    return proc, ready, status


def test_a_command_runs_and_its_exit_code_is_recorded(wrapper, tmp_path):
    proc, ready, status = start(wrapper, tmp_path, "sh", "sh", "-c", "exit 3")
    assert ready == b"+"
    assert proc.wait(10) == 3
    assert status.read_text() == "3"
    assert not (tmp_path / "exit_status.partial").exists()


def test_a_command_that_cannot_start_says_why(wrapper, tmp_path):
    proc, ready, status = start(wrapper, tmp_path, "no-such-command-here", "no-such-command-here")
    assert ready.startswith(b"-[Errno 2] No such file or directory")
    assert proc.wait(10) == 127
    assert b"Failed to launch command: [Errno 2]" in proc.stderr.read()
    assert status.read_text() == "127"


def test_a_signal_to_the_group_ends_the_command_and_is_recorded(wrapper, tmp_path):
    proc, ready, status = start(wrapper, tmp_path, "sleep", "sleep", "30")
    assert ready == b"+"
    time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(10) == -signal.SIGTERM  # the wrapper ends as the command did
    assert status.read_text() == str(-signal.SIGTERM)


def test_a_wrapper_whose_cluster_is_gone_still_records_the_exit(wrapper, tmp_path):
    """The cluster was killed before the wrapper reported (nobody reads the ready pipe): the wrapper must
    not die of SIGPIPE but outlive the cluster, so a restarted one finds the exit status."""
    ready_r, ready_w = os.pipe()
    os.close(ready_r)  # the cluster is gone
    status = tmp_path / "exit_status"
    proc = subprocess.Popen(
        [*wrapper, str(status), str(ready_w), "sh", "sh", "-c", "exit 5"], pass_fds=(ready_w,), start_new_session=True
    )
    os.close(ready_w)
    assert proc.wait(10) == 5
    assert status.read_text() == "5"


def test_the_command_does_not_inherit_the_ready_pipe(wrapper, tmp_path):
    proc, ready, status = start(wrapper, tmp_path, "sh", "sh", "-c", f"test ! -e /proc/self/fd/{READY_FD}")
    assert ready == b"+"
    assert proc.wait(10) == 0
    assert status.read_text() == "0"
