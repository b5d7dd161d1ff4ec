"""GET /prometheus: metrics in the Prometheus text format, read fresh from the database on every scrape.

A collector is built per request on its own registry, so nothing is kept between scrapes (several API
workers would otherwise each export their own, diverging, values).
"""

from __future__ import annotations

from typing import Iterator

from flask import Response
from flask_restx import Namespace, Resource
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.session import get_session
from app.db import utcnow
from app.models import EXE_STATUSES, JOB_STATUSES, Job, JobExecution, JobType, Node
from app.services import status
from app.services.nodes import NODE_STATES, node_state

ns = Namespace("prometheus", path="/prometheus", description="Metrics for Prometheus")
NAMESPACES = [ns]


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class ScaleCollector:
    def __init__(self, session: Session) -> None:
        self.session = session

    def collect(self) -> Iterator[Metric]:
        yield from self._jobs()
        yield from self._nodes()
        yield from self._scheduler()

    def _jobs(self) -> Iterator[Metric]:
        session = self.session
        counts = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        jobs = GaugeMetricFamily(
            "scale_jobs", "Jobs by status (COMPLETED, FAILED and CANCELED are the outcomes).", labels=["status"]
        )
        for name in JOB_STATUSES:
            jobs.add_metric([name], counts.get(name, 0))
        yield jobs
        yield GaugeMetricFamily(
            "scale_queue_depth", "Jobs waiting on the queue (QUEUED).", value=counts.get("QUEUED", 0)
        )
        yield GaugeMetricFamily("scale_jobs_running", "Jobs running.", value=counts.get("RUNNING", 0))
        by_type = session.execute(
            select(JobType.name, JobType.version, Job.status, func.count())
            .join(JobType, JobType.id == Job.job_type_id)
            .where(Job.status.in_(("QUEUED", "RUNNING")))
            .group_by(JobType.name, JobType.version, Job.status)
            .order_by(JobType.name, JobType.version)
        ).all()
        queued = GaugeMetricFamily("scale_job_type_queued", "Queued jobs per job type.", labels=["job_type", "version"])
        running = GaugeMetricFamily(
            "scale_job_type_running", "Running jobs per job type.", labels=["job_type", "version"]
        )
        for name, version, job_status, count in by_type:
            (queued if job_status == "QUEUED" else running).add_metric([name, version], count)
        yield queued
        yield running
        exe_counts = dict(
            session.execute(select(JobExecution.status, func.count()).group_by(JobExecution.status)).all()
        )
        exes = GaugeMetricFamily("scale_job_executions", "Job executions by status.", labels=["status"])
        for name in EXE_STATUSES:
            exes.add_metric([name], exe_counts.get(name, 0))
        yield exes

    def _nodes(self) -> Iterator[Metric]:
        nodes = list(self.session.scalars(select(Node).where(Node.is_active.is_(True))))
        reported = status.reported_nodes_if_fresh(self.session, nodes)
        now = utcnow()
        by_state = dict.fromkeys(NODE_STATES, 0)
        for node in nodes:
            by_state[node_state(node, now, reported.get(node.id)).name] += 1
        family = GaugeMetricFamily("scale_nodes", "Active nodes by state.", labels=["state"])
        for name, count in by_state.items():
            family.add_metric([name], count)
        yield family

    def _scheduler(self) -> Iterator[Metric]:
        scheduler = status.scheduler_row(self.session)
        now = utcnow()
        yield GaugeMetricFamily(
            "scale_scheduler_up",
            "1 when the scheduler's status report is fresh.",
            value=1 if status.is_fresh(scheduler, now) else 0,
        )
        yield GaugeMetricFamily(
            "scale_scheduler_paused", "1 when the scheduler is paused.", value=1 if scheduler.is_paused else 0
        )
        age = status.status_age(scheduler, now)
        if age is None:
            return
        yield GaugeMetricFamily(
            "scale_scheduler_status_age_seconds", "Age of the scheduler's latest status report.", value=age
        )
        report = scheduler.status or {}
        for name, value in sorted((report.get("metrics") or {}).items()):
            number = _number(value)
            if number is None:
                continue
            if name.endswith("_per_sec"):
                yield GaugeMetricFamily(
                    f"scale_scheduler_{name}", f"Scheduler rate: {name.replace('_', ' ')}.", value=number
                )
            else:
                # Counters restart with the scheduler process; Prometheus' rate() handles the reset.
                yield CounterMetricFamily(
                    f"scale_scheduler_{name}", f"Scheduler counter: {name.replace('_', ' ')}.", value=number
                )
        for name in ("queue_depth", "running_tasks"):
            number = _number(report.get(name))
            if number is not None:
                yield GaugeMetricFamily(
                    f"scale_scheduler_{name}", f"Scheduler's in-memory {name.replace('_', ' ')}.", value=number
                )


@ns.route("/")
class PrometheusMetrics(Resource):
    @ns.doc(produces=["text/plain"])
    def get(self):
        """Queue depth, running jobs, jobs and executions by status, nodes by state, scheduler counters and rates."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ScaleCollector(get_session()))
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
