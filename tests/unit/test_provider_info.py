"""The provider registers with Airflow: provider info, configuration defaults, providers list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema

import atmo_provider
from atmo_provider import get_provider_info
from atmo_provider.config_options import OPTIONS

AIRFLOW = Path(sys.executable).with_name("airflow")


def test_provider_info_matches_airflows_schema():
    schema = json.loads(
        resources.files("airflow").joinpath("provider_info.schema.json").read_text()
    )

    jsonschema.validate(get_provider_info(), schema)


def test_provider_info_names_importable_modules_and_classes():
    import importlib

    info = get_provider_info()
    modules = [
        m
        for kind in ("operators", "sensors", "triggers")
        for entry in info[kind]
        for m in entry["python-modules"]
    ]
    dotted = info["extra-links"] + info["cli"] + [p["plugin-class"] for p in info["plugins"]]

    for module in modules:
        importlib.import_module(module)
    for path in dotted:
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path


def test_every_option_has_a_default_airflow_reads(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    env.pop("AIRFLOW__ATMO__POLL_INTERVAL", None)
    code = "from airflow.configuration import conf; print(conf.get('atmo', 'max_cluster_size'))"

    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout

    assert out.strip().splitlines()[-1] == dict((o[0], o[2]) for o in OPTIONS)["max_cluster_size"]


def test_airflow_providers_list_shows_the_provider_with_its_version(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}

    out = subprocess.run(
        [str(AIRFLOW), "providers", "list", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    listing = next(line for line in out.splitlines() if line.startswith("[{"))
    providers = {row["package_name"]: row["version"] for row in json.loads(listing)}
    assert providers["airflow-provider-atmo"] == atmo_provider.__version__
