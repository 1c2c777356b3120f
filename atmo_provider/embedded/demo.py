"""The demo: real Airflow and the embedded AWS on this machine, used the way a person would.

``python -m atmo_provider.embedded.demo`` sets up and starts the local stack, prints the logins,
launches a cluster through the REST API and watches it become ready, terminates it with
``airflow atmo clusters terminate``, runs the NYC flights Spark job (its notebook runs for real
with papermill and local PySpark, ``[atmo] execution = local``) and lists its result files,
brings the records up to date with ``atmo_sync`` and prints them with ``airflow atmo clusters
list`` and ``airflow atmo jobs list``, checks the ATMO dashboard, prints a summary and keeps the
UI up until Ctrl-C. ``--exit-when-done`` stops after the summary.

``ATMO_API_PORT`` sets the UI's port (8080 by default) and ``ATMO_HOME`` the home folder
(``.atmo-home`` in the checkout by default).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from atmo_provider.embedded.stack import REPO_ROOT, LocalStack, StackError
from atmo_provider.embedded.stack_client import AirflowApiClient, ApiError

__all__ = ["main", "new_ssh_public_key", "run_demo"]

#: The DAGs the demo runs, by id, and the files they come from.
LAUNCH_DAG = "atmo_launch_cluster"
CREATE_TASK = "create_cluster"
JOB_IDENTIFIER = "nyc-flights"
JOB_DAG = f"atmo_job_{JOB_IDENTIFIER}"
SYNC_DAG = "atmo_sync"
DAG_FILES = {
    LAUNCH_DAG: "atmo_launch_cluster.py",
    JOB_DAG: "atmo_spark_jobs.py",
    SYNC_DAG: "atmo_sync.py",
}

#: What the NYC flights notebook stores under its run's results prefix.
EXPECTED_RESULTS = (
    "departures_by_carrier_month.csv",
    "departure_delay_by_carrier.csv",
    "mean_departure_delay_by_carrier.png",
    "nyc_flights.ipynb",
)

#: The tag naming the task instance that created an EMR cluster.
TASK_INSTANCE_TAG = "atmo:task-instance"

#: How long each step may take before the demo gives up, in seconds.
STEP_TIMEOUT = 300.0
#: How long the Spark job's run may take: local PySpark over 336,776 flights on a small machine.
JOB_TIMEOUT = 900.0


#: A log record on a command's output, which the demo leaves out: it starts with a timestamp.
_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:")


class DemoFailure(RuntimeError):
    """A step of the demo did not end the way it should."""


class _Interrupted(Exception):
    pass


def _raise_interrupted(signum: int, _frame: Any) -> None:
    raise _Interrupted(signal.Signals(signum).name)


class _Output:
    """Lines for the person watching, each with the seconds since the demo began."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def say(self, text: str = "") -> None:
        stamp = f"[{time.monotonic() - self.started:6.1f}s] " if text else ""
        print(f"{stamp}{text}", flush=True)


def new_ssh_public_key() -> str:
    """Return the OpenSSH public key of a new Ed25519 key pair; the private key is dropped."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate().public_key()
    openssh = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{openssh.decode('ascii')} atmo-demo"


def find_run_cluster(emr, dag_id: str, run_id: str, skip: set[str]) -> str | None:
    """
    Return the id of the EMR cluster a task of a DAG run created, found by its tag.

    :param emr: a boto3 EMR client.
    :param dag_id: the run's DAG.
    :param run_id: the run.
    :param skip: ids of clusters known to belong to other runs; extended as more are found.
    """
    prefix = f"{dag_id}/{run_id}/"
    for page in emr.get_paginator("list_clusters").paginate():
        for summary in page["Clusters"]:
            if summary["Id"] in skip:
                continue
            tags = emr.describe_cluster(ClusterId=summary["Id"])["Cluster"].get("Tags", [])
            if any(
                tag["Key"] == TASK_INSTANCE_TAG and tag["Value"].startswith(prefix) for tag in tags
            ):
                return summary["Id"]
            skip.add(summary["Id"])
    return None


def cluster_state(emr, job_flow_id: str) -> str:
    """Return an EMR cluster's state as the embedded AWS reports it."""
    return emr.describe_cluster(ClusterId=job_flow_id)["Cluster"]["Status"]["State"]


class _RunWatcher:
    """Print what changes in a DAG run: its state, its tasks' states and its cluster's state."""

    def __init__(self, out: _Output, client: AirflowApiClient, emr, dag_id: str, run_id: str):
        self.out = out
        self.client = client
        self.emr = emr
        self.dag_id = dag_id
        self.run_id = run_id
        self.job_flow_id: str | None = None
        self.cluster_state: str | None = None
        self._other_clusters: set[str] = set()
        self._seen: dict[str, Any] = {}

    def __call__(self, run: dict) -> None:
        self._show("run", f"DAG run {self.run_id}", run["state"])
        for task_id, state in self.client.task_states(self.dag_id, self.run_id).items():
            self._show(task_id, f"task {task_id}", state)
        if self.job_flow_id is None:
            self.job_flow_id = find_run_cluster(
                self.emr, self.dag_id, self.run_id, self._other_clusters
            )
        if self.job_flow_id is not None:
            self.cluster_state = cluster_state(self.emr, self.job_flow_id)
            self._show("cluster", f"cluster {self.job_flow_id}", self.cluster_state)

    def _show(self, key: str, label: str, state: Any) -> None:
        if state is not None and self._seen.get(key) != state:
            self._seen[key] = state
            self.out.say(f"  {label}: {state}")


def _failed_task_logs(client: AirflowApiClient, dag_id: str, run_id: str) -> str:
    parts = []
    for ti in client.task_instances(dag_id, run_id):
        if ti["state"] != "failed":
            continue
        text = client.task_log(dag_id, run_id, ti["task_id"], max(1, ti["try_number"]))
        tail = "\n".join(text.splitlines()[-40:])
        parts.append(f"--- log of task {ti['task_id']} (try {ti['try_number']}):\n{tail}")
    return "\n".join(parts) or "(no task failed; the run itself was marked failed)"


def _run_dag(
    out: _Output, client, emr, dag_id: str, conf: dict, timeout: float = STEP_TIMEOUT
) -> _RunWatcher:
    dag = client.wait_for_dag(dag_id, timeout=STEP_TIMEOUT, filename=DAG_FILES[dag_id])
    if dag["is_paused"] and dag.get("timetable_summary") not in (None, "None"):
        # A scheduled DAG whose start date is past gets a run of its own once unpaused, and at
        # most one of its runs is active at a time: follow that run rather than queue another.
        client.unpause(dag_id)
        out.say(f"  unpaused {dag_id}; waiting for the scheduler's run")
        run_id = client.wait_for_scheduled_run(dag_id, timeout=STEP_TIMEOUT)
        out.say(f"  the scheduler started run {run_id}")
    else:
        if dag["is_paused"]:
            client.unpause(dag_id)
            out.say(f"  unpaused {dag_id}")
        run_id = client.trigger(dag_id, conf)
        out.say(f"  triggered {dag_id}, run {run_id}")

    watcher = _RunWatcher(out, client, emr, dag_id, run_id)
    run = client.wait_for_dag_run(dag_id, run_id, timeout=timeout, on_poll=watcher)
    if run["state"] != "success":
        logs = _failed_task_logs(client, dag_id, run_id)
        raise DemoFailure(f"DAG run {dag_id}/{run_id} ended {run['state']}\n{logs}")
    return watcher


def _airflow(out: _Output, stack: LocalStack, *args: str) -> str:
    """Run ``airflow <args>`` in the stack's environment, print its output and return it."""
    out.say(f"  $ airflow {' '.join(args)}")
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env=stack.environment(),
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
    )
    lines = [line for line in result.stdout.splitlines() if not _LOG_RECORD.match(line)]
    for line in lines:
        out.say(f"    {line}")
    if result.returncode != 0:
        raise DemoFailure(f"airflow {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return "\n".join(lines)


def _terminate(out: _Output, stack: LocalStack, emr, job_flow_id: str) -> None:
    _airflow(out, stack, "atmo", "clusters", "terminate", job_flow_id)

    deadline = time.monotonic() + STEP_TIMEOUT
    shown = None
    while time.monotonic() < deadline:
        state = cluster_state(emr, job_flow_id)
        if state != shown:
            out.say(f"  cluster {job_flow_id}: {state}")
            shown = state
        if state.startswith("TERMINATED"):
            if state != "TERMINATED":
                raise DemoFailure(f"cluster {job_flow_id} ended {state}, not TERMINATED")
            return
        time.sleep(1)
    raise DemoFailure(f"cluster {job_flow_id} still {shown} after {STEP_TIMEOUT:.0f} s")


def _results_uri(client: AirflowApiClient, dag_id: str, run_id: str) -> str | None:
    for ti in client.task_instances(dag_id, run_id):
        try:
            value = client.xcom(dag_id, run_id, ti["task_id"])
        except ApiError:
            continue
        if isinstance(value, dict) and value.get("results_uri"):
            return value["results_uri"]
    return None


def list_results(out: _Output, s3, results_uri: str) -> list[str]:
    """
    Print the objects under a run's results prefix; fail unless every expected file is there.

    :param out: where the listing goes.
    :param s3: a boto3 S3 client of the embedded AWS.
    :param results_uri: ``s3://bucket/<identifier>/<run date>/``.
    :return: the names of the files, relative to the prefix.
    """
    bucket, _, prefix = results_uri.removeprefix("s3://").partition("/")
    names = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            names.append(item["Key"][len(prefix) :])
            out.say(f"    {item['Size']:>10,d} B  s3://{bucket}/{item['Key']}")

    missing = [name for name in EXPECTED_RESULTS if name not in names]
    if missing:
        raise DemoFailure(
            f"the Spark job's results in {results_uri} lack {', '.join(missing)}; "
            f"found {', '.join(names) or 'nothing'}"
        )
    return names


def _json_rows(out: _Output, stack: LocalStack, *args: str) -> list[dict]:
    text = _airflow(out, stack, *args, "--output", "json")
    try:
        return json.loads(text[text.index("[") :])
    except ValueError as error:
        raise DemoFailure(f"airflow {' '.join(args)} printed no JSON list: {error}") from None


def check_records(out: _Output, stack: LocalStack, identifier: str) -> tuple[dict, dict]:
    """
    Print the cluster and job records; return the demo's cluster row and the job's row.

    :param out: where the listings go.
    :param stack: the started local stack, whose environment the commands run in.
    :param identifier: the demo cluster's identifier.
    """
    clusters = _json_rows(out, stack, "atmo", "clusters", "list", "--state", "all")
    cluster = next((row for row in clusters if row["identifier"] == identifier), None)
    if cluster is None:
        raise DemoFailure(f"airflow atmo clusters list has no record of cluster {identifier}")
    if (cluster["owner"], cluster["status"]) != ("admin", "TERMINATED"):
        raise DemoFailure(
            f"the record of cluster {identifier} says owner {cluster['owner']}, status "
            f"{cluster['status']}; expected owner admin, status TERMINATED"
        )

    jobs = _json_rows(out, stack, "atmo", "jobs", "list")
    job = next((row for row in jobs if row["identifier"] == JOB_IDENTIFIER), None)
    if job is None:
        raise DemoFailure(f"airflow atmo jobs list has no record of Spark job {JOB_IDENTIFIER}")
    return cluster, job


def check_dashboard(client: AirflowApiClient, identifier: str) -> None:
    """
    Fail unless the ATMO dashboard, as ``client``'s user, shows the cluster and the Spark job.

    :param client: a REST client logged in as the cluster's and job's owner.
    :param identifier: the demo cluster's identifier.
    """
    response = client.request("GET", "/atmo/", params={"clusters": "all"})
    if response.status_code != 200:
        raise DemoFailure(f"GET /atmo/?clusters=all answered {response.status_code}")
    missing = [name for name in (identifier, JOB_IDENTIFIER) if name not in response.text]
    if missing:
        raise DemoFailure(f"the ATMO dashboard at /atmo/?clusters=all lacks {', '.join(missing)}")


def run_demo(out: _Output, stack: LocalStack) -> list[str]:
    """
    Launch and terminate a cluster, run the NYC flights job, check records and dashboard.

    :param out: where progress goes.
    :param stack: the started local stack.
    :return: summary lines.
    """
    import boto3

    aws = {
        "endpoint_url": stack.aws_endpoint_url,
        "region_name": stack.region_name,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    emr = boto3.client("emr", **aws)
    client = stack.client("admin")
    identifier = f"demo-{int(time.time())}"

    out.say(f"Step 1/5: launch cluster {identifier} (size 1, lifetime 2 h) as admin")
    started = time.monotonic()
    conf = {
        "identifier": identifier,
        "size": 1,
        "lifetime": 2,
        "ssh_public_key": new_ssh_public_key(),
        "owner": "admin",
        "owner_email": "admin@example.com",
    }
    launch = _run_dag(out, client, emr, LAUNCH_DAG, conf)
    job_flow_id = client.xcom(LAUNCH_DAG, launch.run_id, CREATE_TASK)
    state = cluster_state(emr, job_flow_id)
    if state != "WAITING":
        raise DemoFailure(f"the launch run succeeded but cluster {job_flow_id} is {state}")
    launch_seconds = time.monotonic() - started

    out.say(f"Step 2/5: terminate cluster {job_flow_id} (the {CREATE_TASK} task's XCom)")
    started = time.monotonic()
    _terminate(out, stack, emr, job_flow_id)
    terminate_seconds = time.monotonic() - started

    out.say(f"Step 3/5: run the Spark job {JOB_IDENTIFIER} ({JOB_DAG}) with local PySpark")
    started = time.monotonic()
    job = _run_dag(out, client, emr, JOB_DAG, {}, timeout=JOB_TIMEOUT)
    job_seconds = time.monotonic() - started
    out.say(f"  the Spark job's run took {job_seconds:.1f} s")
    results = _results_uri(client, JOB_DAG, job.run_id)
    if results is None:
        raise DemoFailure(f"run {job.run_id} of {JOB_DAG} succeeded but names no results")
    out.say(f"  results in {results}:")
    files = list_results(out, boto3.client("s3", **aws), results)

    out.say(f"Step 4/5: bring the records up to date ({SYNC_DAG}) and list them")
    _run_dag(out, client, emr, SYNC_DAG, {})
    cluster, job_row = check_records(out, stack, identifier)

    out.say("Step 5/5: open the ATMO dashboard (/atmo/?clusters=all) as admin")
    check_dashboard(client, identifier)
    out.say(f"  dashboard shows cluster {identifier} and job {JOB_IDENTIFIER}")

    return [
        f"cluster {identifier} ({job_flow_id}): WAITING after {launch_seconds:.0f} s, "
        f"TERMINATED {terminate_seconds:.0f} s after the terminate command; record: owner "
        f"{cluster['owner']}, status {cluster['status']}",
        f"Spark job {JOB_IDENTIFIER}: run {job.run_id} succeeded in {job_seconds:.0f} s "
        f"(local PySpark); {len(files)} result files in {results}; record: last run "
        f"{job_row['last_run']}",
        f"ATMO dashboard: {stack.base_url}/atmo/?clusters=all shows both",
    ]


def _print_logins(out: _Output, stack: LocalStack) -> None:
    out.say(f"Airflow UI: {stack.base_url}  (embedded AWS at {stack.aws_endpoint_url})")
    out.say(f"Logins (made for this install, kept in {stack.home / 'secrets.json'}):")
    for username, password, roles in stack.logins():
        out.say(f"  {username:<11} {password:<18} {roles}")
    env_file = _write_env_file(stack)
    out.say(f"For the airflow CLI against this install: source {env_file}")


def _write_env_file(stack: LocalStack) -> Path:
    """Write the stack's environment as shell exports (secrets included, so mode 0600)."""
    path = stack.home / "env.sh"
    lines = [
        f"export {name}={shlex.quote(value)}"
        for name, value in sorted(stack.environment().items())
        if name.startswith(("AIRFLOW", "AWS_"))
    ]
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("\n".join(lines) + "\n")
    return path


def _wait_for_interrupt(stack: LocalStack) -> None:
    while True:
        stack.check_alive()
        time.sleep(2)


def _api_port() -> int:
    raw = os.environ.get("ATMO_API_PORT") or "8080"
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SystemExit(f"ATMO_API_PORT must be a TCP port number, 1 to 65535, got {raw!r}")
    return int(raw)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m atmo_provider.embedded.demo")
    parser.add_argument(
        "--exit-when-done", action="store_true", help="stop everything after the summary"
    )
    args = parser.parse_args(argv)

    out = _Output()
    home = Path(os.environ.get("ATMO_HOME") or REPO_ROOT / ".atmo-home")
    stack = LocalStack(
        home,
        api_port=_api_port(),
        timings="demo",
        atmo_options={"poll_interval": "2", "admin_users": "admin"},
    )
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGINT, _raise_interrupted)
    in_demo = True
    try:
        stack.check_port()
        out.say(f"Setting up Airflow in {stack.home}")
        stack.setup()
        out.say("Starting the embedded AWS, scheduler, DAG processor, triggerer and API server")
        stack.start()
        _print_logins(out, stack)

        summary = run_demo(out, stack)
        out.say("Summary:")
        for line in summary:
            out.say(f"  {line}")
        if args.exit_when_done:
            return 0

        in_demo = False
        out.say(f"The UI stays up at {stack.base_url}; press Ctrl-C to stop everything.")
        _wait_for_interrupt(stack)
    except _Interrupted as signal_name:
        out.say(f"Stopping ({signal_name})")
        return 130 if in_demo else 0
    except (DemoFailure, StackError, ApiError) as error:
        print(f"demo failed: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        out.say("Stopped every process the demo started")
    return 0


if __name__ == "__main__":
    sys.exit(main())
