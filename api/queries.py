"""Queries and JSON shapes shared by the list and detail endpoints (jobs, executions, recipes, queue, load):
job details, execution summaries, expanded inputs and recipe summaries are built here once, so queue and
recipe responses stay identical to the job endpoints'."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, defer, joinedload, load_only, selectinload

from api import serializers as ser
from api.scheduling_reasons import job_scheduling
from api.common import (
    apply_order,
    filter_in,
    filter_time,
    iso,
    not_found,
    page_params,
    param_int_list,
    param_str_list,
    repeated_param,
    time_range,
)
from app.models import (
    ERROR_CATEGORIES,
    JOB_STATUSES,
    Error,
    Job,
    JobExecution,
    JobType,
    JobTypeRevision,
    Node,
    Recipe,
    RecipeJob,
    RecipeTypeRevision,
    ScaleFile,
    TriggerEvent,
)
from app.specs.job_data import input_file_ids

JOB_TYPE_PARAMS = {
    "job_type_id": repeated_param("Job type id", "integer"),
    "job_type_name": repeated_param("Job type name"),
    "job_type_category": repeated_param("Job type category"),
}


# ---------------------------------------------------------------- query helpers shared by list endpoints


def count_of(stmt: Select) -> Select:
    """COUNT(*) over the filtered statement's own FROM/WHERE: no eager loads, no ordering."""
    return stmt.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)


def related(column, criterion, outer) -> Any:
    """A scalar subquery correlated to the listed rows' table (`outer`) only, so ordering by a related name
    needs no join in the page query, and still has its own FROM when a filter joins the same table."""
    return select(column).where(criterion).correlate(outer).scalar_subquery()


def _related(column, criterion) -> Any:
    return related(column, criterion, Job)


def _job_type_column(column) -> Any:
    return _related(column, JobType.id == Job.job_type_id)


JOB_ORDER_FIELDS: dict[str, Any] = {name: getattr(Job, name) for name in ser.JOB_BASE}
JOB_ORDER_FIELDS.update(
    {
        "job_type": Job.job_type_id,
        "job_type__id": Job.job_type_id,
        "job_type__name": _job_type_column(JobType.name),
        "job_type__version": _job_type_column(JobType.version),
        "job_type__title": _job_type_column(JobType.title),
        "job_type__category": _job_type_column(JobType.category),
        "job_type__priority": _job_type_column(JobType.priority),
        "error__name": _related(Error.name, Error.id == Job.error_id),
        "error__category": _related(Error.category, Error.id == Job.error_id),
        "event__type": _related(TriggerEvent.type, TriggerEvent.id == Job.event_id),
        "event__occurred": _related(TriggerEvent.occurred, TriggerEvent.id == Job.event_id),
    }
)


def job_type_ids_matching(names: Sequence[str], categories: Sequence[str]) -> Any | None:
    """Job type ids by name and/or category, as a subquery (filters then use the job_type_id indexes)."""
    if not names and not categories:
        return None
    stmt = select(JobType.id)
    stmt = filter_in(stmt, JobType.name, names)
    stmt = filter_in(stmt, JobType.category, categories)
    return stmt


def filter_job_types(
    stmt: Select,
    column,
    *,
    ids_param: str = "job_type_id",
    names_param: str = "job_type_name",
    categories_param: str = "job_type_category",
) -> Select:
    """The job_type_id / job_type_name / job_type_category filters on a job_type_id column."""
    stmt = filter_in(stmt, column, param_int_list(ids_param))
    matching = job_type_ids_matching(param_str_list(names_param), param_str_list(categories_param))
    if matching is not None:
        stmt = stmt.where(column.in_(matching))
    return stmt


def filtered_jobs(time_column=Job.last_modified, with_job_ids: bool = True) -> Select:
    """select(Job) with the list filters of the request applied."""
    stmt = select(Job)
    stmt = filter_in(stmt, Job.status, param_str_list("status", JOB_STATUSES))
    if with_job_ids:
        stmt = filter_in(stmt, Job.id, param_int_list("job_id"))
    stmt = filter_job_types(stmt, Job.job_type_id)
    error_categories = param_str_list("error_category", ERROR_CATEGORIES)
    if error_categories:
        stmt = stmt.where(Job.error_id.in_(filter_in(select(Error.id), Error.category, error_categories)))
    started, ended = time_range()
    return filter_time(stmt, time_column, started, ended)


def fetch_page(
    session: Session,
    filtered: Select,
    id_column,
    columns: Sequence,
    order_fields: Mapping[str, Any],
    default_order: Sequence[str],
) -> tuple[list, int, int, int]:
    """One page of plain `columns` rows: (rows, count, page, page_size).

    The page's ids are picked first from the (usually covering) index, so a deep OFFSET skips index
    entries rather than table rows; the rows are then read by primary key. A partly filled page
    gives the exact count without a COUNT query.
    """
    page, page_size = page_params()
    ids_stmt = apply_order(
        filtered.with_only_columns(id_column, maintain_column_froms=True), order_fields, default_order, id_column.asc()
    )
    ids = session.scalars(ids_stmt.limit(page_size).offset((page - 1) * page_size)).all()
    rows = session.execute(select(*columns).where(id_column.in_(ids))).all() if ids else []
    position = {ident: n for n, ident in enumerate(ids)}
    rows.sort(key=lambda row: position[row.id])
    if 0 < len(ids) < page_size or (not ids and page == 1):
        count = (page - 1) * page_size + len(ids)
    else:
        count = session.scalar(count_of(filtered)) or 0
    return rows, count, page, page_size


# ---------------------------------------------------------------- rows -> JSON (the list hot path)
# Lists read plain columns instead of ORM objects and serialize each related row (job type, error...)
# once per page; the shapes are those of serializers.job, job_brief and job_exe (tests compare them).

JOB_COLUMNS = (
    Job.id,
    Job.job_type_id,
    Job.job_type_rev_id,
    Job.event_id,
    Job.error_id,
    *(getattr(Job, name) for name in ser.JOB_BASE if name != "id"),
)
EXE_COLUMNS = (
    JobExecution.id,
    JobExecution.job_id,
    JobExecution.node_id,
    JobExecution.error_id,
    *(getattr(JobExecution, name) for name in ser.EXE_TIMES),
)


def row_fields(row, names: Sequence[str]) -> dict[str, Any]:
    values, out = row._mapping, {}
    for name in names:
        value = values[name]
        out[name] = iso(value) if isinstance(value, datetime) else value
    return out


def related_json(
    session: Session, model, ids: Iterable[int | None], serialize: Callable[[Any], dict], *options
) -> dict[int, dict]:
    """{id: serialize(row)} for the distinct non-null ids, in one query."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {
        obj.id: serialize(obj) for obj in session.scalars(select(model).where(model.id.in_(wanted)).options(*options))
    }


def jobs_json(session: Session, rows: Sequence) -> list[dict]:
    """Job rows (JOB_COLUMNS) in the serializers.job shape."""
    job_types = related_json(session, JobType, (r.job_type_id for r in rows), ser.job_type_base)
    revisions = related_json(
        session,
        JobTypeRevision,
        (r.job_type_rev_id for r in rows),
        ser.job_type_rev,
        load_only(JobTypeRevision.id, JobTypeRevision.job_type_id, JobTypeRevision.revision_num),
    )
    events = related_json(
        session, TriggerEvent, (r.event_id for r in rows), ser.trigger_event, selectinload(TriggerEvent.rule)
    )
    errors = related_json(session, Error, (r.error_id for r in rows), ser.error)
    names = tuple(name for name in ser.JOB_BASE if name != "id")
    return [
        {
            "id": r.id,
            "job_type": job_types.get(r.job_type_id),
            "job_type_rev": revisions.get(r.job_type_rev_id),
            "event": events.get(r.event_id),
            "error": errors.get(r.error_id),
            **row_fields(r, names),
        }
        for r in rows
    ]


def job_briefs_json(session: Session, job_ids: Iterable[int]) -> dict[int, dict]:
    """{job id: the serializers.job_brief shape} for the given jobs."""
    wanted = set(job_ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(
            Job.id,
            Job.job_type_id,
            Job.job_type_rev_id,
            Job.event_id,
            Job.error_id,
            Job.status,
            Job.priority,
            Job.num_exes,
        ).where(Job.id.in_(wanted))
    ).all()
    job_types = related_json(session, JobType, (r.job_type_id for r in rows), ser.job_type_base)
    errors = related_json(session, Error, (r.error_id for r in rows), ser.error)
    return {
        r.id: {
            "id": r.id,
            "job_type": job_types.get(r.job_type_id),
            "job_type_rev": {"id": r.job_type_rev_id},
            "event": {"id": r.event_id},
            "error": errors.get(r.error_id),
            "status": r.status,
            "priority": r.priority,
            "num_exes": r.num_exes,
        }
        for r in rows
    }


def executions_json(session: Session, rows: Sequence) -> list[dict]:
    """Execution rows (EXE_COLUMNS) in the serializers.job_exe shape, with the job only by id."""
    nodes = related_json(session, Node, (r.node_id for r in rows), ser.node_brief)
    errors = related_json(session, Error, (r.error_id for r in rows), ser.error)
    return [
        {
            "id": r.id,
            **row_fields(r, ser.EXE_TIMES),
            "job": {"id": r.job_id},
            "node": nodes.get(r.node_id),
            "error": errors.get(r.error_id),
        }
        for r in rows
    ]


# ---------------------------------------------------------------- shapes shared with queue and recipes


def event_detail(ev: TriggerEvent | None) -> dict | None:
    """A trigger event with its full rule and description (detail views)."""
    out = ser.trigger_event(ev)
    if out is None:
        return None
    if ev.rule is not None:
        out["rule"] = ser.trigger_rule(ev.rule)
    out["description"] = ev.description
    return out


def recipe_summary(recipe: Recipe) -> dict:
    rev = recipe.recipe_type_rev
    return {
        "id": recipe.id,
        "recipe_type": ser.recipe_type_base(recipe.recipe_type),
        "recipe_type_rev": {"id": rev.id, "recipe_type": {"id": rev.recipe_type_id}, "revision_num": rev.revision_num},
        "event": ser.trigger_event(recipe.event),
        "created": iso(recipe.created),
        "completed": iso(recipe.completed),
        "last_modified": iso(recipe.last_modified),
    }


RECIPE_SUMMARY_OPTIONS = (
    selectinload(Recipe.recipe_type),
    selectinload(Recipe.recipe_type_rev).load_only(
        RecipeTypeRevision.id, RecipeTypeRevision.recipe_type_id, RecipeTypeRevision.revision_num
    ),
    selectinload(Recipe.event).selectinload(TriggerEvent.rule),
)


def load_files(session: Session, ids: Iterable[int]) -> dict[int, ScaleFile]:
    """Files by id with their workspaces (for URLs), in batches that stay under parameter limits."""
    ids = sorted(set(ids))
    files: dict[int, ScaleFile] = {}
    for start in range(0, len(ids), 500):
        batch = ids[start : start + 500]
        files.update(
            (f.id, f)
            for f in session.scalars(
                select(ScaleFile).options(selectinload(ScaleFile.workspace)).where(ScaleFile.id.in_(batch))
            )
        )
    return files


def data_file_ids(data: Mapping | None) -> list[int]:
    """Every input file id of job or recipe data, in the order given."""
    return [fid for ids in input_file_ids(data or {}).values() for fid in ids]


def result_file_ids(results: Mapping | None) -> list[int]:
    return data_file_ids({"input_data": (results or {}).get("output_data", [])})


def merged_values(
    specs: Iterable[Mapping],
    entries: Iterable[Mapping] | None,
    files: Mapping[int, ScaleFile],
    file_json: Callable[[ScaleFile], dict],
) -> list[dict]:
    """Interface inputs (or outputs) with the values the data (or results) entries gave them; files expanded."""
    given = {e.get("name"): e for e in entries or []}
    out = []
    for spec in specs:
        entry = given.get(spec.get("name")) or {}
        value: Any = None
        if "value" in entry:
            value = entry["value"]
        elif "file_id" in entry:
            f = files.get(entry["file_id"])
            value = file_json(f) if f is not None else None
        elif "file_ids" in entry:
            value = [file_json(files[i]) for i in entry["file_ids"] if i in files]
        out.append({"name": spec.get("name"), "type": spec.get("type"), "value": value})
    return out


def input_files_json(data: Mapping | None, files: Mapping[int, ScaleFile]) -> list[dict]:
    return [ser.scale_file(files[i]) for i in dict.fromkeys(data_file_ids(data)) if i in files]


def job_with_full_revision(job: Job) -> dict:
    out = ser.job(job)
    out["job_type_rev"] = ser.job_type_rev(job.job_type_rev, full=True)
    return out


def job_details(session: Session, job_id: int, just_created: bool = False) -> dict:
    """GET /jobs/<id>/ (also the body of queue and cancel responses).

    A job created by this very request has no recipe or product yet (only its QUEUED execution):
    `just_created` skips those two queries on the hot path of POST /queue/new-job/.
    """
    job = session.scalar(
        select(Job)
        .where(Job.id == job_id)
        .execution_options(populate_existing=True)
        .options(
            joinedload(Job.job_type),
            joinedload(Job.job_type_rev),
            joinedload(Job.event).joinedload(TriggerEvent.rule),
            joinedload(Job.error),
        )
    )
    if job is None:
        raise not_found("Job", job_id)
    out = job_with_full_revision(job)
    out["job_type"] = ser.job_type(job.job_type)
    out["event"] = event_detail(job.event)
    out["data"] = job.data
    out["results"] = job.results

    interface = job.job_type_rev.interface or {}
    files = load_files(session, data_file_ids(job.data) + result_file_ids(job.results))
    out["input_files"] = input_files_json(job.data, files)
    out["inputs"] = merged_values(
        interface.get("input_data", []), (job.data or {}).get("input_data"), files, ser.scale_file
    )
    out["outputs"] = merged_values(
        interface.get("output_data", []),
        (job.results or {}).get("output_data"),
        files,
        lambda f: ser.product_file(f, job.job_type),
    )

    exes = session.execute(select(*EXE_COLUMNS).where(JobExecution.job_id == job.id).order_by(JobExecution.id.desc()))
    out["job_exes"] = executions_json(session, exes.all())
    out["scheduling"] = job_scheduling(session, job, just_queued=just_created)
    if just_created:
        out.update(recipes=[], products=[])
        return out
    recipes = (
        session.scalars(
            select(Recipe)
            .join(RecipeJob, RecipeJob.recipe_id == Recipe.id)
            .where(RecipeJob.job_id == job.id)
            .options(*RECIPE_SUMMARY_OPTIONS, defer(Recipe.data))
            .order_by(Recipe.id)
        )
        .unique()
        .all()
    )
    out["recipes"] = [recipe_summary(r) for r in recipes]

    products = session.scalars(
        select(ScaleFile)
        .where(ScaleFile.job_id == job.id, ScaleFile.file_type == "PRODUCT")
        .options(selectinload(ScaleFile.workspace))
        .order_by(ScaleFile.id)
    ).all()
    out["products"] = [ser.product_file(p, job.job_type) for p in products]
    return out
