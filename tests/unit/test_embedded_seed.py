"""Seeding the embedded AWS, and the bootstrap and step scripts it uploads."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from atmo_provider.embedded.seed import BOOTSTRAP_KEY, STEP_KEY, read_file, seed_embedded_aws
from atmo_provider.settings import AtmoSettings

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmKrN2mW1dd6kNoOqYw alice@example.com"


@pytest.fixture
def seeded(embedded_aws):
    settings = AtmoSettings(
        log_bucket="seed-logs",
        code_bucket="seed-code",
        public_data_bucket="seed-public",
        private_data_bucket="seed-private",
        spark_emr_bucket="seed-spark-emr",
        spark_emr_configuration_key="configuration/emr.json",
    )
    result = seed_embedded_aws(embedded_aws.endpoint_url, settings)
    return embedded_aws.client("s3"), settings, result


def test_seed_creates_every_bucket_of_the_settings(seeded):
    s3, _settings, _result = seeded

    names = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}

    assert {"seed-logs", "seed-code", "seed-public", "seed-private", "seed-spark-emr"} <= names


def test_seed_uploads_configuration_and_scripts_to_the_spark_emr_bucket(seeded):
    s3, _settings, result = seeded

    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="seed-spark-emr")["Contents"]}

    assert keys == {"configuration/emr.json", BOOTSTRAP_KEY, STEP_KEY}
    assert result["objects"] == [
        "s3://seed-spark-emr/configuration/emr.json",
        f"s3://seed-spark-emr/{BOOTSTRAP_KEY}",
        f"s3://seed-spark-emr/{STEP_KEY}",
    ]
    step = s3.get_object(Bucket="seed-spark-emr", Key=STEP_KEY)["Body"].read()
    assert step == read_file("batch.sh")


def test_seeded_configuration_is_an_emr_configurations_list(seeded):
    s3, _settings, _result = seeded

    body = s3.get_object(Bucket="seed-spark-emr", Key="configuration/emr.json")["Body"].read()
    configurations = {item["Classification"]: item for item in json.loads(body)}

    defaults = configurations["spark-defaults"]["Properties"]
    assert defaults["spark.dynamicAllocation.enabled"] == "true"
    exports = configurations["spark-env"]["Configurations"][0]
    assert exports["Classification"] == "export"
    assert "PYSPARK_PYTHON" in exports["Properties"]


def test_seed_runs_again_without_error(seeded, embedded_aws):
    _s3, settings, first = seeded

    assert seed_embedded_aws(embedded_aws.endpoint_url, settings) == first


def write_script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def fake_bin(tmp_path):
    """A PATH folder with fake sudo, aws and papermill that record what they were asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_script(bin_dir, "sudo", '#!/usr/bin/env bash\necho "$@" >> "$FAKE_LOG"\n')
    # aws s3 cp SRC DST over a folder standing for S3.
    write_script(
        bin_dir,
        "aws",
        "#!/usr/bin/env bash\n"
        'echo "aws $*" >> "$FAKE_LOG"\n'
        'src="${3/s3:\\/\\//$FAKE_S3/}"; dst="${4/s3:\\/\\//$FAKE_S3/}"\n'
        'mkdir -p "$(dirname "$dst")"; cp "$src" "$dst"\n',
    )
    write_script(
        bin_dir,
        "papermill",
        '#!/usr/bin/env bash\ncp "$2" "$3"; echo "ran $2"; exit "${PAPERMILL_STATUS:-0}"\n',
    )
    return bin_dir


def run_script(name: str, args: list[str], tmp_path: Path, fake_bin: Path, **env: str):
    script = write_script(tmp_path, name, read_file(name).decode())
    environment = {
        **os.environ,
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
        "FAKE_LOG": str(tmp_path / "calls.log"),
        "FAKE_S3": str(tmp_path / "s3"),
        **env,
    }
    return subprocess.run(
        ["bash", str(script), *args], env=environment, capture_output=True, text=True, timeout=30
    )


def test_bootstrap_script_installs_the_owner_key_once(tmp_path, fake_bin):
    home = tmp_path / "hadoop"

    for _ in range(2):
        result = run_script(
            "telemetry.sh",
            ["--public-key", SSH_KEY],
            tmp_path,
            fake_bin,
            ATMO_HADOOP_HOME=str(home),
        )
        assert result.returncode == 0, result.stderr

    assert (home / ".ssh" / "authorized_keys").read_text() == SSH_KEY + "\n"
    assert stat.S_IMODE((home / ".ssh" / "authorized_keys").stat().st_mode) == 0o600


def test_bootstrap_script_refuses_text_that_is_not_a_public_key(tmp_path, fake_bin):
    result = run_script(
        "telemetry.sh",
        ["--public-key", "hello"],
        tmp_path,
        fake_bin,
        ATMO_HADOOP_HOME=str(tmp_path / "hadoop"),
    )

    assert result.returncode == 2
    assert "not an OpenSSH public key" in result.stderr


def test_bootstrap_script_schedules_the_shutdown_of_a_job_timeout(tmp_path, fake_bin):
    result = run_script(
        "telemetry.sh", ["--timeout", "90"], tmp_path, fake_bin, ATMO_HADOOP_HOME=str(tmp_path)
    )

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "calls.log").read_text().startswith("shutdown -h +90 ")


def test_step_script_uploads_the_run_notebook_under_job_and_date(tmp_path, fake_bin):
    notebook = tmp_path / "s3" / "atmo-code" / "jobs" / "nightly" / "report.ipynb"
    notebook.parent.mkdir(parents=True)
    notebook.write_text('{"cells": []}')
    args = [
        "--job-name", "nightly",
        "--notebook", "s3://atmo-code/jobs/nightly/report.ipynb",
        "--data-bucket", "atmo-private-data",
        "--run-date", "20250101",
    ]  # fmt: skip

    result = run_script("batch.sh", args, tmp_path, fake_bin)

    assert result.returncode == 0, result.stderr
    results = tmp_path / "s3" / "atmo-private-data" / "nightly" / "20250101"
    assert (results / "report.ipynb").read_text() == '{"cells": []}'
    assert "ran" in (results / "nightly.log").read_text()


def test_step_script_keeps_the_output_and_fails_when_the_notebook_fails(tmp_path, fake_bin):
    notebook = tmp_path / "s3" / "atmo-code" / "nb.ipynb"
    notebook.parent.mkdir(parents=True)
    notebook.write_text("{}")
    args = [
        "--job-name", "broken",
        "--notebook", "s3://atmo-code/nb.ipynb",
        "--data-bucket", "atmo-public-data",
        "--run-date", "20250102",
    ]  # fmt: skip

    result = run_script("batch.sh", args, tmp_path, fake_bin, PAPERMILL_STATUS="3")

    assert result.returncode == 3
    assert (tmp_path / "s3" / "atmo-public-data" / "broken" / "20250102" / "nb.ipynb").exists()


def test_step_script_requires_its_arguments(tmp_path, fake_bin):
    result = run_script("batch.sh", ["--job-name", "x"], tmp_path, fake_bin)

    assert result.returncode == 2
    assert "--notebook and --data-bucket are required" in result.stderr
