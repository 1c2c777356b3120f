"""Store a local run's executed notebook and result files where an EMR run stores them.

Results go to ``s3://<results bucket>/<identifier>/<run date>/``, through the Amazon provider's
``S3Hook`` and so through the run's AWS connection. An upload that fails in passing (throttling,
a 5xx, a lost connection) is retried after a fully jittered wait.
"""

from __future__ import annotations

import logging
import mimetypes
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from atmo_provider.backoff import ExpoBackoffFullJitter
from atmo_provider.errors import is_transient
from atmo_provider.results import format_run_date, result_prefix

__all__ = [
    "ResultUploader",
    "format_run_date",
    "is_retryable_upload_error",
    "iter_result_files",
    "result_prefix",
]

log = logging.getLogger(__name__)

_CONTENT_TYPES = {".ipynb": "application/x-ipynb+json", ".csv": "text/csv"}


def iter_result_files(output_dir: Path) -> Iterator[tuple[Path, str]]:
    """Yield each regular file under ``output_dir`` with its path relative to it, sorted.

    Symbolic links are skipped: a notebook could otherwise publish any file the worker can
    read by linking to it from its output folder.

    :param output_dir: the folder the notebook wrote its results to.
    """
    for path in sorted(output_dir.rglob("*")):
        if path.is_symlink():
            log.warning("Not uploading %s: it is a symbolic link", path)
            continue
        if path.is_file():
            yield path, path.relative_to(output_dir).as_posix()


def is_retryable_upload_error(exc: BaseException) -> bool:
    """Tell whether an upload that raised ``exc`` may succeed when tried again.

    boto3's transfer manager wraps the ``ClientError`` it got in an ``S3UploadFailedError``;
    the chain of causes is searched for an error that :func:`is_transient` accepts.

    :param exc: the error the upload raised.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if is_transient(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class ResultUploader:
    """Upload files under one results prefix, retrying transient failures.

    :param aws_conn_id: the Airflow connection of the AWS account (or the embedded AWS).
    :param bucket: the results bucket, public or private.
    :param prefix: the key prefix, ``<identifier>/<run date>/``.
    :param max_attempts: how many tries per file, the first included.
    :param base: ceiling of the first wait between tries, in seconds.
    :param cap: largest ceiling of a wait, in seconds.
    :param client: an S3 client to use instead of the one ``S3Hook(aws_conn_id)`` makes.
    """

    def __init__(
        self,
        *,
        aws_conn_id: str | None,
        bucket: str,
        prefix: str,
        max_attempts: int = 5,
        base: float = 1.0,
        cap: float = 20.0,
        client: Any = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.aws_conn_id = aws_conn_id
        self.bucket = bucket
        self.prefix = prefix
        self.max_attempts = max_attempts
        self._waits = ExpoBackoffFullJitter(base, cap)
        self._client = client

    @property
    def uri(self) -> str:
        """The results folder: ``s3://<bucket>/<prefix>``."""
        return f"s3://{self.bucket}/{self.prefix}"

    def _s3(self) -> Any:
        if self._client is None:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            self._client = S3Hook(aws_conn_id=self.aws_conn_id).get_conn()
        return self._client

    def upload(self, path: Path, name: str) -> str:
        """Upload the file ``path`` as ``<prefix><name>``; return the key.

        :param path: the local file.
        :param name: its name under the prefix; may contain ``/``.
        :raises Exception: the last error when every try failed, or the first error that
            retrying cannot cure (a missing bucket, a denied access).
        """
        key = self.prefix + name
        content_type = _CONTENT_TYPES.get(path.suffix.lower()) or (
            mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        attempt = 1
        while True:
            try:
                self._s3().upload_file(
                    str(path), self.bucket, key, ExtraArgs={"ContentType": content_type}
                )
            except Exception as exc:
                if attempt >= self.max_attempts or not is_retryable_upload_error(exc):
                    raise
                delay = self._waits.backoff(attempt - 1)
                log.warning(
                    "Upload of s3://%s/%s failed (%s), try %d of %d in %.2f s",
                    self.bucket,
                    key,
                    exc,
                    attempt + 1,
                    self.max_attempts,
                    delay,
                )
                time.sleep(delay)
                attempt += 1
                continue

            log.info("Uploaded %s to s3://%s/%s", path.name, self.bucket, key)
            return key
