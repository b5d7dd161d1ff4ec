"""`make run`'s supervisor: the Procfile's commands under supervisord, a process that exits restarted, Ctrl-C stops all."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workers.supervision import config, expand, program_command, read_procfile

SUPERVISORD = Path(sys.executable).parent / "supervisord"


def test_variables_expand_as_a_shell_would():
    env = {"PORT": "8080", "EMPTY": ""}
    assert expand("--port ${PORT:-1} --x ${EMPTY:-2} --y ${MISSING:-3} --z ${PORT}", env) == (
        "--port 8080 --x 2 --y 3 --z 8080"
    )


def test_percent_signs_and_empty_arguments_survive_supervisords_parsing():
    command = program_command('celery worker --hostname worker@%h --save ""', {"PATH": "/usr/bin"})
    assert "worker@%%h" in command and "''" in command


def test_the_procfile_is_the_list_of_processes(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("# comment\n\nweb: gunicorn api.wsgi:app\nworker: celery worker\n")
    assert read_procfile(procfile) == {"web": "gunicorn api.wsgi:app", "worker": "celery worker"}


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.e2e
def test_a_process_that_exits_is_restarted_and_ctrl_c_stops_all(tmp_path):
    if not SUPERVISORD.exists():
        pytest.skip("supervisord is not installed in the virtualenv (make install)")
    pids = tmp_path / "pids"
    commands = {
        # lives past supervisord's start window, then dies: restarted every time
        "crasher": f"sh -c 'echo $$ >> {tmp_path}/crasher.pids; sleep 4; exit 3'",
        # runs until stopped; its child must be stopped with it (process group)
        "steady": f"sh -c 'echo $$ > {pids}; sleep 1000 & wait'",
    }
    (tmp_path / "logs").mkdir()
    conf = tmp_path / "supervisord.conf"
    conf.write_text(config(list(commands), commands, dict(os.environ), tmp_path, tmp_path))
    proc = subprocess.Popen(
        [str(SUPERVISORD), "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert _wait_for(
            lambda: (
                len((tmp_path / "crasher.pids").read_text().split()) >= 3
                if (tmp_path / "crasher.pids").exists()
                else False
            ),
            timeout=40,
        )
        steady_pid = int(pids.read_text())
        os.kill(steady_pid, 0)  # still the first one: the other's exits did not touch it
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert re.search(r"exited: crasher \(exit status 3; not expected\)", output), output
    assert len(re.findall(r"spawned: 'crasher'", output)) >= 3, output
    assert "stopped: steady" in output, output
    with pytest.raises(ProcessLookupError):
        os.kill(steady_pid, 0)
    assert not subprocess.run(["pgrep", "-f", "sleep 1000"], capture_output=True).stdout
