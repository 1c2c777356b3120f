"""ATMO on Apache Airflow: self-serve Spark clusters and scheduled Spark jobs on AWS EMR.

The package's top level stays light: it is imported when Airflow discovers providers, so it
imports nothing from boto3 or Airflow's core here.
"""

from __future__ import annotations

__all__ = ["__version__", "get_provider_info"]

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Describe this provider to Airflow's provider manager."""
    from atmo_provider.config_options import config_section

    return {
        "package-name": "airflow-provider-atmo",
        "name": "ATMO",
        "description": "Self-serve Spark clusters and scheduled Spark notebook jobs on AWS EMR.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "ATMO",
                "external-doc-url": "https://github.com/mozilla/telemetry-analysis-service",
                "tags": ["aws"],
            }
        ],
        "operators": [
            {
                "integration-name": "ATMO",
                "python-modules": [
                    "atmo_provider.operators.cluster",
                    "atmo_provider.operators.notebook_upload",
                    "atmo_provider.operators.spark_job",
                ],
            }
        ],
        "sensors": [
            {"integration-name": "ATMO", "python-modules": ["atmo_provider.sensors.cluster"]}
        ],
        "triggers": [
            {"integration-name": "ATMO", "python-modules": ["atmo_provider.triggers.cluster"]}
        ],
        "extra-links": [
            "atmo_provider.links.EmrConsoleLink",
            "atmo_provider.links.EmrClusterLogsLink",
            "atmo_provider.links.SparkHistoryLink",
        ],
        "plugins": [{"name": "atmo", "plugin-class": "atmo_provider.plugin.AtmoPlugin"}],
        "config": {"atmo": config_section()},
        "cli": ["atmo_provider.cli.definition.get_atmo_cli_commands"],
    }
