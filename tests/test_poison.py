"""A poison job fails alone: the launch and finish steps of every other job in its batch go on."""

from __future__ import annotations

import json
import os

from sqlalchemy import select

from app.models import Job, JobExecution
from app.services.executions import Placement, finish_executions, schedule_executions
from app.settings import settings
from tests import factories

PROPERTY_INTERFACE = {
    "version": "1.0",
    "command": "echo",
    "command_arguments": "${word}",
    "input_data": [{"name": "word", "type": "property"}],
    "output_data": [],
}
PRODUCT_INTERFACE = {
    "version": "1.0",
    "command": "echo",
    "command_arguments": "",
    "input_data": [],
    "output_data": [{"name": "out", "type": "file", "required": True}],
}


def _placement(job: Job) -> Placement:
    return Placement(job_id=job.id, agent_id="agent-1", hostname="host-1", node_id=None, cpus=0.1, mem=16, disk=0)


def _property_job(session, job_type, word: str) -> Job:
    data = {"version": "1.0", "input_data": [{"name": "word", "value": word}], "output_data": []}
    return factories.make_job(session, job_type, status="QUEUED", data=data, max_tries=1)


def test_queue_refuses_a_lone_surrogate_with_400(client, session):
    job_type = factories.make_job_type(session, interface=PROPERTY_INTERFACE)
    session.commit()
    body = {
        "job_type_id": job_type.id,
        "job_data": {"version": "1.0", "input_data": [{"name": "word", "value": "caf\udce9"}], "output_data": []},
    }
    response = client.post("/queue/new-job/", json=body)
    assert response.status_code == 400
    assert "surrogate" in response.get_json()["detail"]
    assert session.scalar(select(Job).where(Job.job_type_id == job_type.id)) is None


def test_unlaunchable_argument_fails_its_job_alone(session):
    job_type = factories.make_job_type(session, interface=PROPERTY_INTERFACE)
    poison = _property_job(session, job_type, "caf\udce9")  # written behind the API's back
    too_long = _property_job(session, job_type, "x" * (os.sysconf("SC_ARG_MAX") + 1))
    healthy = [_property_job(session, job_type, f"word{i}") for i in range(5)]
    session.commit()

    launches = schedule_executions(session, [_placement(j) for j in [poison, too_long, *healthy]])
    session.commit()

    assert sorted(spec.job_id for spec in launches) == sorted(j.id for j in healthy)
    for bad in (poison, too_long):
        session.refresh(bad)
        assert bad.status == "FAILED"
        assert bad.error.name == "task-launch"
        exe = session.scalar(select(JobExecution).where(JobExecution.job_id == bad.id))
        assert exe.status == "FAILED" and "pre step failed" in exe.task_message


def test_input_symlink_loop_fails_its_job_alone(session, tmp_path):
    workspace = factories.make_workspace(
        session, json_config={"version": "1.0", "broker": {"type": "host", "host_path": str(tmp_path)}}
    )
    (tmp_path / "data").mkdir()
    loop = tmp_path / "data" / "loop.txt"
    os.symlink(loop, loop)  # a link to itself: resolving it raises
    source = factories.make_file(session, workspace, file_name="loop.txt", file_path="data/loop.txt")
    file_type = factories.make_job_type(
        session,
        interface={
            "version": "1.0",
            "command": "cat",
            "command_arguments": "${f}",
            "input_data": [{"name": "f", "type": "file"}],
            "output_data": [],
        },
    )
    looping = factories.make_job(
        session,
        file_type,
        status="QUEUED",
        max_tries=1,
        data={"version": "1.0", "input_data": [{"name": "f", "file_id": source.id}], "output_data": []},
    )
    simple = factories.make_job_type(session)
    healthy = factories.make_job(session, simple, status="QUEUED")
    session.commit()

    launches = schedule_executions(session, [_placement(looping), _placement(healthy)])
    session.commit()

    assert [spec.job_id for spec in launches] == [healthy.id]
    session.refresh(looping)
    assert looping.status == "FAILED" and looping.error.name == "filesystem-io"


def test_product_with_undecodable_name_fails_alone_in_its_batch(session, tmp_path):
    workspace = factories.make_workspace(
        session, json_config={"version": "1.0", "broker": {"type": "host", "host_path": str(tmp_path)}}
    )
    job_type = factories.make_job_type(session, interface=PRODUCT_INTERFACE)
    exes = []
    for _ in range(3):
        job = factories.make_job(
            session,
            job_type,
            status="RUNNING",
            max_tries=1,
            data={"version": "1.0", "input_data": [], "output_data": [{"name": "out", "workspace_id": workspace.id}]},
        )
        exes.append(factories.make_execution(session, job, status="RUNNING", task_state="TASK_FINISHED"))
    session.commit()
    for i, exe in enumerate(exes):
        outputs = settings.executions_dir / str(exe.id) / "outputs"
        outputs.mkdir(parents=True)
        name = os.fsdecode(b"bad-\xff.txt") if i == 1 else f"good-{i}.txt"  # \xff: not UTF-8, read back escaped
        (outputs / name).write_bytes(b"product")
        # json.dumps of what os.listdir returned: the bad name arrives as a lone surrogate ("\udcff")
        manifest = {"version": "1.1", "output_data": [{"name": "out", "file": {"path": name}}]}
        (outputs / "results_manifest.json").write_text(json.dumps(manifest))
    session.commit()

    outcomes = finish_executions(session, [e.id for e in exes])
    session.commit()

    statuses = {o.exe_id: o.job_status for o in outcomes}
    assert statuses[exes[0].id] == "COMPLETED" and statuses[exes[2].id] == "COMPLETED"
    assert statuses[exes[1].id] == "FAILED"
    bad = session.get(JobExecution, exes[1].id)
    session.refresh(bad)
    assert bad.status == "FAILED" and bad.error.category == "SYSTEM"
    assert "finishing failed" in bad.task_message
