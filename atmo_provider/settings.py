"""Typed settings of the provider, read from the ``[atmo]`` section of Airflow's configuration.

Code takes an :class:`AtmoSettings` as an argument instead of reading the configuration where it
needs a value, so that it tests without patching.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from atmo_provider.config_options import OPTIONS

__all__ = ["AtmoSettings", "get_settings"]

SECTION = "atmo"


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class AtmoSettings:
    """The provider's settings; see :mod:`atmo_provider.config_options` for their meaning."""

    environment: str = "dev"
    aws_conn_id: str = "aws_default"
    region_name: str = "us-west-2"
    log_bucket: str = "atmo-logs"
    code_bucket: str = "atmo-code"
    public_data_bucket: str = "atmo-public-data"
    private_data_bucket: str = "atmo-private-data"
    spark_emr_bucket: str = "atmo-spark-emr"
    spark_emr_configuration_key: str = "configuration/configuration.json"
    master_instance_type: str = "c3.4xlarge"
    worker_instance_type: str = "c3.4xlarge"
    use_spot_instances: bool = True
    spot_bid_core: float = 0.84
    spot_fallback_on_demand: bool = True
    service_role: str = "EMR_DefaultRole"
    instance_profile: str = "EMR_EC2_DefaultRole"
    ec2_key_name: str = ""
    subnet_ids: tuple[str, ...] = ()
    master_security_group: str = ""
    slave_security_group: str = ""
    security_configuration: str = ""
    idle_timeout_seconds: int = 3600
    emr_releases: tuple[str, ...] = ("6.15.0", "6.10.1", "5.36.2")
    applications: tuple[str, ...] = ("Spark", "Hive", "JupyterEnterpriseGateway")
    max_cluster_size: int = 30
    min_cluster_lifetime: int = 2
    max_cluster_lifetime: int = 24
    default_cluster_lifetime: int = 8
    jobs_folder: str = ""
    poll_interval: int = 30
    site_url: str = "http://127.0.0.1:8080"
    admin_users: tuple[str, ...] = field(default_factory=tuple)
    execution: str = "emr"
    max_notebook_size: int = 10 * 1024 * 1024
    records_conn_id: str = "atmo_default"
    maintainer_role: str = "Spark job maintainers"
    max_active_clusters_per_user: int = 5
    max_total_size_per_user: int = 60
    limit_exempt_users: tuple[str, ...] = field(default_factory=tuple)
    expiration_warning_minutes: int = 60

    @property
    def default_emr_release(self) -> str:
        """The release a launch uses when none is given: the first configured one."""
        return self.emr_releases[0]

    def results_bucket(self, visibility: str) -> str:
        """Return the results bucket for ``public`` or ``private`` results."""
        if visibility == "public":
            return self.public_data_bucket
        if visibility == "private":
            return self.private_data_bucket
        raise ValueError(f"result visibility must be 'public' or 'private', got {visibility!r}")

    @classmethod
    def from_mapping(cls, values: dict[str, str]) -> AtmoSettings:
        """Build settings from raw configuration strings, converting each to its type."""
        kinds = {name: kind for name, kind, _default, _description in OPTIONS}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        converted: dict[str, object] = {}
        for name, raw in values.items():
            if name not in fields:
                continue
            converted[name] = _convert(name, kinds.get(name, "string"), raw, fields[name])
        return cls(**converted)


def _convert(name: str, kind: str, raw: str, spec: dataclasses.Field) -> object:
    if isinstance(raw, str) and spec.type in ("tuple[str, ...]",):
        return _split(raw)
    try:
        if kind == "boolean":
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return lowered in ("true", "1", "yes")
        if kind == "integer":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ValueError(f"[atmo] {name} must be of type {kind}, got {raw!r}") from None
    return raw


def get_settings() -> AtmoSettings:
    """Read the ``[atmo]`` section of Airflow's configuration, with the documented defaults."""
    from airflow.configuration import conf

    values = {
        name: conf.get(SECTION, name, fallback=default)
        for name, _kind, default, _description in OPTIONS
    }
    return AtmoSettings.from_mapping(values)
