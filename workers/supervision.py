"""`make run`'s process supervisor: supervisord, configured from the Procfile.

The Procfile stays the one list of processes. Each line becomes a supervisord program that is
restarted when it exits (supervisord backs off when a process dies right after starting and logs
every exit and restart with the exit status), runs in its own process group so a stop reaches its
children, and writes its output to `<var>/logs/<name>.log`. Only stopping supervisord (Ctrl-C)
stops them all.
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path

# ${NAME} or ${NAME:-default}, as the Procfile's shell-style lines use them.
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")

# A process that dies sooner than this after starting counts as a failed start (supervisord's BACKOFF).
START_SECONDS = 3
# Failed starts in a row before supervisord gives up on a process (its FATAL state); the delay grows by a second each time.
START_RETRIES = 30
STOP_WAIT_SECONDS = 30
# Started first and stopped last, so the others can still reach it while they stop.
FIRST = {"redis"}


def read_procfile(path: Path) -> dict[str, str]:
    """Process name -> command line, in file order."""
    commands: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
            continue
        name, _, command = line.partition(":")
        commands[name.strip()] = command.strip()
    return commands


def expand(command: str, env: Mapping[str, str]) -> str:
    """Replace ${NAME} and ${NAME:-default} as a shell would (an empty value takes the default)."""

    def value(match: re.Match[str]) -> str:
        current = env.get(match["name"], "")
        if not current and match["default"] is not None:
            return match["default"]
        return current

    return _VARIABLE.sub(value, command)


def program_command(command: str, env: Mapping[str, str]) -> str:
    """The command line supervisord runs: variables expanded, the program as an absolute path, quoted for
    supervisord's own splitting, `%` escaped (supervisord expands `%(name)s` in its configuration)."""
    argv = shlex.split(expand(command, env))
    argv[0] = shutil.which(argv[0], path=env.get("PATH")) or argv[0]
    return shlex.join(argv).replace("%", "%%")


def config(names: list[str], commands: Mapping[str, str], env: Mapping[str, str], root: Path, var_dir: Path) -> str:
    """supervisord.conf for the named processes."""
    logs = var_dir / "logs"
    sections = [
        "[supervisord]",
        "nodaemon=true",
        "logfile=/dev/stdout",
        "logfile_maxbytes=0",
        "loglevel=info",
        f"pidfile={var_dir / 'supervisord.pid'}",
        f"childlogdir={logs}",
        "",
        "[unix_http_server]",
        f"file={var_dir / 'supervisor.sock'}",
        "chmod=0700",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{var_dir / 'supervisor.sock'}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
    ]
    for name in names:
        sections += [
            f"[program:{name}]",
            f"command={program_command(commands[name], env)}",
            f"directory={root}",
            f"priority={10 if name in FIRST else 100}",
            "autostart=true",
            "autorestart=true",
            f"startsecs={START_SECONDS}",
            f"startretries={START_RETRIES}",
            "stopsignal=TERM",
            f"stopwaitsecs={STOP_WAIT_SECONDS}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={logs / (name + '.log')}",
            "stdout_logfile_maxbytes=50MB",
            "stdout_logfile_backups=3",
            "",
        ]
    return "\n".join(sections)
