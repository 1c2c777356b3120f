"""The ``[atmo]`` section of Airflow's configuration: every option, its default and its meaning.

Airflow reads the defaults from here through the provider's ``get_provider_info``, so
``conf.get("atmo", ...)`` works without an ``airflow.cfg`` entry. Override any option with
``AIRFLOW__ATMO__<OPTION>`` or in ``airflow.cfg``.
"""

from __future__ import annotations

__all__ = ["OPTIONS", "config_section"]

#: (name, type, default, description) for each option of the ``[atmo]`` section.
OPTIONS: list[tuple[str, str, str, str]] = [
    ("environment", "string", "dev", "Deployment environment, in cluster names and tags."),
    ("aws_conn_id", "string", "aws_default", "Airflow connection used for every AWS call."),
    ("region_name", "string", "us-west-2", "AWS region of the EMR clusters and buckets."),
    ("log_bucket", "string", "atmo-logs", "Bucket of the EMR logs (``LogUri``)."),
    ("code_bucket", "string", "atmo-code", "Bucket holding the Spark job notebooks."),
    ("public_data_bucket", "string", "atmo-public-data", "Results of public Spark jobs."),
    ("private_data_bucket", "string", "atmo-private-data", "Results of private Spark jobs."),
    (
        "spark_emr_bucket",
        "string",
        "atmo-spark-emr",
        "Bucket with the EMR configuration, bootstrap script and step scripts.",
    ),
    (
        "spark_emr_configuration_key",
        "string",
        "configuration/configuration.json",
        "Key of the EMR ``Configurations`` JSON document in the Spark EMR bucket.",
    ),
    ("master_instance_type", "string", "c3.4xlarge", "Instance type of the master node."),
    ("worker_instance_type", "string", "c3.4xlarge", "Instance type of the core nodes."),
    ("use_spot_instances", "boolean", "True", "Run core nodes on spot instances."),
    ("spot_bid_core", "float", "0.84", "Spot bid price in USD per hour for core nodes."),
    (
        "spot_fallback_on_demand",
        "boolean",
        "True",
        "Launch on on-demand instances when EMR refuses spot capacity.",
    ),
    ("service_role", "string", "EMR_DefaultRole", "EMR service role."),
    ("instance_profile", "string", "EMR_EC2_DefaultRole", "EC2 instance profile of nodes."),
    ("ec2_key_name", "string", "", "EC2 key pair name for the nodes (optional)."),
    ("subnet_ids", "string", "", "Comma-separated subnet ids; empty for EMR's default."),
    ("master_security_group", "string", "", "Managed security group of the master node."),
    ("slave_security_group", "string", "", "Managed security group of the core nodes."),
    ("security_configuration", "string", "", "EMR security configuration name (optional)."),
    (
        "idle_timeout_seconds",
        "integer",
        "3600",
        "EMR auto-termination idle timeout: a cluster Airflow lost track of still ends.",
    ),
    (
        "emr_releases",
        "string",
        "6.15.0,6.10.1,5.36.2",
        "Comma-separated EMR releases users may pick; the first is the default.",
    ),
    ("applications", "string", "Spark,Hive,JupyterEnterpriseGateway", "EMR applications."),
    ("max_cluster_size", "integer", "30", "Largest cluster size users may launch."),
    ("min_cluster_lifetime", "integer", "2", "Shortest cluster lifetime, in hours."),
    ("max_cluster_lifetime", "integer", "24", "Longest cluster lifetime, in hours."),
    ("default_cluster_lifetime", "integer", "8", "Default cluster lifetime, in hours."),
    (
        "jobs_folder",
        "string",
        "",
        "Folder of the Spark job spec files; empty for ``jobs/`` beside the DAG files.",
    ),
    ("poll_interval", "integer", "30", "Seconds between two status polls while waiting."),
    ("site_url", "string", "http://127.0.0.1:8080", "Public URL of the Airflow UI."),
    (
        "admin_users",
        "string",
        "",
        "Comma-separated usernames that may launch clusters on behalf of someone else.",
    ),
    (
        "execution",
        "string",
        "emr",
        "Where Spark job notebooks run: ``emr`` (a transient EMR cluster) or ``local`` "
        "(papermill and local PySpark on the worker; holds a worker slot while it runs).",
    ),
    ("max_notebook_size", "integer", "10485760", "Largest notebook file in bytes."),
    ("records_conn_id", "string", "atmo_default", "Airflow connection of the ATMO records."),
    (
        "maintainer_role",
        "string",
        "Spark job maintainers",
        "Airflow role whose members see and may run every Spark job.",
    ),
    (
        "max_active_clusters_per_user",
        "integer",
        "5",
        "Most active clusters one user may have at a time; 0 for no limit.",
    ),
    (
        "max_total_size_per_user",
        "integer",
        "60",
        "Most nodes one user's active clusters may have together, counted as the sum of their "
        "sizes (the size users pick; the master node is not counted); 0 for no limit.",
    ),
    (
        "limit_exempt_users",
        "string",
        "",
        "Comma-separated usernames the per-user cluster limits do not apply to (ATMO exempted "
        "its cluster maintainers; tasks cannot read Airflow's roles, so they are listed here).",
    ),
    (
        "expiration_warning_minutes",
        "integer",
        "60",
        "Minutes before a cluster expires that its owner is warned by email, once.",
    ),
]


def config_section() -> dict:
    """Return the ``[atmo]`` section in the shape of Airflow's provider ``config`` schema."""
    options = {
        name: {
            "description": description,
            "version_added": "0.1.0",
            "type": kind,
            "example": None,
            "default": default,
        }
        for name, kind, default, description in OPTIONS
    }
    return {"description": "Settings of the ATMO provider.", "options": options}
