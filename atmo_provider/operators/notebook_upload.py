"""Upload a Spark job's notebook to the code bucket after checking it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from atmo_provider.operators.common import resolve_settings, validate_identifier

if TYPE_CHECKING:
    from airflow.sdk import Context

    from atmo_provider.settings import AtmoSettings

__all__ = ["AtmoUploadNotebookOperator"]


class AtmoUploadNotebookOperator(BaseOperator):
    """Check a local notebook and upload it to ``s3://<code_bucket>/jobs/<identifier>/<name>``.

    The notebook must exist, be nbformat 4 JSON with cells and stay under
    :data:`atmo_provider.notebooks.MAX_NOTEBOOK_BYTES`. Returns the notebook's ``s3://`` URI.

    :param identifier: the job's identifier (templated).
    :param notebook_path: the local notebook file (templated).
    :param aws_conn_id: the Airflow AWS connection; ``None`` for ``[atmo] aws_conn_id``.
    :param settings: the provider's settings; ``None`` to read them at execute time.
    """

    template_fields = ("identifier", "notebook_path")
    ui_color = "#d8e8f8"

    def __init__(
        self,
        *,
        identifier: str,
        notebook_path: str,
        aws_conn_id: str | None = None,
        settings: AtmoSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.identifier = identifier
        self.notebook_path = notebook_path
        self.aws_conn_id = aws_conn_id
        self.settings = settings

    def execute(self, context: Context) -> str:
        """Validate the notebook, upload it and return its URI."""
        from atmo_provider.aws.clients import s3_client
        from atmo_provider.aws.retry import call_with_backoff
        from atmo_provider.notebooks import validate_notebook

        settings = self.settings = resolve_settings(self.settings)
        identifier = validate_identifier(self.identifier)
        validate_notebook(self.notebook_path)

        key = f"jobs/{identifier}/{os.path.basename(self.notebook_path)}"
        uri = f"s3://{settings.code_bucket}/{key}"
        with open(self.notebook_path, "rb") as handle:
            body = handle.read()

        client = s3_client(self.aws_conn_id or settings.aws_conn_id, settings.region_name)
        call_with_backoff(
            client.put_object,
            Bucket=settings.code_bucket,
            Key=key,
            Body=body,
            ContentType="application/x-ipynb+json",
            description=f"upload notebook {self.notebook_path} to {uri}",
        )
        self.log.info("Uploaded notebook %s of job %s to %s", self.notebook_path, identifier, uri)
        return uri
