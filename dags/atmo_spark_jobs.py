"""One DAG per Spark job spec file: ``atmo_job_<identifier>`` for each ``jobs/*.yaml``.

The spec folder is ``[atmo] jobs_folder``, or ``jobs/`` beside this file. An invalid spec is
logged with its file and field and skipped; the others still load. Check specs before committing
them with ``airflow atmo jobs validate``.
"""

from __future__ import annotations

from pathlib import Path

from atmo_provider.jobs.dags import build_job_dags
from atmo_provider.jobs.spec import default_jobs_folder, load_job_specs
from atmo_provider.settings import get_settings

_settings = get_settings()
_specs, _errors = load_job_specs(
    default_jobs_folder(_settings.jobs_folder, Path(__file__).parent), _settings.emr_releases
)
globals().update(build_job_dags(_specs, _errors, _settings))
