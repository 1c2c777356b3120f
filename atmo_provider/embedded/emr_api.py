"""EMR requests of the embedded AWS: moto's answers, adjusted to behave like EMR.

Part of the embedded AWS, a development and test facility; production talks to real EMR with the
same provider code. Most EMR actions go to moto under the lifecycle lock. Around them:

- RunJobFlow: checks the ``AutoTerminationPolicy`` (which moto ignores), then hands the new
  cluster to the lifecycle driver, which puts it in STARTING before the response leaves, so no
  later call sees moto's instant WAITING;
- AddJobFlowSteps: refused on an ending cluster, as EMR does; new steps wait in PENDING;
- TerminateJobFlows: answered here, through TERMINATING;
- ListClusters: answered here, newest first in pages of 50 with a ``Marker``, as EMR does;
- Get/Put/RemoveAutoTerminationPolicy: answered here.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.emr.models import emr_backends

from atmo_provider.embedded.calls import AwsCall
from atmo_provider.embedded.emr_models import all_emr_backends, to_epoch
from atmo_provider.embedded.lifecycle import FINAL_STATES, ClusterLife, EmrLifecycle

__all__ = ["LIST_CLUSTERS_PAGE_SIZE", "EmrApi", "EmrError", "call_wsgi"]

log = logging.getLogger(__name__)

#: Clusters per ListClusters page, as on EMR.
LIST_CLUSTERS_PAGE_SIZE = 50

#: Bounds EMR puts on an auto-termination ``IdleTimeout``, in seconds.
IDLE_TIMEOUT_RANGE = (60, 604800)

Response = tuple[str, list[tuple[str, str]], bytes]


class EmrError(Exception):
    """An EMR error answer.

    :param error_type: the error code, e.g. ``ValidationException``.
    :param message: the error message.
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message

    def response(self) -> Response:
        """Return the error as an EMR JSON-protocol response."""
        return _json_response(
            "400 Bad Request", {"__type": self.error_type, "message": self.message}
        )


def _json_response(status: str, payload: dict[str, Any]) -> Response:
    body = json.dumps(payload).encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.1"),
        ("Content-Length", str(len(body))),
        ("x-amzn-RequestId", str(uuid.uuid4())),
    ]
    return status, headers, body


def _invalid_cluster(cluster_id: Any) -> EmrError:
    return EmrError("InvalidRequestException", f"Cluster id '{cluster_id}' is not valid.")


def _jsonable(value: Any) -> Any:
    """Turn a moto status structure into JSON: epoch timestamps, no None members."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if hasattr(value, "timestamp"):
        return to_epoch(value)
    return value


def call_wsgi(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> Response:
    """Run a WSGI app to completion and return its status, headers and body."""
    captured: dict[str, Any] = {}
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, headers
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured["status"], captured["headers"], b"".join(chunks)


class EmrApi:
    """Handle EMR requests for one embedded AWS.

    :param lifecycle: the lifecycle whose lock and clusters the requests share.
    :param moto_app: moto's WSGI application.
    """

    def __init__(self, lifecycle: EmrLifecycle, moto_app: Callable[..., Iterable[bytes]]) -> None:
        self.lifecycle = lifecycle
        self.moto_app = moto_app
        self._own: dict[str, Callable[[AwsCall, dict[str, Any]], dict[str, Any]]] = {
            "ListClusters": self._list_clusters,
            "TerminateJobFlows": self._terminate_job_flows,
            "GetAutoTerminationPolicy": self._get_auto_termination_policy,
            "PutAutoTerminationPolicy": self._put_auto_termination_policy,
            "RemoveAutoTerminationPolicy": self._remove_auto_termination_policy,
        }

    def __call__(
        self, call: AwsCall, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Answer one EMR request (a WSGI call with its :class:`AwsCall` named)."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = None
        if not isinstance(params, dict):
            params = {}
        if call.region:
            # moto's EMR takes the region from the host name only; 127.0.0.1 would mean us-east-1.
            environ["HTTP_HOST"] = f"elasticmapreduce.{call.region}.amazonaws.com"

        with self.lifecycle.lock:
            status, headers, payload = self._answer(call, params, environ)
        start_response(status, headers)
        return [payload]

    def _answer(self, call: AwsCall, params: dict[str, Any], environ: dict[str, Any]) -> Response:
        try:
            if call.action in self._own:
                return _json_response("200 OK", self._own[call.action](call, params))
            if call.action == "RunJobFlow":
                _check_idle_timeout(params.get("AutoTerminationPolicy"))
            elif call.action == "AddJobFlowSteps":
                self._modifiable_life(params.get("JobFlowId"))
        except EmrError as error:
            return error.response()

        status, headers, payload = call_wsgi(self.moto_app, environ)
        if status.startswith("200"):
            if call.action == "RunJobFlow":
                self._adopt(params, json.loads(payload))
            elif call.action == "AddJobFlowSteps":
                self._steps_added(params["JobFlowId"], json.loads(payload))
        return status, headers, payload

    def _adopt(self, params: dict[str, Any], result: dict[str, Any]) -> None:
        cluster_id = result["JobFlowId"]
        backend = next((b for b in all_emr_backends() if cluster_id in b.clusters), None)
        if backend is None:
            log.warning("Cluster %s made by moto was not found; it will not move", cluster_id)
            return
        cluster = backend.clusters[cluster_id]
        cluster.atmo_requested_subnets = tuple(
            (params.get("Instances") or {}).get("Ec2SubnetIds") or ()
        )
        policy = params.get("AutoTerminationPolicy") or {}
        self.lifecycle.adopt(cluster, idle_timeout=policy.get("IdleTimeout"))

    def _steps_added(self, cluster_id: str, result: dict[str, Any]) -> None:
        life = self.lifecycle.get(cluster_id)
        if life is None:
            return
        step_ids = set(result.get("StepIds") or ())
        self.lifecycle.steps_added(
            cluster_id, [step for step in life.cluster.steps if step.id in step_ids]
        )

    def _life(self, cluster_id: Any) -> ClusterLife:
        life = self.lifecycle.get(cluster_id) if isinstance(cluster_id, str) else None
        if life is None:
            raise _invalid_cluster(cluster_id)
        return life

    def _modifiable_life(self, cluster_id: Any) -> ClusterLife:
        life = self._life(cluster_id)
        if life.state in FINAL_STATES or life.state == "TERMINATING":
            raise EmrError(
                "ValidationException",
                "A job flow that is shutting down, terminated, or finished may not be modified.",
            )
        return life

    def _terminate_job_flows(self, call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        lives = [self._life(cluster_id) for cluster_id in params.get("JobFlowIds") or ()]
        protected = False
        for life in lives:
            if life.cluster.termination_protected:
                protected = True
            else:
                self.lifecycle.request_termination(life.cluster.id)
        if protected:
            raise EmrError(
                "ValidationException",
                "Could not shut down one or more job flows since they are termination protected.",
            )
        return {}

    def _list_clusters(self, call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        states = set(params.get("ClusterStates") or ())
        after, before = params.get("CreatedAfter"), params.get("CreatedBefore")
        keyed = []
        for cluster in self._backend(call).clusters.values():
            created = to_epoch(cluster.creation_datetime)
            if states and cluster.state not in states:
                continue
            if (after is not None and created <= after) or (
                before is not None and created >= before
            ):
                continue
            keyed.append(((created, cluster.id), cluster))
        keyed.sort(key=lambda item: item[0], reverse=True)

        if params.get("Marker"):
            last = _decode_marker(params["Marker"])
            keyed = [item for item in keyed if item[0] < last]
        page = keyed[:LIST_CLUSTERS_PAGE_SIZE]
        result: dict[str, Any] = {"Clusters": [_summary(cluster) for _key, cluster in page]}
        if len(keyed) > LIST_CLUSTERS_PAGE_SIZE:
            result["Marker"] = _encode_marker(page[-1][0])
        return result

    def _get_auto_termination_policy(
        self, call: AwsCall, params: dict[str, Any]
    ) -> dict[str, Any]:
        life = self._life(params.get("ClusterId"))
        if life.idle_timeout is None:
            return {}
        return {"AutoTerminationPolicy": {"IdleTimeout": life.idle_timeout}}

    def _put_auto_termination_policy(
        self, call: AwsCall, params: dict[str, Any]
    ) -> dict[str, Any]:
        life = self._life(params.get("ClusterId"))
        policy = params.get("AutoTerminationPolicy") or {}
        _check_idle_timeout(policy)
        self.lifecycle.set_idle_timeout(life.cluster.id, policy.get("IdleTimeout"))
        return {}

    def _remove_auto_termination_policy(
        self, call: AwsCall, params: dict[str, Any]
    ) -> dict[str, Any]:
        life = self._life(params.get("ClusterId"))
        self.lifecycle.set_idle_timeout(life.cluster.id, None)
        return {}

    @staticmethod
    def _backend(call: AwsCall) -> Any:
        account = DEFAULT_ACCOUNT_ID
        if call.access_key:
            from moto.iam.models import get_account_id_from

            account = get_account_id_from(call.access_key)
        return emr_backends[account][call.region or "us-east-1"]


def _check_idle_timeout(policy: Any) -> None:
    if not policy or policy.get("IdleTimeout") is None:
        return
    low, high = IDLE_TIMEOUT_RANGE
    idle = policy["IdleTimeout"]
    if isinstance(idle, bool) or not isinstance(idle, int) or not low <= idle <= high:
        raise EmrError(
            "ValidationException",
            f"AutoTerminationPolicy.IdleTimeout must be between {low} and {high} seconds, "
            f"got {idle!r}",
        )


def _summary(cluster: Any) -> dict[str, Any]:
    return {
        "Id": cluster.id,
        "Name": cluster.name,
        "Status": _jsonable(cluster.status),
        "NormalizedInstanceHours": cluster.normalized_instance_hours,
        "ClusterArn": cluster.arn,
    }


def _encode_marker(key: tuple[float, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_marker(marker: str) -> tuple[float, str]:
    try:
        created, cluster_id = json.loads(base64.urlsafe_b64decode(marker.encode()))
        return float(created), str(cluster_id)
    except (ValueError, TypeError, binascii.Error):
        raise EmrError("InvalidRequestException", f"Marker {marker!r} is not valid.") from None
