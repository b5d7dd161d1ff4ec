"""The Celery application. Tasks are thin: they take ids, open a transaction, call app.services."""

from __future__ import annotations

import logging

from celery import Celery
from celery.signals import worker_process_init

app = Celery("scale")
app.config_from_object("celeryconfig")
log = logging.getLogger(__name__)


@worker_process_init.connect
def _fresh_engines(**_kwargs) -> None:
    # Database connections must not be shared across a fork.
    from app.db import dispose_all

    dispose_all()


def send(task, *args, **kwargs) -> bool:
    """Send a task; if the broker is down, log and go on: the periodic reconcile repairs it."""
    try:
        task.apply_async(args=args, kwargs=kwargs, retry=False)
        return True
    except Exception as exc:  # broker unreachable: the database already holds the truth
        log.warning("could not send %s: %s (the reconcile will catch up)", task.name, exc)
        return False


# Redis pub/sub channel the scheduler listens on, so a newly queued job is matched at once
# instead of at the scheduler's next database poll. Losing a notification only costs latency.
QUEUE_CHANNEL = "scale:queue-changed"
_publisher = None


def notify_queue_changed() -> None:
    global _publisher
    try:
        if _publisher is None:
            import redis

            from app.settings import settings

            _publisher = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
        _publisher.publish(QUEUE_CHANNEL, b"1")
    except Exception as exc:  # the scheduler's poll finds the job anyway
        log.debug("queue notification not sent: %s", exc)
