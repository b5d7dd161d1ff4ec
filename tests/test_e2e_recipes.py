"""Recipes run for real through the API, the scheduler and the local cluster."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from app.db import session_scope
from app.models import ScaleFile
from app.services.workspaces import broker_for
from tests.stack import script_command
from tests.test_specs_examples import RECIPE_DEFINITION  # the specification's geotiff example


def _file_type(
    name: str, version: str, inputs: list[tuple[str, str]], output: str, media_type: str, out_file: str, **fields
) -> dict:
    arguments = " ".join([output, out_file] + [f"${{{i}}}" for i, _ in inputs] + ["${job_output_dir}"])
    interface = {
        "version": "1.0",
        "command": script_command("combine.py"),
        "command_arguments": arguments,
        "input_data": [{"name": i, "type": "file", "media_types": [m]} for i, m in inputs],
        "output_data": [{"name": output, "type": "file", "media_type": media_type}],
    }
    return dict(name=name, version=version, interface=interface, **fields)


def _source_file(workspace: dict, name: str, text: str, media_type: str) -> int:
    """A source file already in a workspace (as Strike would have left it)."""
    with session_scope() as s:
        from app.models import Workspace

        ws = s.get(Workspace, workspace["id"])
        path = broker_for(ws.json_config).resolve(f"sources/{name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        f = ScaleFile(
            file_type="SOURCE",
            file_name=name,
            media_type=media_type,
            file_size=len(text.encode()),
            file_path=f"sources/{name}",
            workspace_id=ws.id,
        )
        s.add(f)
        s.flush()
        return f.id


def _recipe_type(stack, name: str, definition: dict) -> dict:
    response = stack.client.post(
        "/recipe-types/",
        json={"name": name, "version": "1.0", "title": name, "description": name, "definition": definition},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _queue_recipe(stack, recipe_type_id: int, data: dict) -> dict:
    response = stack.client.post("/queue/new-recipe/", json={"recipe_type_id": recipe_type_id, "recipe_data": data})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _jobs_by_name(stack, recipe_id: int) -> dict[str, dict]:
    recipe = stack.client.get(f"/recipes/{recipe_id}/").get_json()
    return {j["job_name"]: j["job"] for j in recipe["jobs"]}


def _wait_statuses(stack, recipe_id: int, wanted: dict[str, str], timeout: float = 60) -> dict[str, dict]:
    def reached():
        jobs = _jobs_by_name(stack, recipe_id)
        return jobs if all(jobs[n]["status"] == s for n, s in wanted.items()) else None

    return stack.wait(reached, timeout=timeout, what=f"recipe {recipe_id} jobs {wanted}")


def _product_text(job_id: int) -> str:
    with session_scope() as s:
        f = s.scalars(select(ScaleFile).where(ScaleFile.job_id == job_id)).one()
        return Path(broker_for(f.workspace.json_config).resolve(f.file_path)).read_text(encoding="utf-8")


def test_geotiff_example_passes_the_first_jobs_product_to_the_second(stack):
    workspace = stack.create_workspace("products")
    stack.create_job_type(
        **_file_type(
            "geotiff-maker",
            "1.2.3",
            [("image", "image/png"), ("georeference_data", "text/csv")],
            "geo_image",
            "image/tiff",
            "geo.tif",
        )
    )
    stack.create_job_type(
        **_file_type(
            "point-detector",
            "4.5.6",
            [("image", "image/tiff")],
            "geo_image",
            "application/vnd.geo+json",
            "points.geojson",
        )
    )
    recipe_type = _recipe_type(stack, "geotiff-recipe", RECIPE_DEFINITION)
    png = _source_file(workspace, "picture.png", "PNG-BYTES;", "image/png")
    csv = _source_file(workspace, "georef.csv", "lat,lon;", "text/csv")
    recipe = _queue_recipe(
        stack,
        recipe_type["id"],
        {
            "version": "1.0",
            "workspace_id": workspace["id"],
            "input_data": [{"name": "image", "file_id": png}, {"name": "georeference_data", "file_id": csv}],
        },
    )
    jobs = _wait_statuses(stack, recipe["id"], {"make_geotiff": "COMPLETED", "detect_points": "COMPLETED"})
    # The second job read the first job's product, which read both recipe inputs.
    assert _product_text(jobs["detect_points"]["id"]) == "PNG-BYTES;lat,lon;[geo_image][geo_image]"
    stack.wait(lambda: stack.client.get(f"/recipes/{recipe['id']}/").get_json()["completed"], what="recipe completed")


def _chain_definition(edges: dict[str, list[str]], root_input: str = "seed") -> dict:
    jobs = []
    for name, parents in edges.items():
        job = {"name": name, "job_type": {"name": f"step-{len(parents) or 1}", "version": "1.0"}}
        if not parents:
            job["recipe_inputs"] = [{"recipe_input": root_input, "job_input": "in1"}]
        else:
            job["dependencies"] = [
                {"name": p, "connections": [{"output": "out", "input": f"in{i + 1}"}]} for i, p in enumerate(parents)
            ]
        jobs.append(job)
    return {"version": "1.0", "input_data": [{"name": root_input, "type": "file"}], "jobs": jobs}


def _step_types(stack):
    stack.create_job_type(**_file_type("step-1", "1.0", [("in1", "text/plain")], "out", "text/plain", "out.txt"))
    stack.create_job_type(
        **_file_type("step-2", "1.0", [("in1", "text/plain"), ("in2", "text/plain")], "out", "text/plain", "out.txt")
    )


def test_diamond_runs_d_after_b_and_c_with_both_outputs(stack):
    workspace = stack.create_workspace("products")
    _step_types(stack)
    definition = _chain_definition({"A": [], "B": ["A"], "C": ["A"], "D": ["B", "C"]})
    recipe_type = _recipe_type(stack, "diamond", definition)
    seed = _source_file(workspace, "seed.txt", "seed;", "text/plain")
    recipe = _queue_recipe(
        stack,
        recipe_type["id"],
        {"version": "1.0", "workspace_id": workspace["id"], "input_data": [{"name": "seed", "file_id": seed}]},
    )
    jobs = _wait_statuses(stack, recipe["id"], dict.fromkeys("ABCD", "COMPLETED"))
    assert _product_text(jobs["D"]["id"]) == "seed;[out][out]seed;[out][out][out]"


def test_failure_in_one_branch_blocks_only_its_descendants(stack):
    workspace = stack.create_workspace("products")
    _step_types(stack)
    stack.create_job_type(
        name="fails",
        version="1.0",
        max_tries=1,
        interface={
            "version": "1.0",
            "command": script_command("exit_with.py"),
            "command_arguments": "3 ${in1}",
            "input_data": [{"name": "in1", "type": "file"}],
            "output_data": [{"name": "out", "type": "file"}],
        },
    )
    definition = _chain_definition({"A": [], "B": ["A"], "C": ["A"], "E": ["B"], "F": ["C"]})
    definition["jobs"][1]["job_type"] = {"name": "fails", "version": "1.0"}  # B fails
    recipe_type = _recipe_type(stack, "fork", definition)
    seed = _source_file(workspace, "seed.txt", "seed;", "text/plain")
    recipe = _queue_recipe(
        stack,
        recipe_type["id"],
        {"version": "1.0", "workspace_id": workspace["id"], "input_data": [{"name": "seed", "file_id": seed}]},
    )
    jobs = _wait_statuses(
        stack, recipe["id"], {"A": "COMPLETED", "B": "FAILED", "C": "COMPLETED", "E": "BLOCKED", "F": "COMPLETED"}
    )
    assert jobs["B"]["error"]["name"] == "algorithm-unknown"
    assert stack.client.get(f"/recipes/{recipe['id']}/").get_json()["completed"] is None


def test_canceled_job_blocks_descendants_and_a_duplicate_update_changes_nothing(stack):
    workspace = stack.create_workspace("products")
    _step_types(stack)
    stack.create_job_type(
        name="waits",
        version="1.0",
        interface={
            "version": "1.0",
            "command": script_command("sleep_for.py"),
            "command_arguments": "120 ${in1}",
            "input_data": [{"name": "in1", "type": "file"}],
            "output_data": [{"name": "out", "type": "file"}],
        },
    )
    definition = _chain_definition({"A": [], "B": ["A"], "C": [], "D": ["C"]})
    definition["jobs"][0]["job_type"] = {"name": "waits", "version": "1.0"}  # A runs until canceled
    recipe_type = _recipe_type(stack, "cancel-me", definition)
    seed = _source_file(workspace, "seed.txt", "seed;", "text/plain")
    recipe = _queue_recipe(
        stack,
        recipe_type["id"],
        {"version": "1.0", "workspace_id": workspace["id"], "input_data": [{"name": "seed", "file_id": seed}]},
    )
    jobs = _wait_statuses(stack, recipe["id"], {"A": "RUNNING", "D": "COMPLETED"})
    assert stack.client.patch(f"/jobs/{jobs['A']['id']}/", json={"status": "CANCELED"}).status_code == 200
    _wait_statuses(stack, recipe["id"], {"A": "CANCELED", "B": "BLOCKED", "C": "COMPLETED", "D": "COMPLETED"})

    from tasks.jobs import update_recipes

    before = _jobs_by_name(stack, recipe["id"])
    update_recipes.apply(args=([recipe["id"]],))  # a late duplicate message
    after = _jobs_by_name(stack, recipe["id"])
    assert {n: (j["status"], j["last_modified"]) for n, j in before.items()} == {
        n: (j["status"], j["last_modified"]) for n, j in after.items()
    }
