"""Creating recipes and moving their jobs along as parents finish. Every function works inside the caller's transaction.

There is no edge table: the dependencies come from the recipe type revision's definition and are re-evaluated
on every update, so an update is a pure function of the current job statuses (and therefore idempotent).
"""

from __future__ import annotations

import logging
from typing import Iterable

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Job, Recipe, RecipeJob, RecipeType, RecipeTypeRevision, TriggerEvent
from app.services.jobs import create_job, current_revision, disk_required, queue_jobs
from app.services.lookups import lookup_files, lookup_workspaces
from app.services.recipe_graphs import (  # noqa: F401  (blocked_or_pending stays part of this module's API)
    BLOCKING_STATUSES,
    WAITING_STATUSES,
    GraphCache,
    RecipeGraph,
    blocked_or_pending,
)
from app.services.recipe_types import job_types_of_definition
from app.specs.base import Collector, Problem, SpecError
from app.specs.job_data import input_file_ids, validate_job_data
from app.specs.job_interface import input_by_name, output_names, validate_job_interface
from app.specs.recipe_data import validate_recipe_data
from app.specs.recipe_definition import validate_recipe_definition
from app.states import JOB, RECIPE

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- definitions and revisions


def current_recipe_type_revision(session: Session, recipe_type: RecipeType) -> RecipeTypeRevision:
    rev = session.scalar(
        select(RecipeTypeRevision).where(
            RecipeTypeRevision.recipe_type_id == recipe_type.id,
            RecipeTypeRevision.revision_num == recipe_type.revision_num,
        )
    )
    if rev is None:  # a recipe type always has its revisions; repair rather than fail
        rev = RecipeTypeRevision(
            recipe_type_id=recipe_type.id, revision_num=recipe_type.revision_num, definition=recipe_type.definition
        )
        session.add(rev)
        session.flush()
    return rev


# ---------------------------------------------------------------- job data


def _entry_for(name: str, input_type: str, source: dict) -> dict:
    """A job data input entry named `name` carrying the value or files of `source`, shaped for `input_type`."""
    if "value" in source:
        return {"name": name, "value": source["value"]}
    file_ids = [source["file_id"]] if "file_id" in source else list(source.get("file_ids", []))
    if input_type == "file" and len(file_ids) == 1:
        return {"name": name, "file_id": file_ids[0]}
    # A "files" input, or a mismatch that validate_job_data reports (TOO_MANY_FILES).
    return {"name": name, "file_ids": file_ids}


def _assemble_job_data(
    recipe_job: dict, interface: dict, recipe_data: dict, parent_results: dict[str, dict | None]
) -> dict:
    """Job data from the recipe's inputs and the parents' results, before validation.

    Optional recipe inputs that were not given and optional outputs that were not produced are simply left out.
    """
    inputs = input_by_name(interface)
    given = {entry["name"]: entry for entry in recipe_data.get("input_data", [])}
    input_data: list[dict] = []
    for link in recipe_job.get("recipe_inputs", []):
        source = given.get(link["recipe_input"])
        spec = inputs.get(link["job_input"])
        if source is not None and spec is not None:
            input_data.append(_entry_for(link["job_input"], spec["type"], source))
    for dep in recipe_job.get("dependencies", []):
        produced = {entry["name"]: entry for entry in (parent_results.get(dep["name"]) or {}).get("output_data", [])}
        for conn in dep.get("connections", []):
            source = produced.get(conn["output"])
            spec = inputs.get(conn["input"])
            if source is not None and spec is not None:
                input_data.append(_entry_for(conn["input"], spec["type"], source))
    workspace_id = recipe_data.get("workspace_id")
    output_data = (
        [{"name": name, "workspace_id": workspace_id} for name in output_names(interface)]
        if workspace_id is not None
        else []
    )
    return {"version": "1.0", "input_data": input_data, "output_data": output_data}


def _validate_job_data(session: Session, data: dict, interface: dict) -> tuple[dict, list[Problem]]:
    return validate_job_data(
        data, interface, lookup_files=lookup_files(session), lookup_workspaces=lookup_workspaces(session)
    )


# ---------------------------------------------------------------- creation


def create_recipe(
    session: Session,
    recipe_type: RecipeType,
    data: dict | None,
    *,
    event: TriggerEvent | None = None,
    priority: int | None = None,
) -> tuple[Recipe, list[Problem]]:
    """Create a recipe of `recipe_type`'s current revision with one job per definition job, and queue the roots.

    Everything is validated before anything is inserted: invalid data (or a definition that no longer fits its
    job types) raises SpecError listing every problem, with nothing written. Returns (recipe, warnings).
    """
    rev = current_recipe_type_revision(session, recipe_type)
    job_types = {(jt.name, jt.version): jt for jt in job_types_of_definition(session, rev.definition)}
    revisions = {key: current_revision(session, jt) for key, jt in job_types.items()}
    interfaces = {key: revision.interface for key, revision in revisions.items()}
    definition, _ = validate_recipe_definition(rev.definition, lookup_job_types=lambda keys: interfaces)
    # The definition check above proved every interface valid; normalize them for the data checks.
    normalized = {key: validate_job_interface(interface) for key, interface in interfaces.items()}
    job_key = {job["name"]: (job["job_type"]["name"], job["job_type"]["version"]) for job in definition["jobs"]}
    job_interfaces = {name: normalized[key] for name, key in job_key.items()}

    recipe_data, warnings = validate_recipe_data(
        data,
        definition,
        job_interfaces=job_interfaces,
        lookup_files=lookup_files(session),
        lookup_workspaces=lookup_workspaces(session),
    )

    # Root jobs get their data now; validate all of it before writing so a failure leaves nothing behind.
    c = Collector()
    root_data: dict[str, dict] = {}
    for job in definition["jobs"]:
        if job["dependencies"]:
            continue
        assembled = _assemble_job_data(job, job_interfaces[job["name"]], recipe_data, {})
        try:
            root_data[job["name"]], job_warnings = _validate_job_data(session, assembled, job_interfaces[job["name"]])
        except SpecError as exc:
            c.absorb(exc, f"recipe job '{job['name']}'")
            continue
        c.absorb_warnings(job_warnings, f"recipe job '{job['name']}'")
    c.raise_if_any()
    warnings = list(warnings) + c.warnings

    now = utcnow()
    recipe = Recipe(
        recipe_type_id=recipe_type.id,
        recipe_type_rev_id=rev.id,
        event=event,  # flushed with the row (a new event needs no flush of its own)
        data=recipe_data,
        created=now,
        last_modified=now,
    )
    session.add(recipe)
    session.flush()
    for job in definition["jobs"]:
        name = job["name"]
        created, _ = create_job(
            session,
            job_types[job_key[name]],
            root_data.get(name),
            event=event,
            priority=priority,
            validated=True,
            revision=revisions[job_key[name]],
            flush=False,
        )
        recipe.recipe_jobs.append(RecipeJob(recipe_id=recipe.id, job_name=name, job=created, is_original=True))
    if not definition["jobs"]:
        RECIPE.move(recipe, "COMPLETED", now)  # nothing to run
    session.flush()
    roots = [rj.job.id for rj in recipe.recipe_jobs if rj.job_name in root_data]
    queue_jobs(session, roots)  # its ORM update also refreshes the Job objects held by recipe.recipe_jobs
    return recipe, warnings


# ---------------------------------------------------------------- updates


def _plan(graph: RecipeGraph, status: dict[str, str]) -> list[tuple[str, str, str]]:
    """(job name, from, to) for every waiting job whose parents call for another state, in dependency order.

    Each decision sees the decisions taken for its parents, so a block (or an unblock) runs down a whole
    chain in one pass.
    """
    current = dict(status)
    plan: list[tuple[str, str, str]] = []
    for name in graph.order:
        old = current.get(name)
        if old not in WAITING_STATUSES:
            continue
        parent_statuses = [current.get(p, "PENDING") for p in graph.parents_of.get(name, ())]
        if any(s in BLOCKING_STATUSES for s in parent_statuses):
            new = "BLOCKED"
        elif all(s == "COMPLETED" for s in parent_statuses):
            new = "QUEUED"
        else:
            new = "PENDING"
        if new != old:
            plan.append((name, old, new))
            current[name] = new
    return plan


def _set_waiting_status(session: Session, job_id: int, expected: str, status: str) -> bool:
    """Compare-and-set between PENDING and BLOCKED; False when someone else moved the job first."""
    result = JOB.compare_and_set(session, Job, [Job.id == job_id], status, sources={expected})
    return result.rowcount == 1


def _build_job_data(
    session: Session, recipe: Recipe, graph: RecipeGraph, name: str, job: Job, jobs_by_name: dict[str, Job]
) -> bool:
    """Fill in a ready job's data from the recipe data and its parents' results; False when it is invalid."""
    interface = validate_job_interface(job.job_type_rev.interface)
    recipe_job = graph.jobs[name]
    parent_results = {
        dep["name"]: jobs_by_name[dep["name"]].results
        for dep in recipe_job.get("dependencies", [])
        if dep["name"] in jobs_by_name
    }
    assembled = _assemble_job_data(recipe_job, interface, recipe.data or {}, parent_results)
    try:
        data, warnings = _validate_job_data(session, assembled, interface)
    except SpecError as exc:
        # Leave the job waiting: the reconcile retries, so fixing the cause (a workspace reactivated) lets it run.
        log.error("recipe %s job '%s' (job %s) cannot be queued, its data is invalid: %s", recipe.id, name, job.id, exc)
        return False
    for warning in warnings:
        log.warning("recipe %s job '%s' (job %s): %s", recipe.id, name, job.id, warning.message)
    file_ids = [fid for ids in input_file_ids(data).values() for fid in ids]
    input_bytes = sum(f["file_size"] for f in lookup_files(session)(file_ids).values())
    job.data = data
    job.disk_in_required, job.disk_out_required = disk_required(job.job_type, input_bytes)
    return True


def _update_recipe(session: Session, recipe: Recipe, graph: RecipeGraph) -> list[int]:
    # Statuses of every job, but whole rows (data, results) only for the jobs about to be queued and their parents.
    rows = session.execute(
        select(RecipeJob.job_name, Job.id, Job.status)
        .join(Job, Job.id == RecipeJob.job_id)
        .where(RecipeJob.recipe_id == recipe.id)
    ).all()
    job_ids = {name: job_id for name, job_id, _ in rows}
    status = {name: job_status for name, _, job_status in rows}
    plan = _plan(graph, status)
    wanted = {name for name, _, new in plan if new == "QUEUED"}
    wanted |= {p for name in list(wanted) for p in graph.parents_of.get(name, ())}
    jobs_by_name: dict[str, Job] = {}
    if wanted:
        by_id = {job_ids[name]: name for name in wanted if name in job_ids}
        for job in session.scalars(
            select(Job).where(Job.id.in_(list(by_id))).execution_options(populate_existing=True)
        ):
            jobs_by_name[by_id[job.id]] = job

    to_queue: list[int] = []
    for name, old, new in plan:
        if new == "QUEUED":
            job = jobs_by_name[name]
            if job.data is not None or _build_job_data(session, recipe, graph, name, job, jobs_by_name):
                to_queue.append(job.id)
                continue
            # Invalid data: keep it waiting, as PENDING so its children (planned as PENDING) stay consistent.
            new = "PENDING"
            if old == new:
                continue
        _set_waiting_status(session, job_ids[name], old, new)
    queued = queue_jobs(session, to_queue)

    all_completed = all(s == "COMPLETED" for s in status.values())
    if all_completed and recipe.completed is None:
        RECIPE.move(recipe, "COMPLETED")
    elif not all_completed and recipe.completed is not None:
        RECIPE.move(recipe, "RUNNING")  # a job of a completed recipe is running again
    return queued


def update_recipes(session: Session, recipe_ids: Iterable[int]) -> list[int]:
    """Move every recipe's waiting jobs along (queue, block, unblock) and mark finished recipes completed.

    Idempotent: transitions are compare-and-set, and a second run finds nothing left to do. Returns the ids of
    the jobs it queued.
    """
    graphs = GraphCache(session)
    queued: list[int] = []
    for recipe_id in sorted(set(recipe_ids)):  # one lock order for every caller
        # Serializes updates of one recipe on PostgreSQL; SQLite already serializes writers.
        recipe = session.scalar(
            select(Recipe).where(Recipe.id == recipe_id).with_for_update().execution_options(populate_existing=True)
        )
        if recipe is None:
            continue
        try:
            graph = graphs.get(recipe.recipe_type_rev_id)
        except SpecError as exc:  # a stored definition no longer readable: skip it, keep the others moving
            log.error("recipe %s: cannot read its definition: %s", recipe_id, exc)
            continue
        queued.extend(_update_recipe(session, recipe, graph))
    session.flush()
    return queued


def recipes_needing_update(session: Session, limit: int = 1000) -> list[int]:
    """Unfinished recipes an update would change (lost messages leave them behind), oldest first.

    A recipe qualifies when a waiting job is due to be queued, blocked or unblocked, or when every job is
    COMPLETED but the recipe is not marked completed.
    """
    waiting_job = exists().where(
        RecipeJob.recipe_id == Recipe.id, RecipeJob.job_id == Job.id, Job.status.in_(WAITING_STATUSES)
    )
    unfinished_job = exists().where(
        RecipeJob.recipe_id == Recipe.id, RecipeJob.job_id == Job.id, Job.status != "COMPLETED"
    )
    candidates = (
        select(Recipe.id, Recipe.recipe_type_rev_id)
        .where(Recipe.completed.is_(None), waiting_job | ~unfinished_job)
        .order_by(Recipe.id)
    )

    graphs = GraphCache(session)
    found: list[int] = []
    batch_size = 500
    last_id = 0
    while len(found) < limit:
        batch = session.execute(candidates.where(Recipe.id > last_id).limit(batch_size)).all()
        if not batch:
            break
        last_id = batch[-1].id
        statuses: dict[int, dict[str, str]] = {r.id: {} for r in batch}
        for recipe_id, job_name, job_status in session.execute(
            select(RecipeJob.recipe_id, RecipeJob.job_name, Job.status)
            .join(Job, Job.id == RecipeJob.job_id)
            .where(RecipeJob.recipe_id.in_(list(statuses)))
        ):
            statuses[recipe_id][job_name] = job_status
        for recipe_id, rev_id in batch:
            status = statuses[recipe_id]
            if all(s == "COMPLETED" for s in status.values()):
                found.append(recipe_id)
                continue
            try:
                graph = graphs.get(rev_id)
            except SpecError:
                continue  # update_recipes logs it; nothing it can do
            if _plan(graph, status):
                found.append(recipe_id)
        if len(batch) < batch_size:
            break
    return found[:limit]
