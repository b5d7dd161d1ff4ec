"""Problems, SpecError and the collector every specification module reports through."""

from __future__ import annotations

import pytest

from app.specs.base import Collector, Problem, SpecError, warnings_to_dicts


def test_spec_error_lists_every_problem():
    error = SpecError([Problem("INVALID_NAME", "first is wrong"), Problem("CYCLE", "second is wrong")])
    assert str(error) == "first is wrong; second is wrong"
    assert error.ids == ["INVALID_NAME", "CYCLE"]
    assert error.to_dict() == {
        "detail": "first is wrong; second is wrong",
        "errors": [{"id": "INVALID_NAME", "message": "first is wrong"}, {"id": "CYCLE", "message": "second is wrong"}],
    }


def test_spec_error_accepts_a_single_problem_and_refuses_none():
    assert SpecError(Problem("X", "m")).problems == [Problem("X", "m")]
    with pytest.raises(ValueError):
        SpecError([])


def test_collector_raises_once_with_everything():
    c = Collector()
    c.add("A", "a")
    c.warn("media_type", "w")
    c.add("B", "b")
    with pytest.raises(SpecError) as info:
        c.raise_if_any()
    assert info.value.ids == ["A", "B"]
    assert c.warnings == [Problem("media_type", "w")]


def test_collector_without_problems_does_not_raise():
    c = Collector()
    c.warn("media_type", "only a warning")
    c.raise_if_any()


def test_absorb_prefixes_context():
    c = Collector()
    c.absorb(SpecError(Problem("X", "inner")), "outer")
    assert c.problems == [Problem("X", "outer: inner")]


def test_warning_shape_matches_the_specification():
    assert warnings_to_dicts([Problem("media_type", "Invalid media type")]) == [
        {"id": "media_type", "details": "Invalid media type"}
    ]
