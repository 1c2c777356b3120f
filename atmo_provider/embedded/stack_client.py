"""A small client of Airflow's REST API (``/api/v2``) for the local stack's demo and tests.

It logs in with ``POST /auth/token`` like any API user and does what a person would do in the
UI: unpause a DAG, trigger a run with a configuration, watch it, read task states, XComs and logs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from atmo_provider.backoff import backoff

__all__ = ["FINAL_RUN_STATES", "AirflowApiClient", "ApiError"]

#: States after which a DAG run does not change by itself.
FINAL_RUN_STATES = frozenset({"success", "failed"})


class ApiError(RuntimeError):
    """Airflow's REST API answered with an error, or not in time."""


def _q(value: str) -> str:
    return quote(value, safe="")


class AirflowApiClient:
    """
    Airflow REST API client logged in as one user.

    :param base_url: URL of the API server, e.g. ``http://127.0.0.1:8080``.
    :param username: login name.
    :param password: password of that login.
    :param timeout: seconds to wait for each HTTP answer.
    """

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 90.0):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None

    def token(self) -> str:
        """Return an access token for this user, logging in when there is none yet."""
        if self._token is None:
            response = self._http.post(
                "/auth/token", json={"username": self.username, "password": self._password}
            )
            if response.status_code not in (200, 201):
                raise ApiError(f"login of {self.username} failed: {response.status_code}")
            self._token = response.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """
        Send a request with this user's token; log in again once if the token expired.

        :param method: HTTP method.
        :param path: path below the base URL, e.g. ``/api/v2/dags``.
        """
        extra_headers = kwargs.pop("headers", {})
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {self.token()}", **extra_headers}
            response = self._http.request(method, path, headers=headers, **kwargs)
            if response.status_code != 401 or attempt:
                return response
            self._token = None
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ApiError(f"{method} {path} answered {response.status_code}: {response.text}")
        return response.json()

    def get_dag(self, dag_id: str) -> dict | None:
        """Return a DAG as the API lists it, or None while it is not parsed."""
        response = self.request("GET", f"/api/v2/dags/{_q(dag_id)}")
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise ApiError(f"reading DAG {dag_id} answered {response.status_code}")
        return response.json()

    def import_errors(self) -> list[dict]:
        """Return the DAG files that failed to parse, with their stack traces."""
        return self._json("GET", "/api/v2/importErrors")["import_errors"]

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0, filename: str = "") -> dict:
        """
        Wait until the DAG processor has parsed a DAG, and return it.

        :param dag_id: the DAG to wait for.
        :param timeout: seconds to wait before raising :class:`ApiError`.
        :param filename: name of the DAG's file; when given, an import error of that file ends
            the wait at once.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dag = self.get_dag(dag_id)
            if dag is not None:
                return dag
            if filename:
                errors = self._import_errors_of(filename)
                if errors:
                    raise ApiError(f"DAG {dag_id} failed to parse:{errors}")
            time.sleep(1)
        raise ApiError(
            f"DAG {dag_id} did not appear within {timeout:.0f} s{self._import_errors_of('')}"
        )

    def _import_errors_of(self, filename: str) -> str:
        return "".join(
            f"\n{error['filename']}:\n{error['stack_trace']}"
            for error in self.import_errors()
            if error["filename"].endswith(filename)
        )

    def unpause(self, dag_id: str) -> None:
        """Unpause a DAG so that the scheduler runs it."""
        self._json("PATCH", f"/api/v2/dags/{_q(dag_id)}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict | None = None, attempts: int = 6) -> str:
        """
        Trigger a DAG run and return its run id.

        The run id is chosen here, so that a retry after an error answer that came after the
        run was stored finds it (409) instead of making a second run. SQLite, the embedded
        default's metadata database, answers "Database error" while another process holds its
        write lock; such answers are retried after a fully jittered wait.

        :param dag_id: the DAG to run.
        :param conf: the run's configuration (the DAG's Params).
        :param attempts: how many times to try.
        """
        run_id = f"manual__{uuid.uuid4().hex[:12]}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns"
        for attempt in range(attempts):
            response = self.request("POST", path, json=body)
            if response.status_code < 400:
                return response.json()["dag_run_id"]
            if response.status_code == 409 and attempt > 0:
                return run_id
            if response.status_code < 500 or attempt == attempts - 1:
                break
            time.sleep(backoff(attempt, cap=10))
        raise ApiError(f"POST {path} answered {response.status_code}: {response.text}")

    def wait_for_scheduled_run(self, dag_id: str, timeout: float = 120.0) -> str:
        """Wait until the scheduler has created a scheduled run of ``dag_id``; return its id.

        :param dag_id: an unpaused, scheduled DAG.
        :param timeout: seconds to wait before raising :class:`ApiError`.
        """
        deadline = time.monotonic() + timeout
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns"
        while time.monotonic() < deadline:
            runs = self._json("GET", path, params={"run_type": "scheduled", "limit": 1})
            if runs["dag_runs"]:
                return runs["dag_runs"][0]["dag_run_id"]
            time.sleep(1)
        raise ApiError(f"the scheduler made no run of {dag_id} within {timeout:.0f} s")

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        """Return a DAG run, with its ``state``."""
        return self._json("GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}")

    def wait_for_dag_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float = 300.0,
        on_poll: Callable[[dict], None] | None = None,
        interval: float = 1.0,
    ) -> dict:
        """
        Wait for a DAG run to reach a final state and return it.

        :param dag_id: the run's DAG.
        :param run_id: the run.
        :param timeout: seconds to wait before raising :class:`ApiError`.
        :param on_poll: called with the run after each poll, e.g. to show progress.
        :param interval: seconds between two polls.
        """
        deadline = time.monotonic() + timeout
        while True:
            run = self.dag_run(dag_id, run_id)
            if on_poll is not None:
                on_poll(run)
            if run["state"] in FINAL_RUN_STATES:
                return run
            if time.monotonic() > deadline:
                raise ApiError(
                    f"DAG run {dag_id}/{run_id} still {run['state']} after {timeout:.0f} s"
                )
            time.sleep(interval)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """Return the task instances of a DAG run, each with ``task_id`` and ``state``."""
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances"
        return self._json("GET", path)["task_instances"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """Return the state of each task of a DAG run, by task id."""
        return {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """Return the value of a task's XCom (its return value by default)."""
        path = (
            f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
            f"/xcomEntries/{_q(key)}"
        )
        return self._json("GET", path, params={"deserialize": "true"})["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """
        Return the log of one try of a task as text.

        :param dag_id: the task's DAG.
        :param run_id: the task's DAG run.
        :param task_id: the task.
        :param try_number: the try, counting from 1.
        """
        path = (
            f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
            f"/logs/{try_number}"
        )
        content = self._json("GET", path, params={"full_content": "true"})["content"]
        return "\n".join(_log_line(entry) for entry in content)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()


def _log_line(entry: Any) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    parts = [str(entry.get(key, "")) for key in ("timestamp", "level", "event")]
    line = " ".join(part for part in parts if part)
    for detail in entry.get("error_detail") or ():
        if isinstance(detail, dict):
            line += f"\n  {detail.get('exc_type', '')}: {detail.get('exc_value', '')}"
    return line
