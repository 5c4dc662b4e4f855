from __future__ import annotations

import pytest

from harness.errors import SpecError
from harness.spec import AssignmentSpec, load_assignment, parse_spec

MINIMAL = {"id": "t", "title": "T"}


def test_minimal_spec_has_safe_sandbox_defaults():
    spec = parse_spec(MINIMAL)
    assert spec.sandbox.timeout_s > 0 and spec.sandbox.memory_mb >= 64
    assert spec.entry.script == "predict.py"


def test_unknown_key_names_the_toml_path_and_suggests_the_closest():
    with pytest.raises(SpecError) as err:
        parse_spec({**MINIMAL, "sandbox": {"timeout": 5}, "graders": [{"use": "x", "confg": {}}]})
    text = str(err.value)
    assert "sandbox.timeout: unknown key; did you mean 'timeout_s'?" in text
    assert "graders[0].confg: unknown key; did you mean 'config'?" in text


def test_automated_criterion_needs_four_monotonic_thresholds():
    bad = {
        **MINIMAL,
        "rubric": {"criteria": [{"id": "a", "title": "A", "measurement": "p.f1", "thresholds": [0.9, 0.5, 0.6, 0.7]}]},
    }
    with pytest.raises(SpecError, match="monotonic"):
        parse_spec(bad)
    bad["rubric"]["criteria"][0]["thresholds"] = [0.1, 0.2]
    with pytest.raises(SpecError, match="four values"):
        parse_spec(bad)


def test_duplicate_criterion_ids_are_rejected():
    row = {"id": "a", "title": "A", "kind": "human"}
    with pytest.raises(SpecError, match="used twice"):
        parse_spec({**MINIMAL, "rubric": {"criteria": [row, row]}})


def test_source_names_must_stay_inside_the_data_dir():
    src = {"name": "../etc/passwd", "sha256": "0" * 64}
    with pytest.raises(SpecError, match="relative path"):
        parse_spec({**MINIMAL, "data": {"sources": [src]}})


def test_load_assignment_reports_toml_syntax_errors(tmp_path):
    (tmp_path / "assignment.toml").write_text("id = \n")
    with pytest.raises(SpecError, match="cannot parse"):
        load_assignment(tmp_path)
    with pytest.raises(SpecError, match="no assignment.toml"):
        load_assignment(tmp_path / "nowhere")


def test_schema_is_published():
    schema = AssignmentSpec.model_json_schema()
    assert "sandbox" in schema["properties"] and "rubric" in schema["properties"]


def test_intake_table_is_typed_and_only_set_limits_override():
    spec = parse_spec({**MINIMAL, "intake": {"entries": 10, "ratio": 50}})
    assert spec.intake.overrides() == {"entries": 10, "ratio": 50.0}
    assert parse_spec(MINIMAL).intake.overrides() == {}


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"entires": 10}, "intake.entires: unknown key; did you mean 'entries'?"),
        ({"entries": True}, "intake.entries"),
        ({"member_bytes": -1}, "intake.member_bytes"),
        ({"ratio": False}, "intake.ratio"),
    ],
)
def test_bad_intake_limits_name_the_toml_path(table: dict, expected: str):
    with pytest.raises(SpecError) as err:
        parse_spec({**MINIMAL, "intake": table})
    assert expected in str(err.value)
