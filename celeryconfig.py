"""Celery configuration. Values come from app.settings (environment variables)."""

from app.settings import settings
from tasks.schedules import AnchoredPeriod

broker_url = settings.REDIS_URL
result_backend = settings.CELERY_RESULT_BACKEND or None
task_ignore_result = not settings.CELERY_RESULT_BACKEND
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True
# A task is acknowledged only when it finished; a worker that dies hands it back to the broker.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 4
# Events for Flower.
worker_send_task_events = True
task_send_sent_event = True
broker_connection_retry_on_startup = True
# Tasks are short and idempotent: an unacked message returns after 5 min, not an hour.
# Short socket timeouts and a bounded publish retry so send() fails fast while Redis is down.
broker_transport_options = {"visibility_timeout": 300, "socket_connect_timeout": 0.5, "socket_timeout": 2}
broker_connection_timeout = 0.5
task_publish_retry_policy = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
imports = ("tasks.jobs", "tasks.maintenance", "tasks.metrics", "tasks.metrics_load", "tasks.ingest", "tasks.clock")

beat_schedule = {
    "reconcile": {"task": "tasks.maintenance.reconcile", "schedule": settings.RECONCILE_INTERVAL},
    # Rewrites yesterday and today: idempotent, so hourly runs keep today current.
    "daily-metrics": {"task": "tasks.metrics.daily_metrics", "schedule": AnchoredPeriod("PT1H")},
    # Queue depth per job type for /load/ (one sample per minute; a repeated minute is skipped).
    "job-load": {"task": "tasks.metrics_load.sample_job_load", "schedule": 60.0},
    # Clock trigger rules: each tick fires the rules whose slot came.
    "clock": {"task": "tasks.clock.tick", "schedule": AnchoredPeriod(settings.CLOCK_PERIOD)},
    # Autoscaling: a no-op unless auto mode is on; a pass claims its interval in the database.
    "autoscale": {"task": "tasks.maintenance.autoscale", "schedule": settings.AUTOSCALE_INTERVAL},
    "workspace-sizes": {"task": "tasks.maintenance.workspace_sizes", "schedule": settings.WORKSPACE_SIZE_INTERVAL},
    # A new or moved workspace gets its sizes soon, without a tree walk inside its request.
    "new-workspace-sizes": {
        "task": "tasks.maintenance.workspace_sizes",
        "schedule": 30.0,
        "kwargs": {"only_unknown": True},
    },
}
