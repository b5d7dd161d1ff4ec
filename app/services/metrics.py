"""Daily metrics: rollups of jobs (per job type), ingests (per Strike) and errors, one row per choice and day.

`calculate_day(session, day)` (re)computes one UTC day and overwrites that day's rows, so running it again
(beat fires it repeatedly for today and yesterday) gives the same rows. The metric types below describe
the columns for `/metrics/`; `plot_data` reads the rows back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.models import Error, Ingest, Job, JobExecution, JobType, MetricsError, MetricsIngest, MetricsJobType, Strike


@dataclass(frozen=True)
class Group:
    name: str
    title: str
    description: str

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "description": self.description}


@dataclass(frozen=True)
class Column:
    name: str
    title: str
    description: str
    units: str
    group: str
    aggregate: str  # how values of several choices (or days) combine: sum, min, max, avg

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "units": self.units,
            "group": self.group,
            "aggregate": self.aggregate,
        }


@dataclass(frozen=True)
class Filter:
    param: str
    type: str

    def to_dict(self) -> dict:
        return {"param": self.param, "type": self.type}


@dataclass(frozen=True)
class MetricType:
    name: str
    title: str
    description: str
    filters: tuple[Filter, ...]
    groups: tuple[Group, ...]
    columns: tuple[Column, ...]
    model: Any  # the rows: MetricsJobType, MetricsIngest or MetricsError
    choice_model: Any  # the model the rows are about: JobType, Strike or Error
    choice_key: str  # foreign key column of `model`

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "filters": [f.to_dict() for f in self.filters],
            "groups": [g.to_dict() for g in self.groups],
            "columns": [c.to_dict() for c in self.columns],
        }


def _count(name: str, title: str, description: str, group: str) -> Column:
    return Column(name, title, description, "count", group, "sum")


def _stats(prefix: str, title: str, what: str, units: str) -> tuple[Group, tuple[Column, ...]]:
    group = Group(prefix, title, f"Statistics of the {what}.")
    columns = (
        Column(f"{prefix}_sum", f"{title} (Sum)", f"Total of the {what}.", units, prefix, "sum"),
        Column(f"{prefix}_min", f"{title} (Min)", f"Smallest {what}.", units, prefix, "min"),
        Column(f"{prefix}_max", f"{title} (Max)", f"Largest {what}.", units, prefix, "max"),
        Column(f"{prefix}_avg", f"{title} (Avg)", f"Average {what}.", units, prefix, "avg"),
    )
    return group, columns


_JOB_TIMES = (
    ("queue_time", "Queue Time", "time executions waited on the queue before they started"),
    ("pre_time", "Pre-Task Time", "time spent in the pre step (input staging)"),
    ("job_time", "Job Task Time", "time spent running the algorithm"),
    ("post_time", "Post-Task Time", "time spent in the post step (storing products)"),
    ("run_time", "Run Time", "time executions spent running the pre, job and post steps"),
)


def _job_types_metric() -> MetricType:
    groups = [
        Group("overview", "Overview", "Overall counts based on job status."),
        Group("errors", "Errors", "Failed job counts by error category."),
    ]
    columns = [
        _count("total_count", "Total Count", "Number of jobs that completed, failed or were canceled.", "overview"),
        _count("completed_count", "Completed Count", "Number of successfully completed jobs.", "overview"),
        _count("failed_count", "Failed Count", "Number of failed jobs.", "overview"),
        _count("canceled_count", "Canceled Count", "Number of canceled jobs.", "overview"),
        _count("error_system_count", "System Error Count", "Number of jobs that failed with a system error.", "errors"),
        _count(
            "error_algorithm_count",
            "Algorithm Error Count",
            "Number of jobs that failed with an algorithm error.",
            "errors",
        ),
        _count("error_data_count", "Data Error Count", "Number of jobs that failed with a data error.", "errors"),
    ]
    for prefix, title, what in _JOB_TIMES:
        group, stats = _stats(prefix, title, what, "seconds")
        groups.append(group)
        columns.extend(stats)
    return MetricType(
        "job-types",
        "Job Types",
        "Metrics for jobs and executions grouped by job type.",
        (Filter("name", "string"), Filter("version", "string"), Filter("category", "string")),
        tuple(groups),
        tuple(columns),
        MetricsJobType,
        JobType,
        "job_type_id",
    )


def _ingests_metric() -> MetricType:
    groups = [Group("overview", "Overview", "Overall counts based on ingest status.")]
    columns = [
        _count(
            "total_count",
            "Total Count",
            "Number of files that were ingested, deferred, duplicates or errored.",
            "overview",
        ),
        _count("ingested_count", "Ingested Count", "Number of files successfully ingested.", "overview"),
        _count("errored_count", "Errored Count", "Number of files that failed to ingest.", "overview"),
        _count("deferred_count", "Deferred Count", "Number of files no rule wanted (left in place).", "overview"),
        _count("duplicate_count", "Duplicate Count", "Number of files already ingested before.", "overview"),
    ]
    for prefix, title, what, units in (
        ("file_size", "File Size", "size of ingested files", "bytes"),
        ("transfer_time", "Transfer Time", "time files took to arrive", "seconds"),
        ("ingest_time", "Ingest Time", "time ingest jobs took to store files", "seconds"),
    ):
        group, stats = _stats(prefix, title, what, units)
        groups.append(group)
        columns.extend(stats)
    return MetricType(
        "ingests",
        "Ingests",
        "Metrics for ingested source files grouped by Strike process.",
        (Filter("name", "string"),),
        tuple(groups),
        tuple(columns),
        MetricsIngest,
        Strike,
        "strike_id",
    )


def _errors_metric() -> MetricType:
    return MetricType(
        "errors",
        "Errors",
        "Metrics for jobs grouped by errors.",
        (Filter("name", "string"), Filter("category", "string")),
        (Group("overview", "Overview", "Overall counts for each error."),),
        (_count("total_count", "Total Count", "Number of jobs that failed with the error.", "overview"),),
        MetricsError,
        Error,
        "error_id",
    )


METRIC_TYPES: dict[str, MetricType] = {m.name: m for m in (_job_types_metric(), _ingests_metric(), _errors_metric())}


# ---------------------------------------------------------------- calculation


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def _add_stats(values: dict, prefix: str, samples: list[float]) -> None:
    if not samples:
        return
    values[f"{prefix}_sum"] = sum(samples)
    values[f"{prefix}_min"] = min(samples)
    values[f"{prefix}_max"] = max(samples)
    values[f"{prefix}_avg"] = sum(samples) / len(samples)


def _job_type_values(session: Session, start: datetime, end: datetime) -> dict[int, dict]:
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = session.execute(
        select(Job.job_type_id, Job.status, Error.category)
        .outerjoin(Error, Error.id == Job.error_id)
        .where(Job.status.in_(("COMPLETED", "FAILED", "CANCELED")), Job.ended >= start, Job.ended < end)
    )
    for job_type_id, status, category in rows:
        c = counts[job_type_id]
        c["total_count"] += 1
        c[f"{status.lower()}_count"] += 1
        if status == "FAILED":
            c[f"error_{(category or 'SYSTEM').lower()}_count"] += 1
    samples: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    exes = session.execute(
        select(
            Job.job_type_id,
            JobExecution.queued,
            JobExecution.started,
            JobExecution.ended,
            JobExecution.pre_started,
            JobExecution.pre_completed,
            JobExecution.job_started,
            JobExecution.job_completed,
            JobExecution.post_started,
            JobExecution.post_completed,
        )
        .join(Job, Job.id == JobExecution.job_id)
        .where(JobExecution.ended >= start, JobExecution.ended < end)
    )
    for jt, queued, started, ended, pre_s, pre_c, job_s, job_c, post_s, post_c in exes:
        for prefix, seconds in (
            ("queue_time", _seconds(queued, started)),
            ("pre_time", _seconds(pre_s, pre_c)),
            ("job_time", _seconds(job_s, job_c)),
            ("post_time", _seconds(post_s, post_c)),
            ("run_time", _seconds(started, ended)),
        ):
            if seconds is not None:
                samples[jt][prefix].append(seconds)
    result = {}
    for jt in set(counts) | set(samples):
        values: dict[str, float] = {
            "total_count": 0,
            "completed_count": 0,
            "failed_count": 0,
            "canceled_count": 0,
            "error_system_count": 0,
            "error_algorithm_count": 0,
            "error_data_count": 0,
        }
        values.update(counts.get(jt, {}))
        for prefix, found in samples.get(jt, {}).items():
            _add_stats(values, prefix, found)
        result[jt] = values
    return result


_INGEST_OUTCOMES = ("INGESTED", "ERRORED", "DEFERRED", "DUPLICATE")


def _ingest_values(session: Session, start: datetime, end: datetime) -> dict[int, dict]:
    # An ingest counts on the day it reached its outcome.
    reached = func.coalesce(Ingest.ingest_ended, Ingest.transfer_ended, Ingest.last_modified)
    rows = session.execute(
        select(
            Ingest.strike_id,
            Ingest.status,
            Ingest.file_size,
            Ingest.transfer_started,
            Ingest.transfer_ended,
            Ingest.ingest_started,
            Ingest.ingest_ended,
        ).where(Ingest.strike_id.is_not(None), Ingest.status.in_(_INGEST_OUTCOMES), reached >= start, reached < end)
    )
    values: dict[int, dict] = {}
    samples: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for strike_id, status, size, t_start, t_end, i_start, i_end in rows:
        v = values.setdefault(
            strike_id,
            {"total_count": 0, "ingested_count": 0, "errored_count": 0, "deferred_count": 0, "duplicate_count": 0},
        )
        v["total_count"] += 1
        v[f"{status.lower()}_count"] += 1
        if status == "INGESTED":
            if size is not None:
                samples[strike_id]["file_size"].append(float(size))
            ingest_seconds = _seconds(i_start, i_end)
            if ingest_seconds is not None:
                samples[strike_id]["ingest_time"].append(ingest_seconds)
        transfer_seconds = _seconds(t_start, t_end)
        if transfer_seconds is not None:
            samples[strike_id]["transfer_time"].append(transfer_seconds)
    for strike_id, found in samples.items():
        for prefix, numbers in found.items():
            _add_stats(values[strike_id], prefix, numbers)
    return values


def _error_values(session: Session, start: datetime, end: datetime) -> dict[int, dict]:
    counts: dict[int, int] = defaultdict(int)
    for (error_id,) in session.execute(
        select(Job.error_id).where(
            Job.status == "FAILED", Job.error_id.is_not(None), Job.ended >= start, Job.ended < end
        )
    ):
        counts[error_id] += 1
    return {error_id: {"total_count": count} for error_id, count in counts.items()}


def _replace_day(session: Session, model, key: str, occurred: datetime, values_by_choice: dict[int, dict]) -> int:
    session.execute(delete(model).where(model.occurred == occurred))
    for choice_id, values in sorted(values_by_choice.items()):
        session.add(model(**{key: choice_id}, occurred=occurred, values=values))
    session.flush()
    return len(values_by_choice)


def calculate_day(session: Session, day: date) -> dict[str, int]:
    """Recompute every metric of one UTC day; returns rows written per metric type."""
    start = day_start(day)
    end = start + timedelta(days=1)
    return {
        "job-types": _replace_day(session, MetricsJobType, "job_type_id", start, _job_type_values(session, start, end)),
        "ingests": _replace_day(session, MetricsIngest, "strike_id", start, _ingest_values(session, start, end)),
        "errors": _replace_day(session, MetricsError, "error_id", start, _error_values(session, start, end)),
    }


# ---------------------------------------------------------------- reading


def choices_query(metric: MetricType, filters: dict[str, list[str]]):
    """The choice rows (job types, Strikes, errors) matching the filters, in a stable order."""
    model = metric.choice_model
    stmt = select(model)
    for f in metric.filters:
        values = filters.get(f.param) or []
        if values:
            stmt = stmt.where(getattr(model, f.param).in_(values))
    order = [model.name] + ([model.version] if hasattr(model, "version") else []) + [model.id]
    return stmt.order_by(*order)


def _combine(aggregate: str, numbers: Sequence[float]) -> float:
    if aggregate == "min":
        return min(numbers)
    if aggregate == "max":
        return max(numbers)
    if aggregate == "avg":
        return sum(numbers) / len(numbers)
    return sum(numbers)


def _plain(number: float) -> float | int:
    return int(number) if float(number).is_integer() else number


def plot_data(
    session: Session,
    metric: MetricType,
    columns: Sequence[Column],
    choice_ids: Sequence[int] | None,
    started: datetime | None,
    ended: datetime | None,
    per_choice: bool = False,
) -> list[dict]:
    """One series per column, from the rows of `choice_ids` (None: every choice). With `per_choice` each
    value is one choice's on one day (with its id); otherwise the choices' values are combined per day with
    the column's aggregate (for a single choice that is its own value)."""
    model = metric.model
    key = getattr(model, metric.choice_key)
    stmt = select(key, model.occurred, model.values).order_by(model.occurred, key)
    if choice_ids is not None:
        stmt = stmt.where(key.in_(list(choice_ids)))
    if started is not None:
        stmt = stmt.where(model.occurred >= day_start(started.date()))
    if ended is not None:
        stmt = stmt.where(model.occurred <= ended)
    rows = session.execute(stmt).all()
    series = []
    for column in columns:
        if per_choice:
            values = [
                {"id": cid, "date": occurred.date().isoformat(), "value": _plain(vals[column.name])}
                for cid, occurred, vals in rows
                if column.name in (vals or {})
            ]
        else:
            by_day: dict[date, list[float]] = defaultdict(list)
            for _cid, occurred, vals in rows:
                if column.name in (vals or {}):
                    by_day[occurred.date()].append(vals[column.name])
            values = [
                {"date": d.isoformat(), "value": _plain(_combine(column.aggregate, nums))}
                for d, nums in sorted(by_day.items())
            ]
        dates = [v["date"] for v in values]
        numbers = [v["value"] for v in values]
        series.append(
            {
                "column": column.to_dict(),
                "min_x": min(dates) if dates else None,
                "max_x": max(dates) if dates else None,
                "min_y": min(numbers) if numbers else None,
                "max_y": max(numbers) if numbers else None,
                "values": values,
            }
        )
    return series


def select_columns(
    metric: MetricType, column_names: Iterable[str], group_names: Iterable[str]
) -> tuple[list[Column], list[str]]:
    """Columns chosen by name and/or group (all when neither is given), and the names that are unknown."""
    column_names, group_names = list(column_names), list(group_names)
    unknown = [n for n in column_names if metric.column(n) is None]
    unknown += [g for g in group_names if g not in {grp.name for grp in metric.groups}]
    if not column_names and not group_names:
        return list(metric.columns), unknown
    return [c for c in metric.columns if c.name in column_names or c.group in group_names], unknown
