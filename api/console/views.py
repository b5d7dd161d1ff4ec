"""The console's routes: pages (GET), live fragments (GET .../live, polled by console.js) and buttons (POST)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, redirect, render_template, request

from api.session import get_session
from api.common import ApiError, param_int, param_int_list, param_str, param_str_list, parse_timestamp
from api.console import actions, graph, queries, services, signin
from api.scheduling_reasons import job_scheduling, queued_by_reason
from app.db import utcnow
from app.models import JOB_STATUSES, JobType, RecipeType
from app.specs.base import SpecError

bp = Blueprint(
    "console", "api.console", template_folder="templates", static_folder="static", static_url_path="/console/static"
)

TIME_RANGES = (
    ("", "any time"),
    ("PT1H", "last hour"),
    ("PT6H", "last 6 hours"),
    ("P1D", "last day"),
    ("P7D", "last week"),
)
REFRESH_MS = 2000


@bp.app_template_filter("when")
def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


@bp.app_template_filter("duration")
def _duration(pair) -> str:
    start, end = pair
    if not start:
        return ""
    seconds = int(((end or utcnow()) - start).total_seconds())
    return (
        f"{seconds // 3600}h {seconds % 3600 // 60}m {seconds % 60}s"
        if seconds >= 3600
        else f"{seconds // 60}m {seconds % 60}s"
        if seconds >= 60
        else f"{seconds}s"
    )


@bp.app_template_filter("size")
def _size(value) -> str:
    if value is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


def _page_path() -> str:
    """The page a button sends the user back to: this page, or for a live fragment the page that polls it."""
    if (request.endpoint or "").endswith("_live") and request.referrer:
        parts = urlsplit(request.referrer)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.full_path.rstrip("?")


@bp.app_context_processor
def _globals() -> dict:
    return {
        "notice": request.args.get("notice"),
        "error": request.args.get("error"),
        "refresh_ms": REFRESH_MS,
        "back": _page_path(),
    }


@bp.before_request
def _same_origin_posts_only():
    """Buttons change the system: refuse a form posted from another site (the browser names it in Origin)."""
    origin = request.headers.get("Origin")
    if request.method == "POST" and origin and urlsplit(origin).netloc != request.host:
        raise ApiError(403, f"Cross-origin form posts are refused (Origin {origin})")


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):
    return render_template("console/error.html", status=error.status, message=error.detail), error.status


@bp.errorhandler(SpecError)
def _spec_error(error: SpecError):
    return render_template("console/error.html", status=400, message=str(error)), 400


def _back(**message: str):
    """Redirect to the form's `next` page (a local path only) with the outcome."""
    target = signin.local_path(request.form.get("next"))
    base, _, query = target.partition("?")
    kept = "&".join(p for p in query.split("&") if p and not p.startswith(("notice=", "error=")))
    return redirect(f"{base}?{kept + '&' if kept else ''}{urlencode(message)}", code=303)


def _act(action, *args):
    """Run a button's action; a refusal is reported on the page with the API's own message."""
    session = get_session()
    try:
        return _back(notice=action(session, *args))
    except ApiError as exc:
        session.rollback()
        return _back(error=exc.detail)
    except SpecError as exc:
        session.rollback()
        return _back(error=str(exc))


def _flag(name: str) -> bool:
    return request.form.get(name) == "true"


# ---------------------------------------------------------------- dashboard


def _dashboard_data() -> dict:
    session = get_session()
    doc, stale = queries.system_status(session)
    return {
        "scheduler": services.scheduler_row(session),
        "doc": doc,
        "stale": stale,
        "queue": queries.queue_depth(session),
        "counts": queries.job_counts(session),
        "hours": queries.hourly_outcomes(session),
        "waiting": queued_by_reason(session),
    }


@bp.route("/", endpoint="dashboard")
def dashboard():
    return render_template("console/dashboard.html", **_dashboard_data())


@bp.route("/console/dashboard/live")
def dashboard_live():
    return render_template("console/_dashboard_live.html", **_dashboard_data())


@bp.route("/console/scheduler", methods=["POST"])
def scheduler_pause():
    return _act(actions.set_scheduler_paused, _flag("is_paused"))


# ---------------------------------------------------------------- jobs


def _jobs_filters() -> dict:
    range_code = param_str("range", "", choices=[code for code, _ in TIME_RANGES])
    return {
        "statuses": param_str_list("status", JOB_STATUSES),
        "job_type_ids": param_int_list("job_type_id"),
        "range": range_code,
        "page": param_int("page", 1, minimum=1, maximum=10**9),
    }


def _jobs_data() -> dict:
    filters = _jobs_filters()
    started = parse_timestamp("range", filters["range"]) if filters["range"] else None
    session = get_session()
    page = queries.jobs_page(session, filters["statuses"], filters["job_type_ids"], started, None, filters["page"])
    args = request.args.to_dict(flat=False)
    args.pop("page", None)
    return {"page": page, "filters": filters, "query": urlencode(args, doseq=True)}


@bp.route("/console/jobs")
def jobs():
    return render_template(
        "console/jobs.html",
        statuses=JOB_STATUSES,
        ranges=TIME_RANGES,
        job_types=queries.job_types(get_session()),
        **_jobs_data(),
    )


@bp.route("/console/jobs/live")
def jobs_live():
    return render_template("console/_jobs_table.html", **_jobs_data())


def _job_data(job_id: int) -> dict:
    session = get_session()
    job = queries.job(session, job_id)
    if job is None:
        abort(404)
    inputs, properties = queries.job_inputs(session, job)
    exes = queries.executions(session, job_id)
    logs = {e.id: (queries.read_log_tail(e, "stdout"), queries.read_log_tail(e, "stderr")) for e in exes}
    return {
        "job": job,
        "inputs": inputs,
        "properties": properties,
        "products": queries.job_products(session, job_id),
        "exes": exes,
        "logs": logs,
        "recipes": queries.recipes_of_job(session, job_id),
        "can_cancel": job.status not in ("COMPLETED", "CANCELED"),
        "can_requeue": job.status in services.REQUEUE_STATUSES,
        "scheduling": job_scheduling(session, job),
    }


@bp.route("/console/jobs/<int:job_id>")
def job(job_id: int):
    return render_template("console/job.html", **_job_data(job_id))


@bp.route("/console/jobs/<int:job_id>/live")
def job_live(job_id: int):
    return render_template("console/_job_live.html", **_job_data(job_id))


@bp.route("/console/jobs/<int:job_id>/cancel", methods=["POST"])
def job_cancel(job_id: int):
    return _act(actions.cancel_job, job_id)


@bp.route("/console/jobs/<int:job_id>/requeue", methods=["POST"])
def job_requeue(job_id: int):
    return _act(actions.requeue_job, job_id)


# ---------------------------------------------------------------- recipes


@bp.route("/console/recipes")
def recipes():
    page = param_int("page", 1, minimum=1, maximum=10**9)
    session = get_session()
    return render_template(
        "console/recipes.html", page=queries.recipes_page(session, param_int_list("recipe_type_id"), page)
    )


def _recipe_data(recipe_id: int) -> dict:
    recipe = queries.recipe(get_session(), recipe_id)
    if recipe is None:
        abort(404)
    jobs_by_name = {rj.job_name: rj.job for rj in recipe.recipe_jobs}
    return {"recipe": recipe, "graph": graph.layout(recipe.recipe_type_rev.definition, jobs_by_name)}


@bp.route("/console/recipes/<int:recipe_id>")
def recipe(recipe_id: int):
    return render_template("console/recipe.html", **_recipe_data(recipe_id))


@bp.route("/console/recipes/<int:recipe_id>/live")
def recipe_live(recipe_id: int):
    return render_template("console/_recipe_live.html", **_recipe_data(recipe_id))


# ---------------------------------------------------------------- job types and recipe types


@bp.route("/console/job-types")
def job_types():
    session = get_session()
    return render_template(
        "console/job_types.html",
        job_types=queries.job_types(session),
        counts=queries.job_type_counts(session, utcnow() - timedelta(hours=3)),
    )


@bp.route("/console/job-types/<int:job_type_id>")
def job_type(job_type_id: int):
    session = get_session()
    jt = session.get(JobType, job_type_id) or abort(404)
    return render_template(
        "console/job_type.html",
        jt=jt,
        counts=queries.job_type_counts(session, utcnow() - timedelta(hours=24)).get(jt.id, {}),
        revisions=queries.job_type_revisions(session, jt.id),
        recipe_types=queries.recipe_types_using(session, jt),
    )


@bp.route("/console/job-types/<int:job_type_id>/pause", methods=["POST"])
def job_type_pause(job_type_id: int):
    return _act(actions.set_job_type_paused, job_type_id, _flag("is_paused"))


@bp.route("/console/recipe-types")
def recipe_types():
    return render_template("console/recipe_types.html", recipe_types=queries.recipe_types(get_session()))


@bp.route("/console/recipe-types/<int:recipe_type_id>")
def recipe_type(recipe_type_id: int):
    session = get_session()
    rt = session.get(RecipeType, recipe_type_id) or abort(404)
    return render_template(
        "console/recipe_type.html",
        rt=rt,
        graph=graph.layout(rt.definition),
        revisions=queries.recipe_type_revisions(session, rt.id),
    )


# ---------------------------------------------------------------- ingest


def _ingest_data() -> dict:
    session = get_session()
    return {
        "strikes": queries.strikes(session),
        "ingests": queries.recent_ingests(session),
        "sources": queries.recent_files(session, "SOURCE"),
        "products": queries.recent_files(session, "PRODUCT"),
    }


@bp.route("/console/ingest")
def ingest():
    return render_template("console/ingest.html", **_ingest_data())


@bp.route("/console/ingest/live")
def ingest_live():
    return render_template("console/_ingest_live.html", **_ingest_data())


# ---------------------------------------------------------------- nodes and pools


def _nodes_data() -> dict:
    session = get_session()
    doc, stale = queries.system_status(session)
    reported = {n["id"]: n for n in (doc or {}).get("nodes", [])}
    return {
        "nodes": queries.nodes(session),
        "reported": reported,
        "stale": stale,
        "running": queries.running_by_node(session),
        "pools": queries.pools(session),
        "auto_mode": queries.auto_mode(session),
    }


@bp.route("/console/nodes")
def nodes():
    return render_template("console/nodes.html", **_nodes_data())


@bp.route("/console/nodes/live")
def nodes_live():
    return render_template("console/_nodes_live.html", **_nodes_data())


@bp.route("/console/nodes/<int:node_id>/<action>", methods=["POST"])
def node_action(node_id: int, action: str):
    return _act(actions.node_action, node_id, action, request.form.get("pause_reason"))


@bp.route("/console/pools/<int:pool_id>/<action>", methods=["POST"])
def pool_action(pool_id: int, action: str):
    return _act(actions.pool_action, pool_id, action)


@bp.route("/console/auto-mode", methods=["POST"])
def auto_mode():
    return _act(actions.set_auto_mode, _flag("auto_mode"))


# ---------------------------------------------------------------- metrics


@bp.route("/console/metrics")
def metrics():
    from api.console import charts

    session = get_session()
    metric_types = services.metrics.METRIC_TYPES
    name = param_str("metric", "job-types", choices=list(metric_types))
    metric = metric_types[name]
    range_code = param_str("range", "P7D", choices=[code for code, _ in TIME_RANGES if code])
    choices = queries.metric_choices(session, metric)
    valid = {c.id for c in choices}
    selected = [i for i in param_int_list("choice_id") if i in valid]
    column_names = param_str_list("column")
    columns, unknown = services.metrics.select_columns(metric, column_names, [])
    if unknown:
        raise ApiError(400, f"Unknown columns for {metric.name}: {', '.join(unknown)}")
    if not column_names:
        columns = list(metric.columns)[:2]
    started = parse_timestamp("range", range_code)
    series = services.metrics.plot_data(session, metric, columns, selected or None, started, None)
    return render_template(
        "console/metrics.html",
        metric=metric,
        metric_types=metric_types,
        choices=choices,
        selected=selected,
        columns=columns,
        range_code=range_code,
        ranges=[r for r in TIME_RANGES if r[0]],
        charts=[charts.line_chart(s) for s in series],
    )


signin.register(bp)
