"""Spark job spec files: what is accepted, and errors that name the file and the field."""

from __future__ import annotations

import datetime
import json
import os
import textwrap
import time
from pathlib import Path

import pytest

from atmo_provider.jobs.spec import JobSpec, SpecError, default_jobs_folder, load_job_specs

UTC = datetime.timezone.utc

NOTEBOOK = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}

VALID = """\
identifier: daily-counts
owner: ada
owner_email: ada@example.com
description: Count things every day.
notebook: notebooks/counts.ipynb
interval: daily
start_date: 2024-03-01
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "counts.ipynb").write_text(json.dumps(NOTEBOOK))
    return tmp_path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def spec_with(folder: Path, **changes) -> tuple[list[JobSpec], list[SpecError]]:
    lines = dict(line.split(": ", 1) for line in VALID.splitlines())
    for key, value in changes.items():
        if value is None:
            lines.pop(key, None)
        else:
            lines[key] = value
    write(folder, "job.yaml", "".join(f"{key}: {value}\n" for key, value in lines.items()))
    return load_job_specs(folder, emr_releases=("6.15.0", "5.36.2"))


def only_error(folder: Path, **changes) -> SpecError:
    specs, errors = spec_with(folder, **changes)
    assert specs == []
    assert len(errors) == 1, errors
    assert errors[0].file == str(folder / "job.yaml")
    return errors[0]


def test_valid_spec_is_loaded_with_defaults(folder):
    specs, errors = spec_with(folder)

    assert errors == []
    (spec,) = specs
    assert spec.identifier == "daily-counts"
    assert spec.dag_id == "atmo_job_daily-counts"
    assert spec.notebook_path == str((folder / "notebooks" / "counts.ipynb").absolute())
    assert spec.start_date == datetime.datetime(2024, 3, 1, tzinfo=UTC)
    assert (spec.size, spec.timeout, spec.result_visibility) == (1, 24, "private")
    assert (spec.end_date, spec.emr_release, spec.paused) == (None, None, None)


@pytest.mark.parametrize(("interval", "hours"), [("daily", 24), ("weekly", 168), ("monthly", 720)])
def test_intervals_have_atmo_lengths(folder, interval, hours):
    (spec,), _ = spec_with(folder, interval=interval)

    assert spec.interval_hours == hours


def test_start_date_with_offset_is_converted_to_utc(folder):
    (spec,), _ = spec_with(folder, start_date="2024-03-01T08:30:00+02:00")

    assert spec.start_date == datetime.datetime(2024, 3, 1, 6, 30, tzinfo=UTC)


def test_start_date_as_quoted_text_is_accepted(folder):
    (spec,), _ = spec_with(folder, start_date="'2024-03-01T06:00:00Z'")

    assert spec.start_date == datetime.datetime(2024, 3, 1, 6, tzinfo=UTC)


def test_optional_fields_are_read(folder):
    (spec,), errors = spec_with(
        folder,
        size="5",
        timeout="3",
        end_date="2024-12-31",
        result_visibility="public",
        emr_release="'5.36.2'",
        paused="true",
    )

    assert errors == []
    assert (spec.size, spec.timeout, spec.result_visibility) == (5, 3, "public")
    assert spec.end_date == datetime.datetime(2024, 12, 31, tzinfo=UTC)
    assert (spec.emr_release, spec.paused) == ("5.36.2", True)


def test_bad_identifier_names_file_and_field(folder):
    error = only_error(folder, identifier="Daily Counts")

    assert error.field == "identifier"
    assert "lowercase letters, digits or -" in error.message


def test_size_above_30_is_refused(folder):
    error = only_error(folder, size="31")

    assert (error.field, error.message) == ("size", "must be a whole number from 1 to 30, got 31")


def test_timeout_zero_is_refused(folder):
    error = only_error(folder, timeout="0")

    assert error.field == "timeout"
    assert "from 1 to 24 hours" in error.message


def test_unknown_interval_lists_the_allowed_ones(folder):
    error = only_error(folder, interval="hourly")

    assert error.field == "interval"
    assert "daily, weekly, monthly" in error.message


def test_end_date_before_start_date_is_refused(folder):
    assert only_error(folder, end_date="2024-02-01").field == "end_date"


def test_unparsable_start_date_is_refused(folder):
    error = only_error(folder, start_date="next tuesday")

    assert error.field == "start_date"
    assert "ISO date" in error.message


def test_unknown_result_visibility_is_refused(folder):
    assert only_error(folder, result_visibility="secret").field == "result_visibility"


def test_unknown_emr_release_is_refused(folder):
    error = only_error(folder, emr_release="'4.0.0'")

    assert error.field == "emr_release"
    assert "6.15.0, 5.36.2" in error.message


def test_unknown_field_is_an_error(folder):
    error = only_error(folder, schedule="'@daily'")

    assert error.field == "schedule"
    assert "unknown field" in error.message


def test_missing_required_field_is_an_error(folder):
    error = only_error(folder, owner_email=None)

    assert (error.field, error.message) == ("owner_email", "is required")


def test_missing_notebook_file_is_an_error(folder):
    error = only_error(folder, notebook="notebooks/missing.ipynb")

    assert error.field == "notebook"
    assert "not found" in error.message


def test_notebook_outside_the_spec_folder_is_refused(folder):
    error = only_error(folder, notebook="../elsewhere.ipynb")

    assert "inside the folder of the spec file" in error.message


def test_notebook_with_other_extension_is_refused(folder):
    assert ".ipynb or .json" in only_error(folder, notebook="notebooks/counts.py").message


def test_every_bad_field_of_a_file_is_reported(folder):
    _, errors = spec_with(folder, size="0", interval="hourly", result_visibility="secret")

    assert {error.field for error in errors} == {"size", "interval", "result_visibility"}


def test_invalid_yaml_is_reported_for_the_file(folder):
    write(folder, "broken.yaml", "identifier: [unclosed\n")

    _, errors = load_job_specs(folder)

    assert errors[0].file == str(folder / "broken.yaml")
    assert errors[0].field is None
    assert "not valid YAML" in errors[0].message


def test_yaml_that_is_not_a_mapping_is_reported(folder):
    write(folder, "list.yaml", "- a\n- b\n")

    _, errors = load_job_specs(folder)

    assert "must be a mapping" in errors[0].message


def test_error_prints_as_file_field_message():
    assert str(SpecError("jobs/a.yaml", "size", "too big")) == "jobs/a.yaml: size: too big"


def test_invalid_spec_does_not_hide_the_others(folder):
    write(folder, "a.yaml", VALID.replace("daily-counts", "first"))
    write(folder, "b.yaml", VALID.replace("daily-counts", "Bad Name"))
    write(folder, "c.yml", VALID.replace("daily-counts", "third"))

    specs, errors = load_job_specs(folder)

    assert [spec.identifier for spec in specs] == ["first", "third"]
    assert [(error.file, error.field) for error in errors] == [
        (str(folder / "b.yaml"), "identifier")
    ]


def test_duplicate_identifier_is_an_error_of_the_later_file(folder):
    write(folder, "a.yaml", VALID)
    write(folder, "b.yaml", VALID)

    specs, errors = load_job_specs(folder)

    assert [spec.source_file for spec in specs] == [str(folder / "a.yaml")]
    assert errors[0].file == str(folder / "b.yaml")
    assert errors[0].field == "identifier"
    assert "already used by" in errors[0].message


def test_other_files_are_ignored(folder):
    write(folder, "README.md", "not a spec")

    assert load_job_specs(folder) == ([], [])


def test_missing_folder_holds_no_specs(tmp_path):
    assert load_job_specs(tmp_path / "nowhere") == ([], [])


def test_changed_file_is_read_again(folder):
    path = write(folder, "job.yaml", VALID)
    load_job_specs(folder)
    path.write_text(VALID.replace("interval: daily", "interval: weekly"))
    later = time.time() + 5
    os.utime(path, (later, later))

    (spec,), _ = load_job_specs(folder)

    assert spec.interval == "weekly"


def test_thousand_specs_load_quickly(folder):
    for number in range(1000):
        write(folder, f"job-{number:04}.yaml", VALID.replace("daily-counts", f"job-{number}"))

    started = time.perf_counter()
    specs, errors = load_job_specs(folder)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    load_job_specs(folder)
    warm = time.perf_counter() - started

    assert (len(specs), errors) == (1000, [])
    assert cold < 5
    assert warm < cold


def test_configured_folder_wins_over_the_dag_folder(tmp_path):
    assert default_jobs_folder(str(tmp_path), "/dags") == tmp_path
    assert default_jobs_folder("", "/dags") == Path("/dags/jobs")
