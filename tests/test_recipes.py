"""Recipes at the database level: creation, data flowing from parents to children, blocking and unblocking.

Job executions are simulated: a job the recipe queued is marked COMPLETED (with product files as its results)
or FAILED directly, then the recipe update runs as the Celery task would run it.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from app.models import (
    Job,
    JobType,
    JobTypeRevision,
    Recipe,
    RecipeJob,
    RecipeType,
    RecipeTypeRevision,
    ScaleFile,
    Workspace,
)
from app.services import jobs as job_service
from app.services.recipes import blocked_or_pending, create_recipe, recipes_needing_update, update_recipes
from app.specs.base import SpecError

# The specification's example: make_geotiff.py feeds detect_points.py.
from tests.test_specs_examples import (
    DETECT_POINTS_INTERFACE as DETECT_INTERFACE,
    MAKE_GEOTIFF_INTERFACE as GEOTIFF_INTERFACE,
    RECIPE_DEFINITION as GEOTIFF_RECIPE,
)

# A generic step: one required file in, an optional second file in, one file out.
STAGE_INTERFACE = {
    "version": "1.0",
    "command": "stage",
    "command_arguments": "${first} ${second} ${job_output_dir}",
    "input_data": [
        {"name": "first", "type": "file"},
        {"name": "second", "type": "file", "required": False},
    ],
    "output_data": [{"name": "out", "type": "file", "media_type": "application/octet-stream"}],
}


def graph_definition(edges: dict[str, list[str]]) -> dict:
    """A recipe of stage jobs; `edges` maps each job to its parents (at most two: fed to first and second)."""
    jobs = []
    for name, parent_names in edges.items():
        job = {"name": name, "job_type": {"name": "stage", "version": "1.0"}}
        if parent_names:
            job["dependencies"] = [
                {"name": parent, "connections": [{"output": "out", "input": slot}]}
                for parent, slot in zip(parent_names, ("first", "second"))
            ]
        else:
            job["recipe_inputs"] = [{"recipe_input": "source", "job_input": "first"}]
        jobs.append(job)
    return {"version": "1.0", "input_data": [{"name": "source", "type": "file"}], "jobs": jobs}


# ---------------------------------------------------------------- helpers


def add_workspace(session, name="products") -> Workspace:
    ws = Workspace(name=name, title=name, is_active=True, json_config={"version": "1.0", "broker": {"type": "host"}})
    session.add(ws)
    session.flush()
    return ws


def add_job_type(session, name: str, version: str, interface: dict) -> JobType:
    jt = JobType(name=name, version=version, interface=interface, revision_num=1)
    session.add(jt)
    session.flush()
    session.add(JobTypeRevision(job_type_id=jt.id, revision_num=1, interface=interface))
    session.flush()
    return jt


def add_recipe_type(session, name: str, definition: dict) -> RecipeType:
    rt = RecipeType(name=name, version="1.0", definition=definition, revision_num=1)
    session.add(rt)
    session.flush()
    session.add(RecipeTypeRevision(recipe_type_id=rt.id, revision_num=1, definition=definition))
    session.flush()
    return rt


def add_file(
    session, ws: Workspace, name: str, media_type: str, *, job: Job | None = None, size=3 * 1024 * 1024
) -> ScaleFile:
    f = ScaleFile(
        file_type="PRODUCT" if job else "SOURCE",
        file_name=name,
        media_type=media_type,
        file_size=size,
        workspace_id=ws.id,
        job_id=job.id if job else None,
        job_type_id=job.job_type_id if job else None,
    )
    session.add(f)
    session.flush()
    return f


def recipe_jobs(session, recipe: Recipe) -> dict[str, Job]:
    rows = session.execute(
        select(RecipeJob.job_name, Job)
        .join(Job, Job.id == RecipeJob.job_id)
        .where(RecipeJob.recipe_id == recipe.id)
        .execution_options(populate_existing=True)
    ).all()
    return {name: job for name, job in rows}


def statuses(session, recipe: Recipe) -> dict[str, str]:
    return {name: job.status for name, job in recipe_jobs(session, recipe).items()}


def complete(session, job: Job, ws: Workspace, outputs: dict[str, str] | None = None) -> dict[str, int]:
    """Finish a job the recipe queued as the post step would: products recorded as results. Returns file ids."""
    assert job.status == "QUEUED", f"job {job.id} is {job.status}, the recipe never queued it"
    outputs = outputs if outputs is not None else {"out": "application/octet-stream"}
    file_ids = {
        name: add_file(session, ws, f"{name}-{job.id}.bin", media_type, job=job).id
        for name, media_type in outputs.items()
    }
    now = utcnow()
    job.status, job.num_exes, job.started, job.ended, job.last_status_change = "COMPLETED", 1, now, now, now
    job.results = {"version": "1.0", "output_data": [{"name": n, "file_id": fid} for n, fid in file_ids.items()]}
    session.flush()
    return file_ids


def fail(session, job: Job) -> None:
    assert job.status == "QUEUED", f"job {job.id} is {job.status}, the recipe never queued it"
    now = utcnow()
    job.status, job.num_exes, job.started, job.ended, job.last_status_change = "FAILED", 1, now, now, now
    session.flush()


def updated(session, recipe: Recipe) -> list[int]:
    """One recipe update message, committed like the Celery task commits it."""
    queued = update_recipes(session, [recipe.id])
    session.commit()
    return queued


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def stage_setup(session):
    ws = add_workspace(session)
    add_job_type(session, "stage", "1.0", STAGE_INTERFACE)
    source = add_file(session, ws, "source.bin", "application/octet-stream")
    session.commit()
    return ws, source


def new_graph_recipe(session, ws, source, edges: dict[str, list[str]], name="graph") -> Recipe:
    rt = add_recipe_type(session, name, graph_definition(edges))
    recipe, _ = create_recipe(
        session, rt, {"version": "1.0", "input_data": [{"name": "source", "file_id": source.id}], "workspace_id": ws.id}
    )
    session.commit()
    return recipe


# ---------------------------------------------------------------- creation


def test_create_recipe_queues_roots_and_leaves_the_rest_pending(session, stage_setup):
    ws, source = stage_setup
    recipe = new_graph_recipe(session, ws, source, {"A": [], "B": ["A"], "C": ["A"], "D": ["B", "C"], "E": []})

    # The returned recipe already shows what the caller (the API) serializes.
    assert {rj.job_name: rj.job.status for rj in recipe.recipe_jobs} == {
        "A": "QUEUED",
        "B": "PENDING",
        "C": "PENDING",
        "D": "PENDING",
        "E": "QUEUED",
    }
    assert statuses(session, recipe) == {"A": "QUEUED", "B": "PENDING", "C": "PENDING", "D": "PENDING", "E": "QUEUED"}
    jobs = recipe_jobs(session, recipe)
    assert jobs["A"].data == {
        "version": "1.0",
        "input_data": [{"name": "first", "file_id": source.id}],
        "output_data": [{"name": "out", "workspace_id": ws.id}],
    }
    assert jobs["A"].queued is not None and jobs["A"].disk_in_required == 3.0
    assert jobs["B"].data is None and jobs["B"].queued is None
    assert recipe.completed is None
    assert recipe.data["workspace_id"] == ws.id
    assert sorted(rj.job_name for rj in recipe.recipe_jobs) == ["A", "B", "C", "D", "E"]


def test_invalid_recipe_data_lists_every_problem_and_writes_nothing(session):
    ws = add_workspace(session)
    add_job_type(session, "geotiff-maker", "1.2.3", GEOTIFF_INTERFACE)
    add_job_type(session, "point-detector", "4.5.6", DETECT_INTERFACE)
    rt = add_recipe_type(session, "geotiff", GEOTIFF_RECIPE)
    png = add_file(session, ws, "image.png", "image/png")
    session.commit()
    jobs_before = count(session, Job)

    with pytest.raises(SpecError) as caught:
        create_recipe(
            session,
            rt,
            {
                "version": "1.0",
                "input_data": [{"name": "image", "file_id": png.id}, {"name": "colour", "value": "red"}],
                "workspace_id": 9999,
            },
        )

    ids = set(caught.value.ids)
    assert {"MISSING_REQUIRED_INPUT", "UNKNOWN_INPUT", "UNKNOWN_WORKSPACE"} <= ids, caught.value.to_dict()
    assert "georeference_data" in str(caught.value)
    assert count(session, Recipe) == 0 and count(session, RecipeJob) == 0 and count(session, Job) == jobs_before


def test_recipe_type_using_a_missing_job_type_is_refused_without_writing(session):
    ws = add_workspace(session)
    add_job_type(session, "geotiff-maker", "1.2.3", GEOTIFF_INTERFACE)  # point-detector 4.5.6 does not exist
    rt = add_recipe_type(session, "geotiff", GEOTIFF_RECIPE)
    png, csv = add_file(session, ws, "image.png", "image/png"), add_file(session, ws, "ref.csv", "text/csv")
    session.commit()

    with pytest.raises(SpecError) as caught:
        create_recipe(
            session,
            rt,
            {
                "input_data": [{"name": "image", "file_id": png.id}, {"name": "georeference_data", "file_id": csv.id}],
                "workspace_id": ws.id,
            },
        )

    assert "UNKNOWN_JOB_TYPE" in caught.value.ids
    assert count(session, Recipe) == 0 and count(session, Job) == 0


def test_spec_example_passes_the_geotiff_to_detect_points(session, caplog):
    ws = add_workspace(session)
    add_job_type(session, "geotiff-maker", "1.2.3", GEOTIFF_INTERFACE)
    add_job_type(session, "point-detector", "4.5.6", DETECT_INTERFACE)
    rt = add_recipe_type(session, "geotiff", GEOTIFF_RECIPE)
    png, csv = add_file(session, ws, "image.png", "image/png"), add_file(session, ws, "ref.csv", "text/csv")
    session.commit()

    recipe, warnings = create_recipe(
        session,
        rt,
        {
            "version": "1.0",
            "input_data": [{"name": "image", "file_id": png.id}, {"name": "georeference_data", "file_id": csv.id}],
            "workspace_id": ws.id,
        },
        priority=42,
    )
    session.commit()
    assert warnings == []
    jobs = recipe_jobs(session, recipe)
    assert statuses(session, recipe) == {"make_geotiff": "QUEUED", "detect_points": "PENDING"}
    assert jobs["make_geotiff"].priority == 42 and jobs["detect_points"].priority == 42
    assert jobs["make_geotiff"].data["input_data"] == [
        {"name": "image", "file_id": png.id},
        {"name": "georeference_data", "file_id": csv.id},
    ]

    produced = complete(session, jobs["make_geotiff"], ws, {"geo_image": "image/tiff"})
    with caplog.at_level(logging.WARNING, logger="app.services.recipes"):
        queued = updated(session, recipe)

    detect = recipe_jobs(session, recipe)["detect_points"]
    assert queued == [detect.id]
    assert detect.status == "QUEUED"
    assert detect.data == {
        "version": "1.0",
        "input_data": [{"name": "image", "file_id": produced["geo_image"]}],
        "output_data": [{"name": "geo_image", "workspace_id": ws.id}],
    }
    assert detect.disk_in_required == 3.0  # sized from the parent's product
    assert "Invalid media type" not in caplog.text

    complete(session, detect, ws, {"geo_image": "application/vnd.geo+json"})
    updated(session, recipe)
    session.refresh(recipe)
    assert recipe.completed is not None


def test_parent_output_with_unexpected_media_type_is_a_logged_warning(session, caplog):
    ws = add_workspace(session)
    add_job_type(session, "geotiff-maker", "1.2.3", GEOTIFF_INTERFACE)
    add_job_type(session, "point-detector", "4.5.6", DETECT_INTERFACE)
    rt = add_recipe_type(session, "geotiff", GEOTIFF_RECIPE)
    png, csv = add_file(session, ws, "image.png", "image/png"), add_file(session, ws, "ref.csv", "text/csv")
    recipe, _ = create_recipe(
        session,
        rt,
        {
            "input_data": [{"name": "image", "file_id": png.id}, {"name": "georeference_data", "file_id": csv.id}],
            "workspace_id": ws.id,
        },
    )
    session.commit()

    complete(session, recipe_jobs(session, recipe)["make_geotiff"], ws, {"geo_image": "image/jpeg"})
    with caplog.at_level(logging.WARNING, logger="app.services.recipes"):
        updated(session, recipe)

    assert statuses(session, recipe)["detect_points"] == "QUEUED"
    assert "Invalid media type for data input: image -> image/jpeg" in caplog.text


# ---------------------------------------------------------------- dependencies


def test_diamond_queues_the_join_only_after_both_branches(session, stage_setup):
    ws, source = stage_setup
    recipe = new_graph_recipe(session, ws, source, {"A": [], "B": ["A"], "C": ["A"], "D": ["B", "C"]})
    jobs = recipe_jobs(session, recipe)

    a_out = complete(session, jobs["A"], ws)["out"]
    assert sorted(updated(session, recipe)) == sorted([jobs["B"].id, jobs["C"].id])
    assert statuses(session, recipe) == {"A": "COMPLETED", "B": "QUEUED", "C": "QUEUED", "D": "PENDING"}
    assert jobs["B"].data["input_data"] == [{"name": "first", "file_id": a_out}]

    b_out = complete(session, jobs["B"], ws)["out"]
    assert updated(session, recipe) == []
    assert statuses(session, recipe)["D"] == "PENDING"

    c_out = complete(session, jobs["C"], ws)["out"]
    assert updated(session, recipe) == [jobs["D"].id]
    d = recipe_jobs(session, recipe)["D"]
    assert d.status == "QUEUED"
    assert d.data["input_data"] == [{"name": "first", "file_id": b_out}, {"name": "second", "file_id": c_out}]

    session.refresh(recipe)
    assert recipe.completed is None
    complete(session, d, ws)
    updated(session, recipe)
    session.refresh(recipe)
    assert recipe.completed is not None


def test_failure_blocks_only_its_branch_and_requeue_unblocks_it(session, stage_setup):
    ws, source = stage_setup
    recipe = new_graph_recipe(
        session, ws, source, {"A": [], "B": ["A"], "C": ["A"], "D": ["B"], "F": ["D"], "E": ["C"]}
    )
    jobs = recipe_jobs(session, recipe)
    complete(session, jobs["A"], ws)
    updated(session, recipe)

    fail(session, jobs["B"])
    assert updated(session, recipe) == []
    assert statuses(session, recipe) == {
        "A": "COMPLETED",
        "B": "FAILED",
        "C": "QUEUED",
        "D": "BLOCKED",
        "F": "BLOCKED",
        "E": "PENDING",
    }

    # The other branch runs to the end.
    complete(session, jobs["C"], ws)
    assert updated(session, recipe) == [jobs["E"].id]
    complete(session, jobs["E"], ws)
    updated(session, recipe)
    session.refresh(recipe)
    assert statuses(session, recipe)["D"] == "BLOCKED"
    assert recipe.completed is None

    # Requeue the failed job: it runs again and its descendants wait for it instead of staying blocked.
    session.refresh(jobs["B"])
    assert job_service.requeue_jobs(session, [jobs["B"].id]) == [jobs["B"].id]
    session.commit()
    updated(session, recipe)
    assert statuses(session, recipe) == {
        "A": "COMPLETED",
        "B": "QUEUED",
        "C": "COMPLETED",
        "D": "PENDING",
        "F": "PENDING",
        "E": "COMPLETED",
    }

    b_out = complete(session, recipe_jobs(session, recipe)["B"], ws)["out"]
    jobs = recipe_jobs(session, recipe)
    assert updated(session, recipe) == [jobs["D"].id]
    assert jobs["D"].data["input_data"] == [{"name": "first", "file_id": b_out}]
    complete(session, jobs["D"], ws)
    updated(session, recipe)
    complete(session, recipe_jobs(session, recipe)["F"], ws)
    updated(session, recipe)
    session.refresh(recipe)
    assert set(statuses(session, recipe).values()) == {"COMPLETED"}
    assert recipe.completed is not None


def test_cancel_blocks_descendants_and_requeue_unblocks_them(session, stage_setup):
    ws, source = stage_setup
    recipe = new_graph_recipe(session, ws, source, {"A": [], "B": ["A"], "C": ["B"], "X": []})
    jobs = recipe_jobs(session, recipe)

    assert job_service.cancel_jobs(session, [jobs["A"].id]) == [jobs["A"].id]
    session.commit()
    updated(session, recipe)
    assert statuses(session, recipe) == {"A": "CANCELED", "B": "BLOCKED", "C": "BLOCKED", "X": "QUEUED"}

    job_service.requeue_jobs(session, [jobs["A"].id])
    session.commit()
    assert statuses(session, recipe)["A"] == "QUEUED"  # a root with its data: straight back on the queue
    updated(session, recipe)
    assert statuses(session, recipe) == {"A": "QUEUED", "B": "PENDING", "C": "PENDING", "X": "QUEUED"}

    complete(session, recipe_jobs(session, recipe)["A"], ws)
    assert updated(session, recipe) == [jobs["B"].id]


def test_requeue_of_a_job_canceled_before_its_data_was_built_waits_for_the_update(session, stage_setup):
    ws, source = stage_setup
    recipe = new_graph_recipe(session, ws, source, {"A": [], "B": ["A"]})
    jobs = recipe_jobs(session, recipe)
    job_service.cancel_jobs(session, [jobs["B"].id])  # canceled while still PENDING
    session.commit()

    a_out = complete(session, jobs["A"], ws)["out"]
    assert updated(session, recipe) == []
    assert statuses(session, recipe) == {"A": "COMPLETED", "B": "CANCELED"}
    session.refresh(recipe)
    assert recipe.completed is None

    b = recipe_jobs(session, recipe)["B"]
    assert blocked_or_pending(session, b) == "PENDING"  # parents done, but its inputs were never assembled
    job_service.requeue_jobs(session, [b.id])
    session.commit()
    assert statuses(session, recipe)["B"] == "PENDING"

    assert updated(session, recipe) == [b.id]
    b = recipe_jobs(session, recipe)["B"]
    assert b.status == "QUEUED"
    assert b.data["input_data"] == [{"name": "first", "file_id": a_out}]


def test_blocked_or_pending(session, stage_setup):
    ws, source = stage_setup
    recipe = new_graph_recipe(session, ws, source, {"A": [], "B": ["A"], "C": ["B"]})
    jobs = recipe_jobs(session, recipe)
    lone, _ = job_service.create_job(
        session,
        session.scalar(select(JobType)),
        {
            "input_data": [{"name": "first", "file_id": source.id}],
            "output_data": [{"name": "out", "workspace_id": ws.id}],
        },
    )

    assert blocked_or_pending(session, lone) is None
    assert blocked_or_pending(session, jobs["A"]) is None
    assert blocked_or_pending(session, jobs["B"]) == "PENDING"  # A still queued
    fail(session, jobs["A"])
    assert blocked_or_pending(session, jobs["B"]) == "BLOCKED"
    updated(session, recipe)
    assert blocked_or_pending(session, jobs["C"]) == "BLOCKED"  # B is blocked


# ---------------------------------------------------------------- idempotence and reconcile


def test_duplicate_update_message_changes_nothing(session, stage_setup):
    ws, source = stage_setup
    recipe = new_graph_recipe(session, ws, source, {"A": [], "B": ["A"], "C": ["A"], "D": ["B"]})
    jobs = recipe_jobs(session, recipe)
    complete(session, jobs["A"], ws)
    fail_later = jobs["C"]
    assert len(updated(session, recipe)) == 2
    fail(session, fail_later)
    updated(session, recipe)

    def snapshot():
        return {
            name: (j.status, j.last_status_change, j.queued, j.data, j.last_modified)
            for name, j in recipe_jobs(session, recipe).items()
        }

    before = snapshot()
    assert updated(session, recipe) == []
    assert updated(session, recipe) == []
    assert snapshot() == before

    complete(session, recipe_jobs(session, recipe)["B"], ws)
    assert updated(session, recipe) == [jobs["D"].id]
    assert updated(session, recipe) == []


def test_completed_timestamp_is_set_once(session, stage_setup):
    ws, source = stage_setup
    recipe = new_graph_recipe(session, ws, source, {"A": []})
    complete(session, recipe_jobs(session, recipe)["A"], ws)
    updated(session, recipe)
    session.refresh(recipe)
    first = recipe.completed
    assert first is not None
    updated(session, recipe)
    session.refresh(recipe)
    assert recipe.completed == first


def test_recipes_needing_update_finds_recipes_left_behind(session, stage_setup):
    ws, source = stage_setup
    chain = {"A": [], "B": ["A"]}
    ready = new_graph_recipe(session, ws, source, chain, "ready")  # parent completed, child never queued
    failed = new_graph_recipe(session, ws, source, chain, "failed")  # parent failed, child never blocked
    finished = new_graph_recipe(session, ws, source, {"A": []}, "finished")  # all completed, not marked
    running = new_graph_recipe(session, ws, source, chain, "running")  # nothing to do: A is queued
    unblock = new_graph_recipe(session, ws, source, chain, "unblock")  # requeued parent, child still blocked
    assert recipes_needing_update(session) == []

    complete(session, recipe_jobs(session, ready)["A"], ws)
    fail(session, recipe_jobs(session, failed)["A"])
    complete(session, recipe_jobs(session, finished)["A"], ws)
    a = recipe_jobs(session, unblock)["A"]
    fail(session, a)
    updated(session, unblock)
    job_service.requeue_jobs(session, [a.id])
    session.commit()  # ...and the update message sent after the requeue was lost

    assert recipes_needing_update(session) == [ready.id, failed.id, finished.id, unblock.id]
    assert recipes_needing_update(session, limit=2) == [ready.id, failed.id]
    assert running.id not in recipes_needing_update(session)

    update_recipes(session, recipes_needing_update(session))
    session.commit()
    assert statuses(session, ready)["B"] == "QUEUED"
    assert statuses(session, failed)["B"] == "BLOCKED"
    assert statuses(session, unblock)["B"] == "PENDING"
    session.refresh(finished)
    assert finished.completed is not None
    assert recipes_needing_update(session) == []


def test_celery_task_updates_recipes_in_its_own_transaction(session, stage_setup):
    from tasks.jobs import update_recipes as update_task

    ws, source = stage_setup
    recipe = new_graph_recipe(session, ws, source, {"A": [], "B": ["A"]})
    complete(session, recipe_jobs(session, recipe)["A"], ws)
    session.commit()

    b_id = recipe_jobs(session, recipe)["B"].id
    assert update_task([recipe.id]) == {"queued": [b_id]}
    assert update_task([recipe.id]) == {"queued": []}
    session.expire_all()
    assert statuses(session, recipe)["B"] == "QUEUED"


def test_child_whose_input_file_vanished_waits_and_says_why(session, stage_setup, caplog):
    ws, source = stage_setup
    recipe = new_graph_recipe(session, ws, source, {"A": [], "B": ["A"]})
    a_out = complete(session, recipe_jobs(session, recipe)["A"], ws)["out"]
    session.get(ScaleFile, a_out).is_deleted = True
    session.commit()

    with caplog.at_level(logging.ERROR, logger="app.services.recipes"):
        assert updated(session, recipe) == []

    assert statuses(session, recipe)["B"] == "PENDING"
    assert f"file {a_out}" in caplog.text and "does not exist" in caplog.text
    assert recipes_needing_update(session) == [recipe.id]  # retried by the reconcile

    session.get(ScaleFile, a_out).is_deleted = False
    session.commit()
    assert updated(session, recipe) == [recipe_jobs(session, recipe)["B"].id]
