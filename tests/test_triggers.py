"""Ingest and parse trigger rules fired by real ingests and by a real job finish (post step)."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import func, select

from app.db import session_scope
from app.models import Job, JobType, Recipe, RecipeJob, ScaleFile, TriggerEvent, Workspace
from app.services import executions
from app.services import ingest as ingest_service
from app.services.strike import StrikeProcessor
from app.specs.job_interface import validate_job_interface
from tests import factories as f
from tests.test_strike import age, ingest_config, ingest_row, make_strike, make_workspace

FILE_IN = validate_job_interface(
    {
        "version": "1.0",
        "command": "process",
        "command_arguments": "${input_file} ${job_output_dir}",
        "input_data": [{"name": "input_file", "type": "file", "media_types": ["text/plain"]}],
        "output_data": [{"name": "result", "type": "file", "media_type": "text/plain"}],
    }
)
FILES_IN = validate_job_interface(
    {
        "version": "1.0",
        "command": "many",
        "command_arguments": "${inputs}",
        "input_data": [{"name": "inputs", "type": "files"}],
        "output_data": [],
    }
)


def rule_config(input_name: str = "input_file", workspace: str = "products", condition: dict | None = None) -> dict:
    config = {"version": "1.0", "data": {"input_data_name": input_name, "workspace_name": workspace}}
    if condition is not None:
        config["condition"] = condition
    return config


def linked_job_type(session, rule_type: str, config: dict, interface: dict = FILE_IN, **rule_kw) -> tuple[int, int]:
    rule = f.make_trigger_rule(session, type=rule_type, configuration=config, **rule_kw)
    job_type = f.make_job_type(session, interface=interface, trigger_rule_id=rule.id)
    return rule.id, job_type.id


def jobs_of(job_type_id: int) -> list[Job]:
    with session_scope() as s:
        return s.scalars(select(Job).where(Job.job_type_id == job_type_id).order_by(Job.id)).all()


def ingest_text_file(scale_env, name: str = "scene.txt", content: str = "text") -> int:
    """Drop a file into a Strike tagging it text+raw and ingest it; returns the source file id."""
    strike_id, directory = make_strike(
        rules=[
            {"filename_regex": r".*", "data_types": ["text", "raw"], "workspace_path": "in", "workspace_name": "raw"}
        ]
    )
    (directory / name).write_text(content)
    age(directory / name)
    ingest_service.ingest_files(StrikeProcessor(strike_id, ingest_config(strike_id)).scan())
    row = ingest_row(strike_id, name)
    assert row.status == "INGESTED", row.error_message
    return row.source_file_id


@pytest.fixture
def workspaces(scale_env):
    make_workspace(scale_env, "raw")
    products = make_workspace(scale_env, "products")
    return products


def test_ingest_rule_launches_a_queued_job_with_the_file(scale_env, workspaces):
    with session_scope() as s:
        rule_id, job_type_id = linked_job_type(
            s, "INGEST", rule_config(condition={"media_type": "text/plain", "data_types": ["text"]})
        )
    source_id = ingest_text_file(scale_env)

    [job] = jobs_of(job_type_id)
    assert job.status == "QUEUED" and job.queued is not None
    assert job.data["input_data"] == [{"name": "input_file", "file_id": source_id}]
    assert job.data["output_data"] == [{"name": "result", "workspace_id": workspaces}]
    with session_scope() as s:
        event = s.get(TriggerEvent, job.event_id)
        assert (event.type, event.rule_id) == ("INGEST", rule_id)
        assert event.description["file_id"] == source_id


def test_rule_conditions_must_all_match(scale_env, workspaces):
    with session_scope() as s:
        _, wrong_media = linked_job_type(s, "INGEST", rule_config(condition={"media_type": "image/png"}))
        _, missing_tag = linked_job_type(s, "INGEST", rule_config(condition={"data_types": ["text", "calibrated"]}))
        _, no_condition = linked_job_type(s, "INGEST", rule_config())
        _, files_input = linked_job_type(s, "INGEST", rule_config("inputs"), interface=FILES_IN)
    source_id = ingest_text_file(scale_env)
    assert jobs_of(wrong_media) == [] and jobs_of(missing_tag) == []
    assert [j.status for j in jobs_of(no_condition)] == ["QUEUED"]
    assert jobs_of(files_input)[0].data["input_data"] == [{"name": "inputs", "file_ids": [source_id]}]


def test_inactive_rules_and_inactive_job_types_are_skipped(scale_env, workspaces):
    with session_scope() as s:
        _, paused_rule = linked_job_type(s, "INGEST", rule_config(), is_active=False)
        _, parse_only = linked_job_type(s, "PARSE", rule_config())
        _, archived_type = linked_job_type(s, "INGEST", rule_config())
        s.get(JobType, archived_type).is_active = False
    ingest_text_file(scale_env)
    assert jobs_of(paused_rule) == [] and jobs_of(parse_only) == [] and jobs_of(archived_type) == []


def test_one_bad_rule_never_stops_the_others(scale_env, workspaces, caplog):
    with session_scope() as s:
        _, unknown_input = linked_job_type(s, "INGEST", rule_config("no_such_input"))
        _, missing_workspace = linked_job_type(s, "INGEST", rule_config(workspace="nowhere"))
        bad_config = f.make_trigger_rule(s, type="INGEST", configuration={"data": "not an object"})
        f.make_job_type(s, interface=FILE_IN, trigger_rule_id=bad_config.id)
        _, good = linked_job_type(s, "INGEST", rule_config())
    with caplog.at_level(logging.ERROR, logger="app.services.triggers"):
        ingest_text_file(scale_env)
    assert [j.status for j in jobs_of(good)] == ["QUEUED"]
    assert jobs_of(unknown_input) == [] and jobs_of(missing_workspace) == []
    assert "no input named 'no_such_input'" in caplog.text and "'nowhere'" in caplog.text
    with session_scope() as s:
        # The failed rules left nothing behind: one event, for the good rule.
        assert s.scalar(select(func.count()).select_from(TriggerEvent)) == 1


def test_ingest_rule_launches_a_recipe(scale_env, workspaces):
    definition = {
        "version": "1.0",
        "input_data": [{"name": "source", "type": "file", "media_types": ["text/plain"]}],
        "jobs": [
            {
                "name": "first",
                "job_type": {"name": "step", "version": "1.0"},
                "recipe_inputs": [{"recipe_input": "source", "job_input": "input_file"}],
            }
        ],
    }
    with session_scope() as s:
        f.make_job_type(s, interface=FILE_IN, name="step", version="1.0")
        rule = f.make_trigger_rule(s, type="INGEST", configuration=rule_config("source"))
        recipe_type = f.make_recipe_type(s, definition=definition, trigger_rule_id=rule.id)
        recipe_type_id, rule_id = recipe_type.id, rule.id
    source_id = ingest_text_file(scale_env)
    with session_scope() as s:
        [recipe] = s.scalars(select(Recipe).where(Recipe.recipe_type_id == recipe_type_id)).all()
        assert recipe.event.rule_id == rule_id and recipe.event.type == "INGEST"
        assert recipe.data["workspace_id"] == workspaces
        [recipe_job] = s.scalars(select(RecipeJob).where(RecipeJob.recipe_id == recipe.id)).all()
        job = s.get(Job, recipe_job.job_id)
        assert job.status == "QUEUED"
        assert job.data["input_data"] == [{"name": "input_file", "file_id": source_id}]


def test_parse_results_update_the_source_and_fire_parse_rules(scale_env, workspaces):
    source_id = ingest_text_file(scale_env, "scene.txt")
    with session_scope() as s:
        parse_rule_id, follow_up = linked_job_type(s, "PARSE", rule_config(condition={"data_types": ["parsed"]}))
        parser_type = f.make_job_type(
            s,
            interface=validate_job_interface(
                {
                    "version": "1.0",
                    "command": "parse",
                    "command_arguments": "${input_file}",
                    "input_data": [{"name": "input_file", "type": "file"}],
                    "output_data": [],
                }
            ),
        )
        job = f.make_job(
            s,
            parser_type,
            status="RUNNING",
            data={"version": "1.0", "input_data": [{"name": "input_file", "file_id": source_id}], "output_data": []},
        )
        exe = f.make_execution(s, job, status="RUNNING", task_state="TASK_FINISHED", job_exit_code=0)
        exe_id, parser_job_id = exe.id, job.id
    outputs = executions.exe_dir(exe_id) / "outputs"
    outputs.mkdir(parents=True)
    footprint = {
        "type": "Feature",
        "properties": {"sensor": "X1"},
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 2], [0, 2], [0, 0]]]},
    }
    (outputs / "results_manifest.json").write_text(
        json.dumps(
            {
                "version": "1.1",
                "output_data": [],
                "parse_results": [
                    {
                        "filename": "scene.txt",
                        "data_types": ["parsed"],
                        "new_workspace_path": "parsed/2015",
                        "geo_metadata": {
                            "data_started": "2015-09-10T14:36:56Z",
                            "data_ended": "2015-09-10T14:37:01Z",
                            "geo_json": footprint,
                        },
                    }
                ],
            }
        )
    )

    with session_scope() as s:
        outcome = executions.finish_execution(s, exe_id)
    assert outcome.job_status == "COMPLETED"

    with session_scope() as s:
        source = s.get(ScaleFile, source_id)
        assert source.is_parsed and source.parsed is not None
        assert source.data_type == "text,raw,parsed"
        assert source.data_started.isoformat() == "2015-09-10T14:36:56+00:00"
        assert source.data_ended.isoformat() == "2015-09-10T14:37:01+00:00"
        assert source.geometry == footprint["geometry"]
        assert source.center_point == {"type": "Point", "coordinates": [2.0, 1.0]}
        assert source.meta_data == {"sensor": "X1"}
        assert source.file_path == "parsed/2015/scene.txt"
        root = s.get(Workspace, source.workspace_id).json_config["broker"]["host_path"]
    assert (scale_env / "workspaces" / "raw" / "parsed" / "2015" / "scene.txt").read_text() == "text"
    assert root == str(scale_env / "workspaces" / "raw")

    [job] = jobs_of(follow_up)
    assert job.status == "QUEUED"
    assert job.data["input_data"] == [{"name": "input_file", "file_id": source_id}]
    with session_scope() as s:
        event = s.get(TriggerEvent, job.event_id)
        assert (event.type, event.rule_id, event.description["job_id"]) == ("PARSE", parse_rule_id, parser_job_id)
        # Finishing again (a redelivered message) fires nothing more.
        assert executions.finish_execution(s, exe_id) is None
    assert len(jobs_of(follow_up)) == 1


def test_parse_result_for_a_file_the_job_did_not_read_is_ignored(scale_env, workspaces):
    from app.services.parse import apply_parse_results

    source_id = ingest_text_file(scale_env, "scene.txt")
    with session_scope() as s:
        jt = f.make_job_type(s, interface=FILE_IN)
        job = f.make_job(
            s,
            jt,
            status="RUNNING",
            data={"version": "1.0", "input_data": [{"name": "input_file", "file_id": source_id}]},
        )
        manifest = {
            "parse_results": [
                {"filename": "other.txt", "data_types": ["x"]},
                {"filename": "scene.txt", "new_workspace_path": "../escape"},
            ]
        }
        assert apply_parse_results(s, job, manifest) == [source_id]
        source = s.get(ScaleFile, source_id)
        assert source.is_parsed
        assert not source.file_path.startswith("..")  # a path leaving the workspace is refused; the file stays
    assert (scale_env / "workspaces" / "raw" / source.file_path).exists()
