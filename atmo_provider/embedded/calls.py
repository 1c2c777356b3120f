"""Name the AWS call behind each HTTP request the embedded AWS receives, and count them.

Part of the embedded AWS, a development and test facility; production talks to real AWS with the
same provider code. Tests read the counts to prove, for instance, that a sensor polls EMR once
per poke rather than once per cluster.
"""

from __future__ import annotations

import io
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

__all__ = ["AwsCall", "CallCounter", "classify", "classify_environ", "s3_action"]

#: SigV4 signing names that differ from the service name the counts use.
_SIGNING_NAMES = {"elasticmapreduce": "emr"}

#: ``X-Amz-Target`` prefixes of JSON-protocol services, for requests without a signature.
_TARGET_PREFIXES = {"ElasticMapReduce": "emr"}

#: S3 sub-resources (query parameters) that name a bucket or object configuration.
_S3_SUBRESOURCES = {
    "acl": "Acl",
    "cors": "BucketCors",
    "encryption": "BucketEncryption",
    "lifecycle": "BucketLifecycleConfiguration",
    "logging": "BucketLogging",
    "notification": "BucketNotificationConfiguration",
    "ownershipControls": "BucketOwnershipControls",
    "policy": "BucketPolicy",
    "publicAccessBlock": "PublicAccessBlock",
    "tagging": "Tagging",
    "versioning": "BucketVersioning",
    "website": "BucketWebsite",
}


@dataclass(frozen=True)
class AwsCall:
    """The AWS call an HTTP request makes.

    :param service: ``emr``, ``s3``, ``sts``... (``unknown`` when nothing tells).
    :param action: the API action, e.g. ``DescribeCluster`` or ``PutObject``.
    :param region: the region of the request's signature, if signed.
    :param access_key: the access key id of the request's signature, if signed.
    """

    service: str
    action: str
    region: str | None = None
    access_key: str | None = None


def _credential_scope(authorization: str, query: Mapping[str, list[str]]) -> list[str]:
    """Return ``[access_key, date, region, service, "aws4_request"]`` or an empty list."""
    credential = ""
    if "Credential=" in authorization:
        credential = authorization.split("Credential=", 1)[1].split(",", 1)[0].strip()
    elif query.get("X-Amz-Credential"):
        credential = query["X-Amz-Credential"][0]
    parts = credential.split("/")
    return parts if len(parts) == 5 else []


def s3_action(method: str, path: str, query: Mapping[str, list[str]], copy_source: bool) -> str:
    """Name the S3 action of a path-style request from its method and path shape.

    :param method: the HTTP method.
    :param path: the URL path, ``/bucket`` or ``/bucket/key``.
    :param query: the parsed query string (values may be empty).
    :param copy_source: whether the request carries ``x-amz-copy-source``.
    """
    bucket, _, key = path.lstrip("/").partition("/")
    verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, method.title())
    subresource = next((_S3_SUBRESOURCES[name] for name in query if name in _S3_SUBRESOURCES), "")
    if not bucket:
        return "ListBuckets" if method == "GET" else f"{verb}Service"
    if not key:
        return _bucket_action(method, verb, subresource, query)
    return _object_action(method, verb, subresource, query, copy_source)


def _bucket_action(
    method: str, verb: str, subresource: str, query: Mapping[str, list[str]]
) -> str:
    if subresource.startswith(("Bucket", "Public")):
        return f"{verb}{subresource}"
    if subresource:
        return f"{verb}Bucket{subresource}"
    if method == "GET":
        if "location" in query:
            return "GetBucketLocation"
        if "uploads" in query:
            return "ListMultipartUploads"
        if "versions" in query:
            return "ListObjectVersions"
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    actions = {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}
    return actions.get(method, f"{verb}Bucket")


def _object_action(
    method: str,
    verb: str,
    subresource: str,
    query: Mapping[str, list[str]],
    copy_source: bool,
) -> str:
    if "uploadId" in query:
        if method == "PUT":
            return "UploadPartCopy" if copy_source else "UploadPart"
        actions = {"GET": "ListParts", "POST": "CompleteMultipartUpload"}
        return actions.get(method, "AbortMultipartUpload")
    if method == "POST" and "uploads" in query:
        return "CreateMultipartUpload"
    if subresource in ("Tagging", "Acl"):
        return f"{verb}Object{subresource}"
    if method == "PUT":
        return "CopyObject" if copy_source else "PutObject"
    actions = {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}
    return actions.get(method, f"{verb}Object")


def classify(
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str],
    form_body: str = "",
) -> AwsCall:
    """Name the AWS call of a request.

    :param method: the HTTP method.
    :param path: the URL path.
    :param query_string: the raw query string.
    :param headers: request headers with lower-case names.
    :param form_body: the body of a form-encoded (query protocol) request, else empty.
    """
    query = parse_qs(query_string, keep_blank_values=True)
    scope = _credential_scope(headers.get("authorization", ""), query)
    access_key, region, signing_name = (scope[0], scope[2], scope[3]) if scope else (None,) * 3
    target = headers.get("x-amz-target", "")
    service = _SIGNING_NAMES.get(signing_name or "", signing_name)
    if target and "." in target:
        prefix, action = target.split(".", 1)
        return AwsCall(
            service or _TARGET_PREFIXES.get(prefix, "unknown"), action, region, access_key
        )
    if service == "s3":
        action = s3_action(method, path, query, "x-amz-copy-source" in headers)
        return AwsCall("s3", action, region, access_key)
    form = parse_qs(form_body)
    action = (query.get("Action") or form.get("Action") or [f"{method} {path}"])[0]
    return AwsCall(service or "unknown", action, region, access_key)


def classify_environ(environ: dict[str, Any]) -> AwsCall:
    """Name the AWS call of a WSGI request; a form-encoded body is read and put back."""
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    form_body = ""
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        form_body = raw.decode("utf-8", errors="replace")
    return classify(
        environ.get("REQUEST_METHOD", "GET"),
        environ.get("PATH_INFO", "/"),
        environ.get("QUERY_STRING", ""),
        headers,
        form_body,
    )


class CallCounter:
    """Thread-safe counts of AWS calls by service and action."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: defaultdict[str, defaultdict[str, int]] = defaultdict(
            lambda: defaultdict(int)
        )

    def record(self, call: AwsCall) -> None:
        """Count one call."""
        with self._lock:
            self._counts[call.service][call.action] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Return the counts as plain nested dicts: ``{service: {action: count}}``."""
        with self._lock:
            return {service: dict(actions) for service, actions in self._counts.items()}

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()
