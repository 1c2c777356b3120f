"""The local stack: real Airflow processes and the embedded AWS on 127.0.0.1, for demo and tests.

``airflow standalone`` insists on the simple auth manager, so :class:`LocalStack` starts the
scheduler, DAG processor, triggerer and API server itself with the FAB auth manager, a SQLite
metadata database and the LocalExecutor. Every process it starts runs in a process group of its
own, logs to a file in the home folder and listens on 127.0.0.1 only (the log servers, which
would bind every interface, are switched off). A development and test facility, not a deployment.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from atmo_provider.embedded.sqlite_connect import use_write_ahead_log
from atmo_provider.embedded.stack_client import AirflowApiClient
from atmo_provider.embedded.users import LOCAL_USERS, load_or_create_secrets

__all__ = ["DEFAULT_EXECUTION", "REPO_ROOT", "LocalStack", "StackError", "free_port"]

log = logging.getLogger(__name__)

#: The project's checkout: ``dags/`` and ``plugins/`` live here.
# Limitation: the stack runs from a checkout (or an editable install); an installed wheel has no
# dags/ or plugins/ beside the package, so pass dags_folder and plugins_folder there.
REPO_ROOT = Path(__file__).resolve().parents[2]

#: The auth manager of every local install: FAB, for users, roles and the ATMO tab's permission.
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
#: The DAG bundle class of the DAG folders.
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"

#: How the stack runs Spark job notebooks unless told otherwise: for real, on this machine.
DEFAULT_EXECUTION = "local"

#: The Airflow components, each started as ``airflow <command> <args>``.
AIRFLOW_COMPONENTS: dict[str, list[str]] = {
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
    "api-server": ["api-server"],
}


class StackError(RuntimeError):
    """The local stack could not be set up, started or used."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class _Started:
    name: str
    popen: subprocess.Popen
    log_path: Path


class LocalStack:
    """
    Airflow with the FAB auth manager and the embedded AWS, all on 127.0.0.1.

    Use it as a context manager, or call :meth:`setup`, :meth:`start` and :meth:`stop`.

    :param home: the ``AIRFLOW_HOME`` of the stack: database, secrets, logs.
    :param api_port: port of the API server and UI.
    :param aws_port: port of the embedded AWS; a free one when not given.
    :param timings: lifecycle timings of the embedded AWS, ``demo`` or ``fast``.
    :param dags_folder: the main DAG folder; the project's ``dags/`` when not given.
    :param extra_dags_folders: further folders parsed as DAG bundles of their own.
    :param plugins_folder: the plugins folder; the project's ``plugins/`` when not given.
    :param atmo_options: ``[atmo]`` options to override, e.g. ``{"poll_interval": "2"}``.
        ``execution`` is ``local`` unless given: Spark job notebooks run for real on this
        machine with papermill and local PySpark; pass ``{"execution": "emr"}`` to run them as
        steps of the embedded AWS's (simulated) EMR clusters instead.
    :param start_timeout: seconds to wait for every component to report healthy.
    """

    def __init__(
        self,
        home: Path,
        *,
        api_port: int = 8080,
        aws_port: int | None = None,
        timings: str = "demo",
        dags_folder: Path | None = None,
        extra_dags_folders: Sequence[Path] = (),
        plugins_folder: Path | None = None,
        atmo_options: Mapping[str, str] | None = None,
        start_timeout: float = 180.0,
    ) -> None:
        self.home = Path(home).resolve()
        self.api_port = api_port
        self.aws_port = aws_port or free_port()
        self.timings = timings
        self.dags_folder = Path(dags_folder or REPO_ROOT / "dags").resolve()
        self.extra_dags_folders = tuple(Path(p).resolve() for p in extra_dags_folders)
        self.plugins_folder = Path(plugins_folder or REPO_ROOT / "plugins").resolve()
        self.atmo_options = {
            "site_url": self.base_url,
            "execution": DEFAULT_EXECUTION,
            **(atmo_options or {}),
        }
        self.start_timeout = start_timeout
        self.process_log_folder = self.home / "stack-logs"
        self._started: list[_Started] = []

    @property
    def base_url(self) -> str:
        """URL of the API server and the UI."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def aws_endpoint_url(self) -> str:
        """URL of the embedded AWS."""
        return f"http://127.0.0.1:{self.aws_port}"

    @property
    def secrets(self) -> dict[str, str]:
        """Keys and passwords of this install, created on first use."""
        return load_or_create_secrets(self.home)

    def password(self, username: str) -> str:
        """Return the generated password of a local user."""
        return self.secrets[f"{username}_password"]

    def logins(self) -> list[tuple[str, str, str]]:
        """Return ``(username, password, roles)`` of every local user."""
        return [
            (
                user.username,
                self.password(user.username),
                ", ".join((user.role,) + user.extra_roles),
            )
            for user in LOCAL_USERS
        ]

    def aws_connection(self) -> str:
        """Return the ``aws_default`` connection, as JSON, pointing at the embedded AWS."""
        extra = {"endpoint_url": self.aws_endpoint_url, "region_name": self.region_name}
        return json.dumps(
            {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
        )

    @property
    def region_name(self) -> str:
        """AWS region of the stack, from the ``[atmo]`` overrides or the default."""
        return self.atmo_options.get("region_name", "us-west-2")

    def _bundles(self) -> str:
        bundles = [{"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}}]
        for index, folder in enumerate(self.extra_dags_folders, start=1):
            bundles.append(
                {
                    "name": f"extra-{index}",
                    "classpath": LOCAL_BUNDLE,
                    "kwargs": {"path": str(folder)},
                }
            )
        return json.dumps(bundles)

    def environment(self) -> dict[str, str]:
        """
        Return the environment of every process of the stack.

        It starts from this process's environment without any ``AIRFLOW*`` or ``AWS*`` variable,
        so that settings of the calling shell or test session do not leak into the stack.
        """
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW", "AWS_", "_AIRFLOW"))
        }
        secrets = self.secrets
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder),
                "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__FERNET_KEY": secrets["fernet_key"],
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": (
                    "atmo_provider.embedded.sqlite_connect.METADATA_CONNECT_ARGS"
                ),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets["api_secret_key"],
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets["jwt_secret"],
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": self._bundles(),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "0",
                "AIRFLOW_CONN_AWS_DEFAULT": self.aws_connection(),
                "AIRFLOW_CONN_ATMO_DEFAULT": f"sqlite:///{self.home}/atmo.db",
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": self.region_name,
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
        for option, value in self.atmo_options.items():
            env[f"AIRFLOW__ATMO__{option.upper()}"] = str(value)
        return env

    def setup(self) -> None:
        """Migrate the metadata database and create the users and roles; safe to run again."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        self.process_log_folder.mkdir(exist_ok=True)
        log_path = self.process_log_folder / "setup.log"

        started = time.monotonic()
        with log_path.open("ab") as output:
            result = subprocess.run(
                [sys.executable, "-m", "atmo_provider.embedded.users"],
                env=self.environment(),
                stdout=output,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode != 0:
            raise StackError(f"setting up {self.home} failed:\n{_tail(log_path)}")

        use_write_ahead_log(self.home / "airflow.db")
        log.info("Set up the stack in %s in %.1f s", self.home, time.monotonic() - started)

    def start(self) -> None:
        """Start the embedded AWS and the Airflow components; return once all are healthy."""
        if self._started:
            raise StackError("the stack is already running")
        self.check_port()
        self.process_log_folder.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)
        started = time.monotonic()

        try:
            self._spawn(
                "embedded-aws",
                [sys.executable, "-m", "atmo_provider.embedded", "serve", "--host", "127.0.0.1"]
                + ["--port", str(self.aws_port), "--timings", self.timings],
            )
            for name, args in AIRFLOW_COMPONENTS.items():
                self._spawn(name, [sys.executable, "-m", "airflow", *args])

            # The embedded AWS is seeded while Airflow starts; no task runs before both are up.
            self._wait_until(f"{self.aws_endpoint_url}/_atmo/health", self._answers_ok)
            self._seed_embedded_aws()
            self._wait_until(f"{self.base_url}/api/v2/monitor/health", self._all_healthy)
        except BaseException:
            self.stop()
            raise
        log.info("Started the stack at %s in %.1f s", self.base_url, time.monotonic() - started)

    def check_port(self) -> None:
        """Raise :class:`StackError` if something already listens on the API server's port."""
        if not _port_is_free(self.api_port):
            raise StackError(
                f"port {self.api_port} on 127.0.0.1 is in use; stop what uses it or pick "
                "another port with ATMO_API_PORT"
            )

    def _seed_embedded_aws(self) -> None:
        from atmo_provider.embedded.seed import seed_embedded_aws
        from atmo_provider.settings import AtmoSettings

        seed_embedded_aws(self.aws_endpoint_url, AtmoSettings.from_mapping(self.atmo_options))

    def _spawn(self, name: str, argv: list[str]) -> None:
        log_path = self.process_log_folder / f"{name}.log"
        with log_path.open("ab") as output:
            popen = subprocess.Popen(
                argv,
                env=self.environment(),
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._started.append(_Started(name, popen, log_path))
        log.info("Started %s (pid %d), log in %s", name, popen.pid, log_path)

    @staticmethod
    def _answers_ok(response) -> bool:
        return response.status_code == 200

    @staticmethod
    def _all_healthy(response) -> bool:
        if response.status_code != 200:
            return False
        components = response.json()
        wanted = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all((components.get(name) or {}).get("status") == "healthy" for name in wanted)

    def _wait_until(self, url: str, is_ready) -> None:
        import httpx

        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if is_ready(httpx.get(url, timeout=5)):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise StackError(
            f"{url} was not ready after {self.start_timeout:.0f} s{self._log_tails()}"
        )

    def check_alive(self) -> None:
        """Raise :class:`StackError` with its log tail if a started process has exited."""
        for started in self._started:
            code = started.popen.poll()
            if code is not None:
                raise StackError(
                    f"{started.name} exited with code {code}:\n{_tail(started.log_path)}"
                )

    def _log_tails(self) -> str:
        return "".join(f"\n--- {s.name}:\n{_tail(s.log_path, 10)}" for s in self._started)

    def pids(self) -> list[int]:
        """Return the pids of the running processes the stack started and of their children."""
        import psutil

        pids = []
        for started in self._started:
            if started.popen.poll() is not None:
                continue
            pids.append(started.popen.pid)
            try:
                children = psutil.Process(started.popen.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            pids.extend(child.pid for child in children)
        return pids

    def stop(self, grace: float = 20.0) -> None:
        """
        Stop every process the stack started, children included: SIGTERM, then SIGKILL.

        :param grace: seconds to wait after SIGTERM before killing what is left.
        """
        import psutil

        if not self._started:
            return
        children = []
        for started in self._started:
            try:
                children.extend(psutil.Process(started.popen.pid).children(recursive=True))
            except psutil.NoSuchProcess:
                pass

        # Limitation: a child whose parent already exited on its own is not found here.
        for started in reversed(self._started):
            self._signal_group(started, signal.SIGTERM)
        for child in children:
            self._signal(child, signal.SIGTERM)

        deadline = time.monotonic() + grace
        for started in self._started:
            try:
                started.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning(
                    "Killing %s (pid %d) after %.0f s", started.name, started.popen.pid, grace
                )
                self._signal_group(started, signal.SIGKILL)
                started.popen.wait()
        _gone, alive = psutil.wait_procs(children, timeout=max(0.0, deadline - time.monotonic()))
        for child in alive:
            log.warning("Killing pid %d, still running after SIGTERM", child.pid)
            self._signal(child, signal.SIGKILL)

        self._started = []
        atexit.unregister(self.stop)
        log.info("Stopped the stack at %s", self.base_url)

    @staticmethod
    def _signal_group(started: _Started, signum: int) -> None:
        # The group id is the pid of the process we started (start_new_session=True); signal it
        # only while that process is not reaped, so that the id cannot belong to anyone else.
        if started.popen.returncode is not None:
            return
        try:
            os.killpg(started.popen.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    @staticmethod
    def _signal(process, signum: int) -> None:
        import psutil

        try:
            process.send_signal(signum)
        except psutil.NoSuchProcess:
            pass

    def client(self, username: str = "admin") -> AirflowApiClient:
        """Return a REST API client logged in as one of the local users."""
        return AirflowApiClient(self.base_url, username, self.password(username))

    def __enter__(self) -> LocalStack:
        self.setup()
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
