"""Metrics services: GET /metrics/, GET /metrics/<name>/, GET /metrics/<name>/plot-data/.

The metric types are job-types, ingests and errors (daily rows written by tasks.metrics.daily_metrics).
"""

from __future__ import annotations

from typing import Callable

from flask_restx import Namespace, Resource
from sqlalchemy.orm import Session

from api.session import get_session
from api import serializers as ser
from api.common import bad_request, not_found, paginate_list, param_int_list, param_str_list, time_range
from app.services import metrics
from app.services.metrics import METRIC_TYPES, MetricType

ns = Namespace("metrics", path="/metrics", description="Daily processing counts and timings")
NAMESPACES = [ns]


def _strike(strike) -> dict:
    return {"id": strike.id, "name": strike.name, "title": strike.title, "description": strike.description}


CHOICE_SHAPES: dict[str, Callable] = {"job-types": ser.job_type_base, "ingests": _strike, "errors": ser.error}


def _metric(name: str) -> MetricType:
    metric = METRIC_TYPES.get(name)
    if metric is None:
        raise not_found("Metrics type", name)
    return metric


def _choices(session: Session, metric: MetricType) -> list:
    filters = {f.param: param_str_list(f.param) for f in metric.filters}
    return list(session.scalars(metrics.choices_query(metric, filters)))


@ns.route("/")
class MetricList(Resource):
    @ns.doc(params={"page": "Page number", "page_size": "1-1000"})
    def get(self):
        """Every metrics type with its filters, column groups and columns."""
        return paginate_list([m.to_dict() for m in METRIC_TYPES.values()])


@ns.route("/<string:name>/")
class MetricDetails(Resource):
    @ns.doc(responses={404: "Unknown metrics type"})
    def get(self, name: str):
        """A metrics type and its choices (job types, Strikes or errors), narrowed by its filter parameters."""
        metric = _metric(name)
        session = get_session()
        out = metric.to_dict()
        out["choices"] = [CHOICE_SHAPES[metric.name](c) for c in _choices(session, metric)]
        return out


@ns.route("/<string:name>/plot-data/")
class MetricPlotData(Resource):
    @ns.doc(
        params={
            "started": "From (ISO-8601 datetime or duration)",
            "ended": "Until",
            "choice_id": "Repeatable",
            "column": "Column name (repeatable)",
            "group": "Group name (repeatable)",
        },
        responses={400: "Unknown column, group or choice", 404: "Unknown metrics type"},
    )
    def get(self, name: str):
        """One series per selected column, values sorted oldest first. Without choice_id the values of all
        choices are combined per day with the column's aggregate; with several, each value names its choice."""
        metric = _metric(name)
        session = get_session()
        started, ended = time_range()
        columns, unknown = metrics.select_columns(metric, param_str_list("column"), param_str_list("group"))
        problems = []
        if unknown:
            problems.append(f"Unknown columns or groups for {metric.name}: {', '.join(unknown)}")
        requested = param_int_list("choice_id")
        selected = None  # every choice
        if requested or any(param_str_list(f.param) for f in metric.filters):
            valid = {c.id for c in _choices(session, metric)}
            wrong = [str(i) for i in requested if i not in valid]
            if wrong:
                problems.append(f"Invalid value for 'choice_id': {', '.join(wrong)} (not a choice of {metric.name})")
            selected = requested or sorted(valid)
        if problems:
            raise bad_request("; ".join(problems))
        series = metrics.plot_data(session, metric, columns, selected, started, ended, per_choice=len(requested) > 1)
        return paginate_list(series)
