"""Recipe definition 1.0: the recipe's inputs, its jobs, and how data flows between them.

`lookup_job_types(keys) -> {(name, version): interface}` is passed in and returns the job interface of
every job type that exists; it is called once with every (name, version) the definition uses.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Iterable, Mapping

from app.specs.base import (
    MEDIA_TYPE_WARNING,
    Collector,
    Problem,
    SpecError,
    check_name,
    check_unknown_fields,
    check_version,
    describe,
    get_list,
    get_object,
    get_str,
    root_object,
)
from app.specs.job_interface import check_input_specs, validate_job_interface

WHAT = "recipe definition"

JobTypeKey = tuple[str, str]
LookupJobTypes = Callable[[list[JobTypeKey]], Mapping[JobTypeKey, dict]]

# Which kind of data may feed which kind of input: a single file can fill a "files" input,
# several files cannot fill a "file" input, and only a property fills a property.
_COMPATIBLE = {
    "property": {"property"},
    "file": {"file", "files"},
    "files": {"files"},
}


# ---------------------------------------------------------------- structure


def _check_job(item: Any, index: int, c: Collector) -> dict | None:
    where = f"{WHAT}: jobs[{index}]"
    if not isinstance(item, dict):
        c.add("INVALID_TYPE", f"{where} must be an object, got {describe(item)}")
        return None
    check_unknown_fields(item, ("name", "job_type", "recipe_inputs", "dependencies"), where, c)
    name = check_name(item.get("name"), where, c)
    if name is not None:
        where = f"{WHAT}: job '{name}'"

    job_type = get_object(item, "job_type", where, c, required=True)
    type_name = type_version = None
    if job_type is not None:
        check_unknown_fields(job_type, ("name", "version"), f"{where}: job_type", c)
        type_name = get_str(job_type, "name", f"{where}: job_type", c, required=True, non_blank=True)
        type_version = get_str(job_type, "version", f"{where}: job_type", c, required=True, non_blank=True)

    recipe_inputs: list[dict] = []
    for j, link in enumerate(get_list(item, "recipe_inputs", where, c) or []):
        lwhere = f"{where}: recipe_inputs[{j}]"
        if not isinstance(link, dict):
            c.add("INVALID_TYPE", f"{lwhere} must be an object, got {describe(link)}")
            continue
        check_unknown_fields(link, ("recipe_input", "job_input"), lwhere, c)
        recipe_input = get_str(link, "recipe_input", lwhere, c, required=True, non_blank=True)
        job_input = get_str(link, "job_input", lwhere, c, required=True, non_blank=True)
        if recipe_input is not None and job_input is not None:
            recipe_inputs.append({"recipe_input": recipe_input, "job_input": job_input})

    dependencies: list[dict] = []
    for j, dep in enumerate(get_list(item, "dependencies", where, c) or []):
        dwhere = f"{where}: dependencies[{j}]"
        if not isinstance(dep, dict):
            c.add("INVALID_TYPE", f"{dwhere} must be an object, got {describe(dep)}")
            continue
        check_unknown_fields(dep, ("name", "connections"), dwhere, c)
        dep_name = get_str(dep, "name", dwhere, c, required=True, non_blank=True)
        connections: list[dict] = []
        for k, conn in enumerate(get_list(dep, "connections", dwhere, c) or []):
            cwhere = f"{dwhere}: connections[{k}]"
            if not isinstance(conn, dict):
                c.add("INVALID_TYPE", f"{cwhere} must be an object, got {describe(conn)}")
                continue
            check_unknown_fields(conn, ("output", "input"), cwhere, c)
            output = get_str(conn, "output", cwhere, c, required=True, non_blank=True)
            input_name = get_str(conn, "input", cwhere, c, required=True, non_blank=True)
            if output is not None and input_name is not None:
                connections.append({"output": output, "input": input_name})
        if dep_name is not None:
            dependencies.append({"name": dep_name, "connections": connections})

    if name is None or type_name is None or type_version is None:
        return None
    return {
        "name": name,
        "job_type": {"name": type_name, "version": type_version},
        "recipe_inputs": recipe_inputs,
        "dependencies": dependencies,
    }


# ---------------------------------------------------------------- graph


def _edges(jobs: Iterable[dict]) -> dict[str, list[str]]:
    """parent -> children, only between jobs that exist, in definition order."""
    names = [job["name"] for job in jobs]
    known = set(names)
    out: dict[str, list[str]] = {name: [] for name in names}
    for job in jobs:
        for dep in job.get("dependencies", []):
            if dep["name"] in known and job["name"] not in out[dep["name"]]:
                out[dep["name"]].append(job["name"])
    return out


def _kahn(children_of: dict[str, list[str]]) -> tuple[list[str], set[str]]:
    """Topological order (stable: definition order among ready jobs) and the jobs left on cycles or behind them."""
    indegree = {name: 0 for name in children_of}
    for kids in children_of.values():
        for kid in kids:
            indegree[kid] += 1
    ready = deque(name for name in children_of if indegree[name] == 0)
    order: list[str] = []
    while ready:
        name = ready.popleft()
        order.append(name)
        for kid in children_of[name]:
            indegree[kid] -= 1
            if indegree[kid] == 0:
                ready.append(kid)
    return order, set(children_of) - set(order)


def _cycles(children_of: dict[str, list[str]], stuck: set[str]) -> list[list[str]]:
    """One concrete cycle per strongly connected group of `stuck` jobs (iterative, so no recursion limit).

    Each job is visited once (explicit visited sets), so a cycle that does not pass through the first
    job examined (A -> B -> C -> B) is found rather than walked forever.
    """
    graph = {n: [k for k in children_of[n] if k in stuck] for n in children_of if n in stuck}
    # Tarjan's strongly connected components, iterative.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child_i = work.pop()
            if child_i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            kids = graph[node]
            if child_i < len(kids):
                work.append((node, child_i + 1))
                kid = kids[child_i]
                if kid not in index:
                    work.append((kid, 0))
                elif kid in on_stack:
                    low[node] = min(low[node], index[kid])
                continue
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(group)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])

    position = {name: i for i, name in enumerate(graph)}
    cycles: list[list[str]] = []
    for group in groups:
        members = set(group)
        start = min(group, key=position.__getitem__)
        if len(group) == 1 and start not in graph[start]:
            continue  # only downstream of a cycle, not on one
        # Shortest way back to `start` inside the group (breadth first, each job visited once).
        previous: dict[str, str] = {}
        queue = deque([start])
        seen = {start}
        end: str | None = None
        while queue and end is None:
            node = queue.popleft()
            for kid in graph[node]:
                if kid not in members:
                    continue
                if kid == start:
                    end = node
                    break
                if kid not in seen:
                    seen.add(kid)
                    previous[kid] = node
                    queue.append(kid)
        path = [start]
        step: str | None = end
        while step is not None and step != start:
            path.append(step)
            step = previous.get(step)
        # `path` runs backwards from start along parents; reverse to read in data-flow order.
        cycles.append([start] + list(reversed(path[1:])) + [start])
    return cycles


def _cycle_problem(cycle: list[str]) -> Problem:
    # cycle is in data-flow order (parent first); say it as "depends on" starting from the last job.
    chain = " depends on ".join(f"'{n}'" for n in reversed(cycle))
    return Problem("CYCLE", f"{WHAT}: circular job dependencies: {chain}")


# ---------------------------------------------------------------- data flow


def _check_feed(
    c: Collector,
    job: str,
    input_spec: dict | None,
    input_name: str,
    source: str,
    source_type: str | None,
    source_required: bool,
    source_media_types: list[str],
    fed: dict[str, str],
) -> None:
    """One recipe input or parent output feeding one job input."""
    where = f"{WHAT}: job '{job}'"
    if input_spec is None:
        c.add("UNKNOWN_INPUT", f"{where}: {source} feeds '{input_name}', which is not an input of the job's type")
        return
    if input_name in fed:
        c.add("INPUT_FED_TWICE", f"{where}: input '{input_name}' is fed by both {fed[input_name]} and {source}")
        return
    fed[input_name] = source
    if source_type is None:
        return  # source unknown; already reported
    if input_spec["type"] not in _COMPATIBLE[source_type]:
        c.add(
            "TYPE_MISMATCH",
            f"{where}: {source} ({source_type}) cannot feed input '{input_name}' ({input_spec['type']})",
        )
        return
    if input_spec.get("required", True) and not source_required:
        c.add(
            "OPTIONAL_FEEDS_REQUIRED", f"{where}: required input '{input_name}' is fed by {source}, which is optional"
        )
    accepted = input_spec.get("media_types") or []
    if accepted:
        for media_type in source_media_types:
            if media_type not in accepted:
                c.warn(
                    MEDIA_TYPE_WARNING,
                    f"Invalid media type for data input: {input_name} -> {media_type} (recipe job '{job}')",
                )


def _check_data_flow(
    jobs: list[dict], recipe_inputs: dict[str, dict], interfaces: dict[str, dict], c: Collector
) -> None:
    names = {job["name"] for job in jobs}
    for job in jobs:
        name = job["name"]
        interface = interfaces.get(name)
        inputs = {e["name"]: e for e in interface["input_data"]} if interface else None
        fed: dict[str, str] = {}

        for link in job["recipe_inputs"]:
            source = f"recipe input '{link['recipe_input']}'"
            spec = recipe_inputs.get(link["recipe_input"])
            if spec is None:
                c.add(
                    "UNKNOWN_RECIPE_INPUT",
                    f"{WHAT}: job '{name}': recipe_inputs refers to '{link['recipe_input']}', "
                    f"which is not a recipe input",
                )
            if inputs is None:
                continue
            _check_feed(
                c,
                name,
                inputs.get(link["job_input"]),
                link["job_input"],
                source,
                spec["type"] if spec else None,
                spec.get("required", True) if spec else True,
                (spec or {}).get("media_types") or [],
                fed,
            )

        seen_deps: set[str] = set()
        for dep in job["dependencies"]:
            parent = dep["name"]
            if parent in seen_deps:
                c.add("DUPLICATE_DEPENDENCY", f"{WHAT}: job '{name}' lists dependency '{parent}' more than once")
                continue
            seen_deps.add(parent)
            if parent not in names:
                c.add(
                    "UNKNOWN_DEPENDENCY",
                    f"{WHAT}: job '{name}' depends on '{parent}', which is not a job of this recipe",
                )
                continue
            parent_interface = interfaces.get(parent)
            parent_outputs = {e["name"]: e for e in parent_interface["output_data"]} if parent_interface else None
            for conn in dep["connections"]:
                source = f"output '{conn['output']}' of job '{parent}'"
                output = None
                if parent_outputs is not None:
                    output = parent_outputs.get(conn["output"])
                    if output is None:
                        c.add(
                            "UNKNOWN_OUTPUT", f"{WHAT}: job '{name}': job '{parent}' has no output '{conn['output']}'"
                        )
                if inputs is None:
                    continue
                media = [output["media_type"]] if output and output.get("media_type") else []
                _check_feed(
                    c,
                    name,
                    inputs.get(conn["input"]),
                    conn["input"],
                    source,
                    output["type"] if output else None,
                    output.get("required", True) if output else True,
                    media,
                    fed,
                )

        if inputs is not None:
            for input_name, spec in inputs.items():
                if spec.get("required", True) and input_name not in fed:
                    c.add(
                        "MISSING_REQUIRED_INPUT",
                        f"{WHAT}: job '{name}': required input '{input_name}' is not fed "
                        f"by a recipe input or a dependency's output",
                    )


# ---------------------------------------------------------------- entry points


def _validate(doc: dict | None, lookup_job_types: LookupJobTypes | None) -> tuple[dict, list[Problem]]:
    c = Collector()
    doc = root_object(doc, WHAT, c, allow_none=False)
    c.raise_if_any()
    version = check_version(doc, WHAT, c)
    check_unknown_fields(doc, ("version", "input_data", "jobs"), WHAT, c)

    inputs = check_input_specs(get_list(doc, "input_data", WHAT, c) or [], WHAT, c)
    recipe_inputs: dict[str, dict] = {}
    for entry in inputs:
        if entry["name"] is None:
            continue
        if entry["name"] in recipe_inputs:
            c.add("DUPLICATE_NAME", f"{WHAT}: recipe input name '{entry['name']}' is used more than once")
        else:
            recipe_inputs[entry["name"]] = entry

    raw_jobs = get_list(doc, "jobs", WHAT, c, required=True) or []
    jobs: list[dict] = []
    seen_jobs: set[str] = set()
    for i, item in enumerate(raw_jobs):
        job = _check_job(item, i, c)
        if job is None:
            continue
        if job["name"] in seen_jobs:
            c.add("DUPLICATE_NAME", f"{WHAT}: job name '{job['name']}' is used more than once")
            continue
        seen_jobs.add(job["name"])
        jobs.append(job)

    interfaces: dict[str, dict] = {}
    if lookup_job_types is not None and jobs:
        keys = sorted({(j["job_type"]["name"], j["job_type"]["version"]) for j in jobs})
        found = lookup_job_types(keys)
        normalized: dict[JobTypeKey, dict | None] = {}
        for key in keys:
            if key not in found:
                continue
            try:
                normalized[key] = validate_job_interface(found[key])
            except SpecError as exc:
                normalized[key] = None
                c.absorb(exc, f"{WHAT}: job type {key[0]} {key[1]} has an invalid interface")
        for job in jobs:
            key = (job["job_type"]["name"], job["job_type"]["version"])
            if key not in found:
                c.add(
                    "UNKNOWN_JOB_TYPE",
                    f"{WHAT}: job '{job['name']}' uses job type {key[0]} version {key[1]}, which does not exist",
                )
            elif (known := normalized.get(key)) is not None:
                interfaces[job["name"]] = known

    _check_data_flow(jobs, recipe_inputs, interfaces, c)

    children_of = _edges(jobs)
    _, stuck = _kahn(children_of)
    for cycle in _cycles(children_of, stuck):
        c.problems.append(_cycle_problem(cycle))

    c.raise_if_any()
    return {"version": version, "input_data": inputs, "jobs": jobs}, c.warnings


def validate_recipe_definition(doc: dict | None, *, lookup_job_types: LookupJobTypes) -> tuple[dict, list[Problem]]:
    """Normalize a recipe definition and check it against the job types it uses.

    Returns (normalized definition, warnings); raises SpecError listing every problem.
    """
    return _validate(doc, lookup_job_types)


def validate_recipe_definition_structure(doc: dict | None) -> tuple[dict, list[Problem]]:
    """Only what can be checked without job types (names, references, cycles); used where job types may
    not exist yet, e.g. while validating an import document."""
    return _validate(doc, None)


# ---------------------------------------------------------------- helpers on a normalized definition


def parents(definition: dict) -> dict[str, set[str]]:
    """job name -> names of the jobs it depends on."""
    return {job["name"]: {dep["name"] for dep in job.get("dependencies", [])} for job in definition.get("jobs", [])}


def children(definition: dict) -> dict[str, set[str]]:
    """job name -> names of the jobs that depend on it."""
    result: dict[str, set[str]] = {job["name"]: set() for job in definition.get("jobs", [])}
    for job in definition.get("jobs", []):
        for dep in job.get("dependencies", []):
            result.setdefault(dep["name"], set()).add(job["name"])
    return result


def topological_order(definition: dict) -> list[str]:
    """Job names, every job after all jobs it depends on (definition order among equals).

    Raises SpecError (CYCLE) for a cyclic definition.
    """
    children_of = _edges(definition.get("jobs", []))
    order, stuck = _kahn(children_of)
    if stuck:
        raise SpecError(
            [_cycle_problem(cycle) for cycle in _cycles(children_of, stuck)]
            or [Problem("CYCLE", f"{WHAT}: circular job dependencies among {sorted(stuck)}")]
        )
    return order


def job_by_name(definition: dict) -> dict[str, dict]:
    return {job["name"]: job for job in definition.get("jobs", [])}
