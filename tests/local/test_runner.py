"""The local execution backend: failures, timeouts, refusals, where results go."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
from pathlib import Path

import psutil
import pytest

from atmo_provider.errors import AtmoValidationError
from atmo_provider.local import LocalRunFailed, run_notebook_locally
from atmo_provider.local.results import ResultUploader, is_retryable_upload_error, result_prefix
from atmo_provider.local.runner import format_hours
from tests.local.conftest import DATA

RUN_DATE = "2026-01-05"


def _run(store, notebook: str, identifier: str, workdir: Path, **overrides):
    arguments = {
        "identifier": identifier,
        "notebook_path": DATA / notebook,
        "run_date": RUN_DATE,
        "result_bucket": store.settings.results_bucket("private"),
        "job_timeout_hours": 0.25,
        "aws_conn_id": store.aws_conn_id,
        "workdir": workdir,
    }
    arguments.update(overrides)
    return run_notebook_locally(**arguments)


def _processes_using(folder: Path) -> list[psutil.Process]:
    """Return the live processes whose command line or working directory is in ``folder``."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
        if process.pid == os.getpid() or process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmdline = " ".join(process.info["cmdline"] or [])
        cwd = process.info["cwd"] or ""
        if str(folder) in cmdline or cwd.startswith(str(folder)):
            found.append(process)
    return found


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# --- a notebook that writes results -----------------------------------------------------------


@pytest.fixture(scope="module")
def written(results_store, tmp_path_factory):
    """One run of a notebook that records its parameters and Python, with an empty HOME."""
    home = tmp_path_factory.mktemp("home")
    workdir = tmp_path_factory.mktemp("writes-results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        result = _run(
            results_store,
            "writes_results.ipynb",
            "writes-results",
            workdir,
            extra_parameters={"rows": 5},
        )
    bucket = results_store.settings.results_bucket("private")
    seen = json.loads(results_store.read(bucket, f"writes-results/{RUN_DATE}/parameters.json"))
    return result, seen, home, bucket


def test_successful_run_reports_success(written):
    result, _seen, _home, _bucket = written

    assert (result.status, result.reason) == ("success", None)


def test_notebook_gets_injected_parameters(written):
    _result, seen, _home, bucket = written

    assert seen["identifier"] == "writes-results"
    assert seen["run_date"] == RUN_DATE
    assert seen["result_bucket"] == bucket
    assert seen["result_prefix"] == f"writes-results/{RUN_DATE}/"
    assert Path(seen["output_dir"]).name == "output"
    assert seen["rows"] == 5


def test_kernel_runs_this_python(written):
    _result, seen, _home, _bucket = written

    assert seen["python"] == sys.executable


def test_notebook_sees_no_airflow_settings(written):
    _result, seen, _home, _bucket = written

    assert seen["airflow_variables"] == []


def test_output_files_and_notebook_are_stored_under_identifier_and_run_date(
    written, results_store
):
    result, _seen, _home, bucket = written
    prefix = f"writes-results/{RUN_DATE}/"

    assert results_store.keys(bucket, prefix) == [
        prefix + "parameters.json",
        prefix + "tables/rows.csv",
        prefix + "writes_results.ipynb",
    ]
    assert sorted(result.uploaded_keys) == results_store.keys(bucket, prefix)
    assert result.results_uri == f"s3://{bucket}/{prefix}"


def test_symbolic_links_in_output_are_not_uploaded(written, results_store):
    _result, _seen, _home, bucket = written

    assert not any(key.endswith("hostname-link") for key in results_store.keys(bucket))


def test_executed_notebook_is_stored_as_a_notebook(written, results_store):
    _result, _seen, _home, bucket = written
    key = f"writes-results/{RUN_DATE}/writes_results.ipynb"

    executed = json.loads(results_store.read(bucket, key))

    assert executed["metadata"]["papermill"]["exception"] is None
    assert results_store.content_type(bucket, key) == "application/x-ipynb+json"


def test_run_writes_nothing_to_the_home_folder(written):
    _result, _seen, home, _bucket = written

    assert list(Path(home).iterdir()) == []


def test_run_reports_duration_and_peak_memory(written):
    result, _seen, _home, _bucket = written

    assert result.duration_seconds > 0
    assert result.peak_memory_bytes > 10 * 1024 * 1024


def test_public_and_private_results_go_to_their_own_bucket(results_store, tmp_path):
    public = results_store.settings.results_bucket("public")
    private = results_store.settings.results_bucket("private")

    for visibility, bucket in (("public", public), ("private", private)):
        result = _run(
            results_store,
            "writes_results.ipynb",
            f"visibility-{visibility}",
            tmp_path / visibility,
            result_bucket=bucket,
        )
        assert result.succeeded, result.reason

    assert results_store.keys(public, "visibility-public/")
    assert results_store.keys(private, "visibility-private/")
    assert results_store.keys(public, "visibility-private/") == []
    assert results_store.keys(private, "visibility-public/") == []


# --- failures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def failed(results_store, tmp_path_factory):
    """One run of a notebook whose cell 3 raises ValueError."""
    return _run(results_store, "raises.ipynb", "raises", tmp_path_factory.mktemp("raises"))


def test_failing_cell_fails_the_run(failed):
    assert failed.status == "failed"


def test_failure_reason_names_the_cell_and_the_error(failed):
    assert failed.reason == (
        "cell 3 ('if not flights_today:') raised ValueError: no flights today"
    )


def test_failed_run_still_stores_the_executed_notebook(failed, results_store):
    bucket = results_store.settings.results_bucket("private")

    assert results_store.keys(bucket, f"raises/{RUN_DATE}/") == [f"raises/{RUN_DATE}/raises.ipynb"]


def test_raise_for_status_raises_with_the_reason(failed):
    with pytest.raises(LocalRunFailed, match="raised ValueError: no flights today"):
        failed.raise_for_status()


def test_dying_kernel_fails_the_run_with_papermills_last_words(results_store, tmp_path):
    result = _run(results_store, "kernel_dies.ipynb", "kernel-dies", tmp_path)

    assert result.status == "failed"
    assert result.reason.startswith("papermill exited with code ")
    assert "DeadKernelError: Kernel died" in result.reason


def test_run_fails_when_results_cannot_be_stored(results_store, tmp_path):
    result = _run(
        results_store,
        "writes_results.ipynb",
        "no-bucket",
        tmp_path,
        result_bucket="no-such-bucket",
    )

    assert result.status == "failed"
    assert result.reason.startswith(
        f"results could not be stored in s3://no-such-bucket/no-bucket/{RUN_DATE}/"
    )
    assert "NoSuchBucket" in result.reason
    assert result.uploaded_keys == ()


# --- timeouts and cancellation ----------------------------------------------------------------


@pytest.fixture(scope="module")
def timed_out(results_store, tmp_path_factory):
    """A run that starts Spark and sleeps past a 45-second timeout."""
    workdir = tmp_path_factory.mktemp("sleeps-with-spark")
    result = _run(
        results_store,
        "sleeps_with_spark.ipynb",
        "sleeps-with-spark",
        workdir,
        job_timeout_hours=0.0125,
    )
    bucket = results_store.settings.results_bucket("private")
    key = f"sleeps-with-spark/{RUN_DATE}/processes.json"
    assert key in results_store.keys(bucket), "the notebook did not reach Spark in time"
    processes = json.loads(results_store.read(bucket, key))
    return result, processes, workdir


def test_run_past_its_timeout_times_out(timed_out):
    result, _processes, _workdir = timed_out

    assert result.status == "timed_out"
    assert result.reason == "timed out after 0.0125 hours (45 seconds)"
    assert result.duration_seconds < 45 + 30


def test_timed_out_run_leaves_no_kernel_spark_or_other_child_process(timed_out):
    _result, processes, workdir = timed_out

    assert _gone(processes["kernel_pid"])
    assert _gone(processes["jvm_pid"])
    assert _gone(processes["helper_pid"])
    assert _processes_using(workdir) == []


def test_spark_listens_on_the_loopback_interface_only(timed_out):
    _result, processes, _workdir = timed_out

    assert processes["jvm_listens_on"]
    assert {address.removeprefix("::ffff:") for address in processes["jvm_listens_on"]} == {
        "127.0.0.1"
    }


def test_spark_built_without_the_helper_runs_locally_without_web_ui(timed_out):
    _result, processes, _workdir = timed_out

    assert (processes["master"], processes["ui_enabled"]) == ("local[*]", "false")


def test_timed_out_run_stores_the_partly_executed_notebook(timed_out, results_store):
    bucket = results_store.settings.results_bucket("private")

    assert f"sleeps-with-spark/{RUN_DATE}/sleeps_with_spark.ipynb" in results_store.keys(bucket)


def test_cancel_event_stops_the_run_and_its_processes(results_store, tmp_path):
    cancel = threading.Event()
    timer = threading.Timer(5, cancel.set)
    timer.start()
    try:
        result = _run(results_store, "sleeps.ipynb", "cancelled", tmp_path, cancel=cancel)
    finally:
        timer.cancel()

    assert result.status == "failed"
    assert result.reason == "stopped before the notebook finished: the task was killed"
    assert _processes_using(tmp_path) == []


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        (1, "1 hour"),
        (24, "24 hours"),
        (0.5, "0.5 hours (30 minutes)"),
        (0.001, "0.001 hours (3.6 seconds)"),
    ],
)
def test_timeout_is_written_in_hours_with_minutes_or_seconds_below_one(hours, text):
    assert format_hours(hours) == text


# --- refusals -----------------------------------------------------------------------------------


def test_invalid_notebook_is_refused_before_anything_runs(results_store, tmp_path):
    workdir = tmp_path / "run"
    bucket = results_store.settings.results_bucket("private")

    with pytest.raises(AtmoValidationError, match="only nbformat 4 notebooks"):
        _run(results_store, "nbformat3.json", "refused", workdir)

    assert not workdir.exists()
    assert results_store.keys(bucket, "refused/") == []


def test_missing_notebook_is_refused(results_store, tmp_path):
    with pytest.raises(AtmoValidationError, match="does not exist"):
        _run(results_store, "no-such-notebook.ipynb", "missing", tmp_path / "run")


def test_extra_parameters_cannot_replace_injected_ones(results_store, tmp_path):
    with pytest.raises(ValueError, match="extra_parameters may not set output_dir"):
        _run(
            results_store,
            "writes_results.ipynb",
            "clash",
            tmp_path,
            extra_parameters={"output_dir": "/tmp"},
        )


def test_timeout_must_be_positive(results_store, tmp_path):
    with pytest.raises(ValueError, match="job_timeout_hours must be a positive number"):
        _run(results_store, "writes_results.ipynb", "no-time", tmp_path, job_timeout_hours=0)


# --- result keys and uploads --------------------------------------------------------------------


def test_run_date_of_a_datetime_is_its_day():
    moment = dt.datetime(2026, 1, 5, 6, 30, tzinfo=dt.timezone.utc)

    assert result_prefix("nyc-flights", moment) == "nyc-flights/2026-01-05/"


def test_run_date_with_a_slash_is_refused():
    with pytest.raises(ValueError, match="without '/'"):
        result_prefix("nyc-flights", "2026/01/05")


def _client_error(code: str, status: int):
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


def test_wrapped_throttling_error_is_retryable():
    from boto3.exceptions import S3UploadFailedError

    try:
        try:
            raise _client_error("SlowDown", 503)
        except Exception as exc:
            raise S3UploadFailedError("Failed to upload") from exc
    except S3UploadFailedError as wrapped:
        assert is_retryable_upload_error(wrapped)


def test_wrapped_missing_bucket_error_is_final():
    from boto3.exceptions import S3UploadFailedError

    try:
        try:
            raise _client_error("NoSuchBucket", 404)
        except Exception as exc:
            raise S3UploadFailedError("Failed to upload") from exc
    except S3UploadFailedError as wrapped:
        assert not is_retryable_upload_error(wrapped)


class _Body:
    """The raw body of a canned HTTP response."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    def stream(self, **_kwargs):
        yield self.content


def test_upload_is_retried_after_a_throttled_attempt(results_store, tmp_path):
    import boto3
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config

    endpoint = results_store.s3.meta.endpoint_url
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    puts = []

    def throttle_first_put(request, **_kwargs):
        if request.method != "PUT":
            return None
        puts.append(request.url)
        if len(puts) > 1:
            return None
        body = b"<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>"
        return AWSResponse(request.url, 503, {}, _Body(body))

    client.meta.events.register("before-send.s3.PutObject", throttle_first_put)
    bucket = results_store.settings.results_bucket("private")
    uploader = ResultUploader(
        aws_conn_id=None, bucket=bucket, prefix="retried/2026-01-05/", base=0.01, client=client
    )
    path = tmp_path / "figures.csv"
    path.write_text("a,b\n1,2\n")

    key = uploader.upload(path, "figures.csv")

    assert len(puts) == 2
    assert results_store.read(bucket, key) == b"a,b\n1,2\n"
