"""The `scale` command against a running system: the test stack's app served over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from werkzeug.serving import make_server

from scale_cli.main import cli
from tests.conftest import ROOT, LiveServer, free_port
from tests.stack import script_command
from tests.test_e2e_recipes import _file_type, _source_file


@pytest.fixture
def api_url(app, monkeypatch):
    """The `app` fixture served by werkzeug on a free port in a thread; SCALE_API_URL points at it."""
    server = LiveServer(app)
    monkeypatch.setenv("SCALE_API_URL", server.url)
    monkeypatch.delenv("SCALE_API_TOKEN", raising=False)
    yield server.url
    server.stop()


def scale(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _job_type_file(tmp_path, name: str, command: str, arguments: str = "", **fields) -> str:
    doc = {
        "name": name,
        "version": "1.0",
        "title": name,
        "description": name,
        "max_tries": 1,
        "cpus_required": 0.1,
        "mem_required": 16.0,
        "disk_out_const_required": 0.0,
        "interface": {
            "version": "1.0",
            "command": command,
            "command_arguments": arguments,
            "input_data": [],
            "output_data": [],
        },
        **fields,
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def test_unreachable_api_prints_one_line_naming_the_address(monkeypatch):
    monkeypatch.setenv("SCALE_API_URL", f"http://127.0.0.1:{free_port()}")
    result = scale("status")
    assert result.exit_code == 1
    assert "cannot reach the Scale API" in result.output and "SCALE_API_URL" in result.output
    assert "Traceback" not in result.output


def test_demo_script_says_when_the_api_is_not_reachable():
    url = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--api", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"not reachable at {url}" in result.stderr and "Traceback" not in result.stderr


def test_apply_creates_then_edits_as_a_new_revision(api_url, tmp_path):
    path = _job_type_file(tmp_path, "sleeper", script_command("sleep_for.py"), "1")
    created = scale("job-types", "apply", "-f", path)
    assert created.exit_code == 0, created.output
    assert "created sleeper 1.0" in created.output and "revision 1" in created.output

    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    doc["interface"]["command_arguments"] = "2"
    yaml_path = tmp_path / "sleeper.yaml"
    yaml_path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    edited = scale("job-types", "apply", "-f", str(yaml_path))
    assert edited.exit_code == 0, edited.output
    assert "edited sleeper 1.0" in edited.output and "revision 2" in edited.output

    listed = scale("job-types", "list", "--json")
    rows = json.loads(listed.output)
    assert [(r["name"], r["revision_num"]) for r in rows] == [("sleeper", 2)]
    shown = json.loads(scale("job-types", "show", "sleeper:1.0", "--json").output)
    assert shown["interface"]["command_arguments"] == "2"


def test_api_error_message_is_printed_with_a_non_zero_exit(api_url, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "bad", "version": "1.0", "cpus_required": "lots"}), encoding="utf-8")
    result = scale("job-types", "apply", "-f", str(path))
    assert result.exit_code == 1
    assert "400" in result.output and "cpus_required" in result.output

    missing = scale("jobs", "show", "999")
    assert missing.exit_code == 1 and "404" in missing.output


def test_status_and_nodes_hold(stack, api_url):
    stack.wait(lambda: stack.client.get("/nodes/").get_json()["count"] >= 1, what="a node")
    status = scale("status")
    assert status.exit_code == 0, status.output
    assert "scheduler:" in status.output and "nodes" in status.output
    parsed = json.loads(scale("status", "--json").output)
    assert "scheduler" in parsed["status"]

    node = json.loads(scale("nodes", "list", "--json").output)[0]
    held = scale("nodes", "hold", node["hostname"], "--reason", "maintenance")
    assert held.exit_code == 0, held.output
    assert "held" in held.output
    after = json.loads(scale("nodes", "list", "--json").output)[0]
    assert after["is_paused"] is True and after["pause_reason"] == "maintenance"
    assert scale("nodes", "unhold", str(node["id"])).exit_code == 0
    assert json.loads(scale("nodes", "list", "--json").output)[0]["is_paused"] is False


def test_queue_job_wait_exit_codes(stack, api_url, tmp_path):
    assert (
        scale("job-types", "apply", "-f", _job_type_file(tmp_path, "ok", script_command("exit_with.py"), "0")).exit_code
        == 0
    )
    assert (
        scale(
            "job-types", "apply", "-f", _job_type_file(tmp_path, "bad", script_command("exit_with.py"), "2")
        ).exit_code
        == 0
    )

    done = scale("queue", "job", "ok:1.0", "--wait")
    assert done.exit_code == 0, done.output
    assert "COMPLETED" in done.output

    failed = scale("queue", "job", "bad", "--wait")
    assert failed.exit_code == 3, failed.output
    assert "FAILED" in failed.output

    jobs = json.loads(scale("jobs", "list", "--status", "FAILED", "--json").output)
    assert [j["job_type"]["name"] for j in jobs] == ["bad"]


def test_logs_follow_a_running_job_then_cancel_and_requeue(stack, api_url, tmp_path):
    scale("job-types", "apply", "-f", _job_type_file(tmp_path, "talker", script_command("print_lines.py"), "5 0.5"))
    job = json.loads(scale("queue", "job", "talker", "--json").output)
    followed = scale("logs", str(job["id"]), "-f")
    assert followed.exit_code == 0, followed.output
    assert [line for line in followed.output.splitlines() if line.startswith("line")] == [
        f"line {n}" for n in range(1, 6)
    ]
    exe_id = stack.wait_job(job["id"], "COMPLETED")["job_exes"][0]["id"]
    by_exe = scale("logs", "--exe", str(exe_id), "--json")
    assert json.loads(by_exe.output)["stdout"].splitlines() == [f"line {n}" for n in range(1, 6)]

    scale("job-types", "apply", "-f", _job_type_file(tmp_path, "long", script_command("sleep_for.py"), "30"))
    long_job = json.loads(scale("queue", "job", "long", "--json").output)
    stack.wait_job(long_job["id"], "RUNNING")
    canceled = scale("cancel", str(long_job["id"]))
    assert canceled.exit_code == 0, canceled.output
    assert "CANCELED" in canceled.output
    assert stack.wait_job(long_job["id"], "CANCELED")["status"] == "CANCELED"

    again = scale("cancel", str(long_job["id"]))
    assert again.exit_code == 1 and "COMPLETED or CANCELED" in again.output
    requeued = scale("requeue", str(long_job["id"]))
    assert requeued.exit_code == 0 and "QUEUED" in requeued.output


def test_a_canceled_job_ends_wait_with_exit_code_4(stack, api_url, tmp_path):
    """Through `python -m scale_cli` in a subprocess, as a user's shell would run it."""
    scale("job-types", "apply", "-f", _job_type_file(tmp_path, "long", script_command("sleep_for.py"), "30"))
    waiting = subprocess.Popen(
        [sys.executable, "-m", "scale_cli", "queue", "job", "long", "--wait"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    job = stack.wait(lambda: stack.client.get("/jobs/?status=RUNNING").get_json()["results"], what="a running job")[0]
    assert scale("cancel", str(job["id"])).exit_code == 0
    output, _ = waiting.communicate(timeout=60)
    assert waiting.returncode == 4, output
    assert f"job {job['id']}: CANCELED" in output


def test_token_is_sent_and_an_auth_refusal_prints_the_api_message(monkeypatch):
    seen = []

    def api(environ, start_response):  # a stand-in for the API's token check: 401 with its JSON message
        seen.append(environ.get("HTTP_AUTHORIZATION"))
        start_response("401 UNAUTHORIZED", [("Content-Type", "application/json")])
        return [json.dumps({"message": "The token is not valid"}).encode()]

    server = make_server("127.0.0.1", free_port(), api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("SCALE_API_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("SCALE_API_TOKEN", "s3cret")
        result = scale("jobs", "list")
    finally:
        server.shutdown()
    assert result.exit_code == 1
    assert "401" in result.output and "The token is not valid" in result.output
    assert seen == ["Bearer s3cret"]


def test_queue_recipe_wait_follows_both_jobs(stack, api_url, tmp_path):
    workspace = stack.create_workspace("products")
    stack.create_job_type(**_file_type("step-1", "1.0", [("in1", "text/plain")], "out", "text/plain", "out.txt"))
    definition = {
        "version": "1.0",
        "input_data": [{"name": "seed", "type": "file"}],
        "jobs": [
            {
                "name": "first",
                "job_type": {"name": "step-1", "version": "1.0"},
                "recipe_inputs": [{"recipe_input": "seed", "job_input": "in1"}],
            },
            {
                "name": "second",
                "job_type": {"name": "step-1", "version": "1.0"},
                "dependencies": [{"name": "first", "connections": [{"output": "out", "input": "in1"}]}],
            },
        ],
    }
    path = tmp_path / "chain.yaml"
    path.write_text(
        yaml.safe_dump(
            {"name": "chain", "version": "1.0", "title": "chain", "description": "two steps", "definition": definition}
        ),
        encoding="utf-8",
    )
    assert scale("recipe-types", "apply", "-f", str(path)).exit_code == 0
    _source_file(workspace, "seed.txt", "hello;", "text/plain")

    result = scale("queue", "recipe", "chain", "--file", "seed=seed.txt", "--workspace", "products", "--wait")
    assert result.exit_code == 0, result.output
    assert "first" in result.output and "second" in result.output and "2/2 completed" in result.output
    assert result.output.rstrip().endswith("COMPLETED")
    products = json.loads(scale("products", "list", "--json").output)
    assert sorted(p["file_name"] for p in products) == ["out.txt", "out.txt"]

    _source_file(workspace, "bad.txt", "FAIL;", "text/plain")
    failed = scale("queue", "recipe", "chain", "--file", "seed=bad.txt", "--workspace", "products", "--wait", "--json")
    assert failed.exit_code == 3, failed.output
    jobs = {j["job_name"]: j["job"]["status"] for j in json.loads(failed.output)["jobs"]}
    assert jobs["first"] == "FAILED" and jobs["second"] != "COMPLETED"


def test_config_export_then_import_validates_first(api_url, tmp_path):
    scale("job-types", "apply", "-f", _job_type_file(tmp_path, "exported", script_command("exit_with.py"), "0"))
    exported = scale("config", "export")
    assert exported.exit_code == 0, exported.output
    doc = json.loads(exported.output)
    assert [t["name"] for t in doc["job_types"]] == ["exported"]

    doc["job_types"][0]["title"] = "Changed by import"
    good = tmp_path / "config.json"
    good.write_text(json.dumps(doc), encoding="utf-8")
    imported = scale("config", "import", str(good))
    assert imported.exit_code == 0, imported.output
    assert json.loads(scale("job-types", "show", "exported", "--json").output)["title"] == "Changed by import"

    doc["job_types"][0]["cpus_required"] = "lots"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    refused = scale("config", "import", str(bad))
    assert refused.exit_code == 1 and "validation" in refused.output and "cpus_required" in refused.output


def test_scheduler_pause_and_resume(api_url):
    assert scale("scheduler", "pause").exit_code == 0
    assert json.loads(scale("scheduler", "show", "--json").output)["is_paused"] is True
    assert scale("scheduler", "resume").exit_code == 0
    assert json.loads(scale("scheduler", "show", "--json").output)["is_paused"] is False


def test_status_without_a_scheduler_says_it_is_offline(api_url):
    result = scale("status")
    assert result.exit_code == 1
    assert "scheduler offline" in result.output and "queue" in result.output


def test_queue_job_count_queues_many_in_batches(api_url, session, tmp_path):
    assert scale("job-types", "apply", "-f", _job_type_file(tmp_path, "many", "/bin/true")).exit_code == 0
    result = scale("queue", "job", "many", "--count", "1203", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["count"] == 1203 and len(set(answer["ids"])) == 1203
    queued = json.loads(scale("jobs", "list", "--status", "QUEUED", "--json").output)
    assert {j["job_type"]["name"] for j in queued} == {"many"}
    refused = scale("queue", "job", "many", "--count", "2", "--wait")
    assert refused.exit_code == 2 and "--wait follows one job" in refused.output


def test_jobs_show_says_why_a_queued_job_waits_and_pools_launch_respects_the_maximum(api_url, session):
    from tests import factories as f

    job = f.make_job(session, f.make_job_type(session), status="QUEUED")
    detail = "job type x 1.0 is paused"
    f.make_scheduling_reason(session, job, "job_type_paused", detail)
    session.commit()
    shown = scale("jobs", "show", str(job.id))
    assert shown.exit_code == 0
    assert f"waiting: {detail} (job_type_paused" in shown.output

    pool = {
        "name": "burst",
        "attribute_name": "pool",
        "provider": "local",
        "max_nodes": 1,
        "node_cpus": 1,
        "node_mem": 512,
    }
    assert scale("pools", "list").exit_code == 0
    import requests

    assert requests.post(f"{api_url}/resource-pools/", json=pool, timeout=10).status_code == 201
    refused = scale("pools", "launch", "burst", "--num", "2")
    assert refused.exit_code == 1
    assert "2 more would exceed it" in refused.output
