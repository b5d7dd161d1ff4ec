"""Recipe definition 1.0: references, data flow between jobs, job types, and cycles."""

from __future__ import annotations

import copy

import pytest

from app.specs.base import SpecError
from app.specs.recipe_definition import (
    children,
    parents,
    topological_order,
    validate_recipe_definition,
    validate_recipe_definition_structure,
)
from tests.test_specs_examples import RECIPE_DEFINITION, Recorder, lookup_job_types

# A small catalogue of job types for the rule tests.
PASS_THROUGH = {  # file in, file out
    "command": "run",
    "input_data": [{"name": "in", "type": "file", "media_types": ["text/plain"]}],
    "output_data": [{"name": "out", "type": "file", "media_type": "text/plain"}],
}
TWO_INPUTS = {
    "command": "run",
    "input_data": [{"name": "a", "type": "file"}, {"name": "b", "type": "file", "required": False}],
    "output_data": [{"name": "out", "type": "file"}],
}
MANY_OUT = {
    "command": "run",
    "input_data": [{"name": "in", "type": "file", "required": False}],
    "output_data": [
        {"name": "outs", "type": "files"},
        {"name": "maybe", "type": "file", "required": False, "media_type": "image/png"},
    ],
}
PROPERTY_IN = {"command": "run", "input_data": [{"name": "p", "type": "property"}], "output_data": []}
NO_INPUTS = {"command": "run", "output_data": [{"name": "out", "type": "file", "media_type": "text/plain"}]}
CATALOGUE = {
    ("pass", "1"): PASS_THROUGH,
    ("two", "1"): TWO_INPUTS,
    ("many", "1"): MANY_OUT,
    ("prop", "1"): PROPERTY_IN,
    ("source", "1"): NO_INPUTS,
}


def lookup(keys):
    return {k: CATALOGUE[k] for k in keys if k in CATALOGUE}


def job(name, job_type="source", deps=(), recipe_inputs=()):
    return {
        "name": name,
        "job_type": {"name": job_type, "version": "1"},
        "recipe_inputs": [{"recipe_input": r, "job_input": j} for r, j in recipe_inputs],
        "dependencies": [
            {"name": d, "connections": [{"output": o, "input": i} for o, i in conns]} for d, conns in deps
        ],
    }


def definition(*jobs, inputs=()):
    return {"version": "1.0", "input_data": list(inputs), "jobs": list(jobs)}


def ids_of(doc, lookup_job_types=lookup) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate_recipe_definition(doc, lookup_job_types=lookup_job_types)
    return info.value.ids


def test_defaults_filled_and_order():
    result, warnings = validate_recipe_definition(
        {
            "jobs": [
                {"name": "s", "job_type": {"name": "source", "version": "1"}},
                {
                    "name": "p",
                    "job_type": {"name": "pass", "version": "1"},
                    "dependencies": [{"name": "s", "connections": [{"output": "out", "input": "in"}]}],
                },
            ]
        },
        lookup_job_types=lookup,
    )
    assert result["version"] == "1.0" and result["input_data"] == []
    assert result["jobs"][0]["recipe_inputs"] == [] and result["jobs"][0]["dependencies"] == []
    assert warnings == []
    assert topological_order(result) == ["s", "p"]


def test_unsupported_version_and_missing_jobs():
    assert ids_of({"version": "2.0", "jobs": []}) == ["UNSUPPORTED_VERSION"]
    assert ids_of({"version": "1.0"}) == ["MISSING_FIELD"]


def test_job_types_looked_up_once():
    recorder = Recorder(CATALOGUE)
    doc = definition(job("a"), job("b"), job("c", "pass", deps=[("a", [("out", "in")])]))
    validate_recipe_definition(doc, lookup_job_types=recorder)
    assert recorder.calls == [[("pass", "1"), ("source", "1")]]


def test_duplicate_job_names():
    assert ids_of(definition(job("a"), job("a"))) == ["DUPLICATE_NAME"]


def test_duplicate_recipe_input_names():
    inputs = [{"name": "x", "type": "file"}, {"name": "x", "type": "property"}]
    assert ids_of(definition(job("a"), inputs=inputs)) == ["DUPLICATE_NAME"]


def test_invalid_job_name():
    assert ids_of(definition(job("a/b"))) == ["INVALID_NAME"]


def test_unknown_job_type():
    with pytest.raises(SpecError) as info:
        validate_recipe_definition(definition(job("a", "missing")), lookup_job_types=lookup)
    assert info.value.ids == ["UNKNOWN_JOB_TYPE"]
    assert "missing" in str(info.value)


def test_unknown_recipe_input():
    assert ids_of(definition(job("p", "pass", recipe_inputs=[("nope", "in")]))) == ["UNKNOWN_RECIPE_INPUT"]


def test_recipe_input_feeding_unknown_job_input():
    inputs = [{"name": "f", "type": "file"}]
    assert sorted(ids_of(definition(job("p", "pass", recipe_inputs=[("f", "nope")]), inputs=inputs))) == [
        "MISSING_REQUIRED_INPUT",
        "UNKNOWN_INPUT",
    ]


def test_unknown_dependency():
    assert ids_of(definition(job("a", deps=[("ghost", [])]))) == ["UNKNOWN_DEPENDENCY"]


def test_duplicate_dependency():
    assert ids_of(definition(job("s"), job("a", deps=[("s", []), ("s", [])]))) == ["DUPLICATE_DEPENDENCY"]


def test_same_input_fed_twice_by_recipe_input_and_connection():
    inputs = [{"name": "f", "type": "file"}]
    doc = definition(
        job("s"), job("p", "pass", recipe_inputs=[("f", "in")], deps=[("s", [("out", "in")])]), inputs=inputs
    )
    assert ids_of(doc) == ["INPUT_FED_TWICE"]


def test_same_input_fed_twice_by_two_connections():
    doc = definition(job("s1"), job("s2"), job("p", "pass", deps=[("s1", [("out", "in")]), ("s2", [("out", "in")])]))
    assert ids_of(doc) == ["INPUT_FED_TWICE"]


def test_connection_to_unknown_output_or_input():
    doc = definition(job("s"), job("p", "pass", deps=[("s", [("nope", "in")])]))
    assert ids_of(doc) == ["UNKNOWN_OUTPUT"]
    doc = definition(job("s"), job("p", "pass", deps=[("s", [("out", "nope")])]))
    assert sorted(ids_of(doc)) == ["MISSING_REQUIRED_INPUT", "UNKNOWN_INPUT"]


def test_missing_required_job_input():
    with pytest.raises(SpecError) as info:
        validate_recipe_definition(definition(job("p", "pass")), lookup_job_types=lookup)
    assert info.value.ids == ["MISSING_REQUIRED_INPUT"]
    assert "'in'" in str(info.value) and "'p'" in str(info.value)


def test_optional_job_input_may_stay_unfed():
    inputs = [{"name": "f", "type": "file"}]
    validate_recipe_definition(
        definition(job("t", "two", recipe_inputs=[("f", "a")]), inputs=inputs), lookup_job_types=lookup
    )


def test_type_mismatches():
    # several files cannot fill a single-file input
    doc = definition(job("m", "many"), job("p", "pass", deps=[("m", [("outs", "in")])]))
    assert ids_of(doc) == ["TYPE_MISMATCH"]
    # a file cannot fill a property
    doc = definition(job("s"), job("q", "prop", deps=[("s", [("out", "p")])]))
    assert ids_of(doc) == ["TYPE_MISMATCH"]
    # a property cannot fill a file input
    doc = definition(job("p", "pass", recipe_inputs=[("v", "in")]), inputs=[{"name": "v", "type": "property"}])
    assert ids_of(doc) == ["TYPE_MISMATCH"]


def test_single_file_may_fill_a_files_input():
    files_in = {"command": "run", "input_data": [{"name": "all", "type": "files"}]}
    lookup_with = {**CATALOGUE, ("gather", "1"): files_in}
    doc = definition(job("s"), job("g", "gather", deps=[("s", [("out", "all")])]))
    validate_recipe_definition(doc, lookup_job_types=lambda keys: {k: lookup_with[k] for k in keys})


def test_optional_source_cannot_feed_required_input():
    doc = definition(job("m", "many"), job("p", "pass", deps=[("m", [("maybe", "in")])]))
    assert "OPTIONAL_FEEDS_REQUIRED" in ids_of(doc)
    doc = definition(
        job("p", "pass", recipe_inputs=[("f", "in")]), inputs=[{"name": "f", "type": "file", "required": False}]
    )
    assert ids_of(doc) == ["OPTIONAL_FEEDS_REQUIRED"]


def test_media_type_mismatch_is_a_warning():
    doc = definition(
        job("m", "many"), job("t", "two", deps=[("m", [("maybe", "b")])]), inputs=[{"name": "f", "type": "file"}]
    )
    doc["jobs"][1]["recipe_inputs"] = [{"recipe_input": "f", "job_input": "a"}]
    _, warnings = validate_recipe_definition(doc, lookup_job_types=lookup)
    assert warnings == []  # "two" accepts any media type
    doc = definition(
        job("p", "pass", recipe_inputs=[("f", "in")]),
        inputs=[{"name": "f", "type": "file", "media_types": ["image/png"]}],
    )
    _, warnings = validate_recipe_definition(doc, lookup_job_types=lookup)
    assert [w.id for w in warnings] == ["media_type"]
    assert "in -> image/png" in warnings[0].message


def test_connection_media_type_mismatch_is_a_warning():
    png_source = {"command": "run", "output_data": [{"name": "out", "type": "file", "media_type": "image/png"}]}
    table = {**CATALOGUE, ("png", "1"): png_source}
    doc = definition(job("s", "png"), job("p", "pass", deps=[("s", [("out", "in")])]))
    result, warnings = validate_recipe_definition(doc, lookup_job_types=lambda keys: {k: table[k] for k in keys})
    assert [w.id for w in warnings] == ["media_type"]
    assert result["jobs"][1]["dependencies"][0]["connections"] == [{"output": "out", "input": "in"}]


def test_invalid_job_interface_in_the_database_is_reported():
    table = {**CATALOGUE, ("broken", "1"): {"command": ""}}
    with pytest.raises(SpecError) as info:
        validate_recipe_definition(
            definition(job("b", "broken")), lookup_job_types=lambda keys: {k: table[k] for k in keys if k in table}
        )
    assert info.value.ids == ["BLANK_VALUE"]
    assert "broken" in str(info.value)


# ---------------------------------------------------------------- cycles


@pytest.mark.timeout(5)
def test_cycle_not_through_the_first_job_is_found():
    # A -> B -> C -> B: the cycle does not contain A, the job a naive walk starts from.
    doc = definition(job("A"), job("B", deps=[("A", []), ("C", [])]), job("C", deps=[("B", [])]))
    with pytest.raises(SpecError) as info:
        validate_recipe_definition(doc, lookup_job_types=lookup)
    assert info.value.ids == ["CYCLE"]
    message = str(info.value)
    assert "'B'" in message and "'C'" in message and "'A'" not in message


@pytest.mark.timeout(5)
def test_self_dependency_is_a_cycle():
    assert ids_of(definition(job("A", deps=[("A", [])]))) == ["CYCLE"]


@pytest.mark.timeout(5)
def test_each_separate_cycle_is_reported():
    doc = definition(
        job("A", deps=[("B", [])]),
        job("B", deps=[("A", [])]),
        job("C", deps=[("D", [])]),
        job("D", deps=[("E", [])]),
        job("E", deps=[("C", [])]),
        job("F", deps=[("E", [])]),
    )  # F is only downstream of a cycle
    with pytest.raises(SpecError) as info:
        validate_recipe_definition(doc, lookup_job_types=lookup)
    assert info.value.ids == ["CYCLE", "CYCLE"]
    assert "'F'" not in str(info.value)


@pytest.mark.timeout(5)
def test_cycle_found_without_job_types_too():
    doc = definition(job("A"), job("B", deps=[("A", []), ("C", [])]), job("C", deps=[("B", [])]))
    with pytest.raises(SpecError) as info:
        validate_recipe_definition_structure(doc)
    assert info.value.ids == ["CYCLE"]


@pytest.mark.timeout(10)
def test_long_chains_do_not_hit_recursion_limits():
    n = 3000
    jobs = [job("j0")] + [job(f"j{i}", deps=[(f"j{i - 1}", [])]) for i in range(1, n)]
    result, _ = validate_recipe_definition(definition(*jobs), lookup_job_types=lookup)
    assert topological_order(result) == [f"j{i}" for i in range(n)]
    jobs[0] = job("j0", deps=[(f"j{n - 1}", [])])
    assert ids_of(definition(*jobs)) == ["CYCLE"]


def test_topological_order_refuses_cycles():
    cyclic = definition(job("A", deps=[("B", [])]), job("B", deps=[("A", [])]))
    with pytest.raises(SpecError) as info:
        topological_order(cyclic)
    assert info.value.ids == ["CYCLE"]


def test_every_problem_reported_together():
    doc = definition(
        job("a", "missing"), job("a"), job("b", deps=[("ghost", [])]), job("c", "pass", recipe_inputs=[("nope", "in")])
    )
    assert sorted(ids_of(doc)) == ["DUPLICATE_NAME", "UNKNOWN_DEPENDENCY", "UNKNOWN_JOB_TYPE", "UNKNOWN_RECIPE_INPUT"]


def test_graph_helpers():
    result, _ = validate_recipe_definition(copy.deepcopy(RECIPE_DEFINITION), lookup_job_types=lookup_job_types)
    assert parents(result) == {"make_geotiff": set(), "detect_points": {"make_geotiff"}}
    assert children(result) == {"make_geotiff": {"detect_points"}, "detect_points": set()}


def test_diamond_order_is_stable():
    doc = definition(
        job("top"),
        job("left", deps=[("top", [])]),
        job("right", deps=[("top", [])]),
        job("bottom", deps=[("left", []), ("right", [])]),
    )
    result, _ = validate_recipe_definition(doc, lookup_job_types=lookup)
    assert topological_order(result) == ["top", "left", "right", "bottom"]
