"""Jobs run for real: API -> database -> scheduler (pymesos) -> local cluster -> Celery -> COMPLETED."""

from __future__ import annotations

import time

from tests.stack import script_command


def _interface(script: str, arguments: str, inputs=(), outputs=()) -> dict:
    return {
        "version": "1.0",
        "command": script_command(script),
        "command_arguments": arguments,
        "input_data": list(inputs),
        "output_data": list(outputs),
    }


def test_job_runs_to_completed_with_logs_and_product(stack):
    workspace = stack.create_workspace("products")
    job_type = stack.create_job_type(
        name="make-product",
        interface=_interface(
            "make_product.py",
            "${job_output_dir} result out.txt",
            outputs=[{"name": "result", "type": "file", "media_type": "text/plain"}],
        ),
    )
    job = stack.queue_job(
        job_type["id"],
        {"version": "1.0", "input_data": [], "output_data": [{"name": "result", "workspace_id": workspace["id"]}]},
    )
    done = stack.wait_job(job["id"], "COMPLETED")
    assert done["num_exes"] == 1
    exe_id = done["executions"][0]["id"] if "executions" in done else None
    listing = stack.client.get(f"/job-executions/?job_type_id={job_type['id']}").get_json()
    exe_id = exe_id or listing["results"][0]["id"]
    logs = stack.client.get(f"/job-executions/{exe_id}/logs/").get_json()
    assert "wrote" in logs["stdout"]
    products = stack.client.get("/products/").get_json()
    assert products["count"] == 1
    product = products["results"][0]
    assert product["file_name"] == "out.txt"
    assert product["media_type"] == "text/plain"
    stored = stack.var_dir / "workspaces" / "products"
    assert any(p.name == "out.txt" for p in stored.rglob("*"))


def test_property_value_is_one_literal_argument(stack):
    nasty = "; rm -rf / $(touch /tmp/pwned) `id` && echo 'quoted' \"x\""
    job_type = stack.create_job_type(
        name="echo-args",
        interface=_interface(
            "echo_args.py", "--value ${message} end", inputs=[{"name": "message", "type": "property"}]
        ),
    )
    job = stack.queue_job(
        job_type["id"], {"version": "1.0", "input_data": [{"name": "message", "value": nasty}], "output_data": []}
    )
    stack.wait_job(job["id"], "COMPLETED")
    exe = stack.client.get(f"/job-executions/?job_type_id={job_type['id']}").get_json()["results"][0]
    stdout = stack.client.get(f"/job-executions/{exe['id']}/logs/").get_json()["stdout"]
    assert stdout.strip() == repr(["--value", nasty, "end"])


def test_system_error_is_retried_until_max_tries_then_fails_with_mapped_error(stack):
    job_type = stack.create_job_type(
        name="flaky",
        max_tries=2,
        interface=_interface("exit_with.py", "5"),
        error_mapping={"version": "1.0", "exit_codes": {"5": "filesystem-io"}},
    )
    job = stack.queue_job(job_type["id"])
    failed = stack.wait_job(job["id"], "FAILED")
    assert failed["num_exes"] == 2
    assert failed["error"]["name"] == "filesystem-io"


def test_algorithm_error_fails_without_retry_and_unmapped_code_is_algorithm_unknown(stack):
    job_type = stack.create_job_type(name="broken", max_tries=3, interface=_interface("exit_with.py", "7"))
    job = stack.queue_job(job_type["id"])
    failed = stack.wait_job(job["id"], "FAILED")
    assert failed["num_exes"] == 1
    assert failed["error"]["name"] == "algorithm-unknown"


def test_timeout_kills_the_job(stack):
    job_type = stack.create_job_type(name="slow", timeout=1, max_tries=1, interface=_interface("sleep_for.py", "60"))
    job = stack.queue_job(job_type["id"])
    started = time.time()
    failed = stack.wait_job(job["id"], "FAILED", timeout=30)
    assert failed["error"]["name"] == "timeout"
    assert time.time() - started < 20


def test_cancel_kills_a_running_job(stack):
    job_type = stack.create_job_type(name="long", interface=_interface("sleep_for.py", "120"))
    job = stack.queue_job(job_type["id"])
    stack.wait_job(job["id"], "RUNNING")
    response = stack.client.patch(f"/jobs/{job['id']}/", json={"status": "CANCELED"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "CANCELED"

    def killed():
        exe = stack.client.get(f"/job-executions/?job_type_id={job_type['id']}").get_json()["results"][0]
        return exe if exe["status"] == "CANCELED" else None

    stack.wait(killed, timeout=15, what="execution canceled")
    from app.db import session_scope
    from app.models import JobExecution
    from sqlalchemy import select

    def task_killed():
        with session_scope() as s:
            return s.scalar(select(JobExecution.task_state).where(JobExecution.job_id == job["id"])) == "TASK_KILLED"

    stack.wait(task_killed, timeout=15, what="the task to be killed")
    assert stack.job(job["id"])["status"] == "CANCELED"
