"""`make run`: start every process of the Procfile under supervisord, after printing where to find them.

A process that exits is restarted (workers.supervision); Ctrl-C stops them all.

Processes that an environment variable points elsewhere are left out: no `redis` when REDIS_URL
names another host, no `cluster` when MESOS_MASTER names a real Mesos master. MESOS_MASTER and
LOCAL_CLUSTER_PORT come from one setting (app.settings.resolve_cluster); a contradiction is refused.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy.engine import make_url

from app.settings import ROOT, exposure_problems, is_loopback, settings
from workers.supervision import config, read_procfile


def processes() -> list[str]:
    names = list(read_procfile(ROOT / "Procfile"))
    redis = urlparse(settings.REDIS_URL)
    if not is_loopback(redis.hostname or ""):
        names.remove("redis")
    if not is_loopback(settings.MESOS_MASTER.rpartition(":")[0]):
        names.remove("cluster")
    return names


def without_password(url: str) -> str:
    """The URL to print: a password never reaches a terminal or a log."""
    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    settings.check()
    problems = exposure_problems(settings)
    if problems:
        raise SystemExit("refusing to start: " + "; ".join(problems))
    redis = urlparse(settings.REDIS_URL)
    env = dict(
        os.environ, REDIS_PORT=str(redis.port or 6379), SCALE_VAR_DIR=str(settings.var_dir), PYTHONUNBUFFERED="1"
    )
    # Flower reads FLOWER_* itself; an empty one (FLOWER_BASIC_AUTH=) would become a setting of its own
    env = {k: v for k, v in env.items() if v or not k.startswith("FLOWER_")}
    var_dir = Path(settings.var_dir).resolve()
    (var_dir / "logs").mkdir(parents=True, exist_ok=True)
    conf = var_dir / "supervisord.conf"
    conf.write_text(config(processes(), read_procfile(ROOT / "Procfile"), env, ROOT, var_dir))
    api = f"http://{settings.API_HOST}:{settings.API_PORT}"
    print(
        f"""
Scale is starting under supervisord (a process that exits is restarted; Ctrl-C stops every process):
  console       {api}/          (web pages: dashboard, jobs, recipes, ingest, nodes, metrics)
  REST API      {api}/jobs/ ... (Swagger UI {api}/docs/, OpenAPI {api}/swagger.json)
  status        {api}/status/   and {api}/v6/status/
  Flower        http://{settings.FLOWER_ADDRESS}:{settings.FLOWER_PORT}/
  Mesos master  http://{settings.MESOS_MASTER}/   ({"local cluster" if "cluster" in processes() else "external"})
  Redis         {without_password(settings.REDIS_URL)}
  database      {without_password(settings.database_url)}
  logs          {var_dir / "logs"}/<process>.log   (supervisord's own lines, exits and restarts, below)
  control       supervisorctl -c {conf} status | restart <process>
""",
        flush=True,
    )
    supervisord = str(Path(sys.executable).parent / "supervisord")
    os.execvpe(supervisord, [supervisord, "-c", str(conf)], env)


if __name__ == "__main__":
    main()
