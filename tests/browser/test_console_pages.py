"""The console in a real browser, on the whole running system (worker, local cluster, scheduler)."""

from __future__ import annotations

import time
import urllib.request

import pytest

from app.db import session_scope
from app.models import Ingest, Node, ScaleFile, Strike, Workspace
from tests.stack import script_command

pytestmark = pytest.mark.browser

SCRIPT_NAME = "<script>alert('x')<b>scan.txt"


def _interface(script: str, arguments: str, outputs=()) -> dict:
    return {
        "version": "1.0",
        "command": script_command(script),
        "command_arguments": arguments,
        "input_data": [],
        "output_data": list(outputs),
    }


def _sleeper(stack, name: str = "sleeper") -> dict:
    return stack.create_job_type(name=name, interface=_interface("sleep_for.py", "120"))


def test_a_file_name_with_script_shows_as_text(browser, scale_env):
    with session_scope() as s:
        ws = Workspace(
            name="raw",
            title="raw",
            json_config={"version": "1.0", "broker": {"type": "host", "host_path": str(scale_env)}},
        )
        strike = Strike(name="watch", title="Watch", configuration={"version": "1.0", "mount": "host:/incoming"})
        s.add_all([ws, strike])
        s.flush()
        source = ScaleFile(
            file_type="SOURCE", file_name=SCRIPT_NAME, file_path="scan.txt", workspace_id=ws.id, file_size=5
        )
        s.add(source)
        s.flush()
        s.add(
            Ingest(
                file_name=SCRIPT_NAME,
                strike_id=strike.id,
                status="INGESTED",
                source_file_id=source.id,
                workspace_id=ws.id,
                file_size=5,
            )
        )
    browser.open("/console/ingest")
    assert browser.text("#ingests td.file-name") == SCRIPT_NAME
    assert SCRIPT_NAME in browser.text("#sources a.file")
    assert browser.driver.execute_script("return document.querySelectorAll('main script').length") == 0
    browser.screenshot("ingest-script-file-name")
    time.sleep(2.5)  # one live refresh later it is still text, and no alert opened
    assert browser.text("#ingests td.file-name") == SCRIPT_NAME
    assert browser.driver.execute_script("return document.querySelectorAll('main script').length") == 0


def test_dashboard_loads_with_live_numbers(browser, stack):
    job_type = _sleeper(stack)
    browser.open("/")
    assert browser.text("#scheduler-state") == "RUNNING"
    assert browser.text('[data-count="RUNNING"]') == "0"
    job = stack.queue_job(job_type["id"])
    stack.wait_job(job["id"], "RUNNING")
    browser.wait_for(lambda d: browser.css('[data-count="RUNNING"]').text == "1", what="1 running job on the dashboard")
    browser.wait_for(
        lambda d: "127.0.0.1" in browser.css("#cluster-resources").text or browser.all("#cluster-resources tr")[1:],
        what="a node in the cluster resources",
    )
    assert browser.css("#dependencies").text
    browser.screenshot("dashboard")
    for label in ("Jobs", "Recipes", "Job types", "Recipe types", "Ingest", "Nodes", "Metrics"):
        browser.click_link(label)
        browser.wait_for(lambda d, label=label: d.title.startswith(label), what=f"the {label} page")
        assert not browser.all("#page-error")
    assert browser.all("svg.chart")
    browser.screenshot("metrics")


def test_a_queued_job_appears_runs_and_completes_with_its_logs(browser, stack):
    workspace = stack.create_workspace("products")
    job_type = stack.create_job_type(
        name="make-product",
        interface=_interface(
            "make_product.py",
            "${job_output_dir} result out.txt",
            outputs=[{"name": "result", "type": "file", "media_type": "text/plain"}],
        ),
    )
    browser.open("/console/jobs")
    job = stack.queue_job(
        job_type["id"],
        {"version": "1.0", "input_data": [], "output_data": [{"name": "result", "workspace_id": workspace["id"]}]},
    )
    row = f'#jobs-table tr[data-job-id="{job["id"]}"]'
    browser.wait_for(lambda d: browser.css(row), what="the new job in the list")
    browser.wait_for(
        lambda d: browser.css(row).get_attribute("data-status") == "COMPLETED",
        timeout=60,
        what="the job COMPLETED in the list",
    )
    browser.screenshot("jobs-list")
    browser.click(f"{row} a")
    assert browser.css("#job-status").get_attribute("data-status") == "COMPLETED"
    assert "wrote" in browser.text("pre.stdout")
    link = browser.css("#job-outputs a.file")
    assert link.text == "out.txt"
    href = link.get_attribute("href")
    assert href.endswith("/content/")
    browser.screenshot("job-detail")
    with urllib.request.urlopen(href) as download:
        assert download.read().startswith(b"made by make_product")


def test_cancel_a_running_job_from_its_page(browser, stack):
    job = stack.queue_job(_sleeper(stack)["id"])
    stack.wait_job(job["id"], "RUNNING")
    browser.open(f"/console/jobs/{job['id']}")
    browser.wait_for(lambda d: "sleeping" in browser.css("pre.stdout").text, what="the live stdout tail")
    browser.click("#cancel-job", accept_confirm=True)
    assert "canceled" in browser.text("#notice")
    assert stack.wait_job(job["id"], "CANCELED")["status"] == "CANCELED"
    browser.wait_for(lambda d: browser.css("#job-status").get_attribute("data-status") == "CANCELED", what="CANCELED")
    browser.click("#requeue-job")
    assert "requeued" in browser.text("#notice")
    browser.screenshot("job-canceled-and-requeued")
    browser.click("#cancel-job", accept_confirm=True)
    stack.wait_job(job["id"], "CANCELED")


def test_a_refused_action_shows_the_api_message(browser, stack):
    job_type = stack.create_job_type(name="quick", interface=_interface("echo_args.py", "done"))
    job = stack.queue_job(job_type["id"])
    stack.wait_job(job["id"], "COMPLETED")
    browser.open(f"/console/jobs/{job['id']}")
    assert not browser.all("#cancel-job")  # the page offers no cancel, but a stale form still gets the API's answer
    browser.driver.execute_script(
        "var f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];"
        "var n = document.createElement('input'); n.name = 'next'; n.value = arguments[1]; f.appendChild(n);"
        "document.body.appendChild(f); f.submit();",
        f"/console/jobs/{job['id']}/cancel",
        f"/console/jobs/{job['id']}",
    )
    api_message = stack.client.patch(f"/jobs/{job['id']}/", json={"status": "CANCELED"}).get_json()["detail"]
    assert browser.text("#error") == api_message


def test_pause_the_scheduler_from_the_dashboard_and_jobs_stay_queued(browser, stack):
    job_type = stack.create_job_type(name="quick", interface=_interface("echo_args.py", "done"))
    browser.open("/")
    browser.click("#pause-scheduler", accept_confirm=True)
    assert browser.text("#scheduler-state") == "PAUSED"
    assert stack.client.get("/scheduler/").get_json()["is_paused"] is True
    job = stack.queue_job(job_type["id"])
    time.sleep(3)
    assert stack.job(job["id"])["status"] == "QUEUED"
    browser.wait_for(lambda d: browser.css('[data-count="QUEUED"]').text == "1", what="1 queued job")
    assert "quick" in browser.text("#queue-depth")
    browser.screenshot("dashboard-paused")
    browser.click("#resume-scheduler")
    # the old page shows PAUSED until the button's answer replaces it
    browser.wait_for(lambda d: browser.css("#scheduler-state").text == "RUNNING", what="the scheduler RUNNING")
    stack.wait_job(job["id"], "COMPLETED", timeout=60)


def test_hold_a_node_from_the_nodes_page(browser, stack):
    node_id = stack.wait(lambda: _first_node_id(), what="the local cluster's agent as a node")
    browser.open("/console/nodes")
    browser.wait_for(
        lambda d: browser.css(f"#reason-{node_id}").send_keys("disk swap <b>now</b>") or True, what="reason field"
    )
    browser.click(f"#hold-{node_id}")
    assert "held" in browser.text("#notice")
    assert browser.text(f"#node-{node_id} .pause-reason") == "disk swap <b>now</b>"
    node = stack.client.get(f"/nodes/{node_id}/").get_json()
    assert node["is_paused"] is True and node["pause_reason"] == "disk swap <b>now</b>"
    browser.screenshot("nodes-held")
    job = stack.queue_job(stack.create_job_type(name="quick", interface=_interface("echo_args.py", "x"))["id"])
    time.sleep(2)
    assert stack.job(job["id"])["status"] == "QUEUED"  # nothing new starts on a held node
    browser.click(f"#unhold-{node_id}")
    stack.wait_job(job["id"], "COMPLETED", timeout=60)


def _first_node_id() -> int | None:
    with session_scope() as s:
        node = s.query(Node).order_by(Node.id).first()
        return node.id if node else None


def test_the_recipe_page_draws_the_graph_with_statuses(browser, stack):
    stack.create_job_type(name="step", interface=_interface("sleep_for.py", "2"))
    definition = {
        "version": "1.0",
        "input_data": [],
        "jobs": [
            {"name": "fetch", "job_type": {"name": "step", "version": "1.0"}},
            {"name": "left", "job_type": {"name": "step", "version": "1.0"}, "dependencies": [{"name": "fetch"}]},
            {"name": "right", "job_type": {"name": "step", "version": "1.0"}, "dependencies": [{"name": "fetch"}]},
        ],
    }
    response = stack.client.post(
        "/recipe-types/",
        json={
            "name": "fan-out",
            "version": "1.0",
            "title": "Fan out",
            "description": "one then two",
            "definition": definition,
        },
    )
    assert response.status_code == 201, response.get_json()
    recipe_type = response.get_json()
    response = stack.client.post(
        "/queue/new-recipe/",
        json={"recipe_type_id": recipe_type["id"], "recipe_data": {"version": "1.0", "input_data": []}},
    )
    assert response.status_code == 201, response.get_json()
    recipe = response.get_json()
    browser.open(f"/console/recipes/{recipe['id']}")
    # the live part of the page is redrawn every few seconds: read it once it is there
    browser.wait_for(
        lambda d: len(browser.all("#recipe-graph g.box")) == 3 and len(browser.all("#recipe-graph path.edge")) == 2,
        what="the graph's three boxes and two edges",
    )
    browser.wait_for(
        lambda d: browser.css('#recipe-graph g.box[data-job-name="fetch"]').get_attribute("data-status") == "RUNNING",
        what="the first job RUNNING in the graph",
    )
    assert browser.css('#recipe-graph g.box[data-job-name="left"]').get_attribute("data-status") in (
        "PENDING",
        "BLOCKED",
    )
    browser.screenshot("recipe-graph-running")
    browser.wait_for(
        lambda d: {b.get_attribute("data-status") for b in browser.all("#recipe-graph g.box")} == {"COMPLETED"},
        timeout=90,
        what="every box COMPLETED",
    )
    browser.screenshot("recipe-graph")
    browser.click('#recipe-graph g.box[data-job-name="left"]')
    status = browser.wait_for(lambda d: browser.css("#job-status"), what="the job's page after the click")
    assert status.get_attribute("data-status") == "COMPLETED"
    assert "left" in browser.css(".kv").text  # its recipe and name in it
    browser.open(f"/console/recipe-types/{recipe_type['id']}")
    assert len(browser.all("#definition-graph g.box")) == 3
