"""Runs one local-cluster task's command and records how it ended, so a restarted cluster can tell.

    python -I -S task_wrapper.py <exit status file> <ready fd> <executable> <argv0> [args...]

The cluster starts this as the leader of the task's own session; the command is its child, in the same
process group. It reports on <ready fd> whether the command started ("+", or "-" and the error), waits for
the command, writes its exit code (negative: the signal that ended it) to <exit status file> atomically,
and ends the same way the command did, so the cluster sees the command's own exit either way. A SIGTERM
or SIGINT sent to the group reaches the command; the wrapper outlives it to record the result.

Kept to `os`, `sys` and `_signal` (no `signal`, whose enum import alone costs milliseconds per task).
"""

import os
import sys

import _signal

FORWARDED = (_signal.SIGTERM, _signal.SIGINT)
# Python ignores these at start-up; a command must get the defaults (exec keeps ignored signals ignored).
RESET = FORWARDED + (_signal.SIGPIPE, _signal.SIGXFSZ)


def main(argv: list[str]) -> None:
    status_path, ready_fd, executable, args = argv[0], int(argv[1]), argv[2], argv[3:]
    os.set_inheritable(ready_fd, False)  # the command must not hold it: the cluster reads it to EOF
    received: list[int] = []
    for signum in FORWARDED:
        _signal.signal(signum, lambda signum, frame: received.append(signum))
    error_r, error_w = os.pipe()  # close-on-exec: EOF when the exec succeeds
    pid = os.fork()
    if pid == 0:
        os.close(error_r)
        for signum in RESET:
            _signal.signal(signum, _signal.SIG_DFL)
        if received:  # the group was signalled before the handlers were reset
            os.kill(os.getpid(), received[0])
        try:
            os.execvpe(executable, args, os.environ)  # searches the task's PATH, as Popen does
        except (OSError, ValueError) as exc:
            os.write(error_w, str(exc).encode("utf-8", "replace"))
        os._exit(127)
    os.close(error_w)
    error = b""
    while chunk := os.read(error_r, 4096):
        error += chunk
    os.close(error_r)
    if error:
        os.write(2, b"Failed to launch command: " + error + b"\n")
    try:
        os.write(ready_fd, (b"-" + error) if error else b"+")
        os.close(ready_fd)
    except OSError:
        pass  # the cluster is gone; a restarted one recovers the task from its checkpoint
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    partial = status_path + ".partial"
    with open(partial, "w") as out:
        out.write(str(code))
    os.replace(partial, status_path)
    if code >= 0:
        os._exit(code)
    _signal.signal(-code, _signal.SIG_DFL)
    os.kill(os.getpid(), -code)
    os._exit(128 - code)  # a signal whose default is not to terminate


if __name__ == "__main__":
    main(sys.argv[1:])
