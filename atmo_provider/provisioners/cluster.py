"""The provisioner of ATMO's self-serve clusters: long-lived, kept alive without steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from atmo_provider.provisioners.base import TASK_INSTANCE_TAG, Provisioner

__all__ = ["ClusterProvisioner"]


class ClusterProvisioner(Provisioner):
    """Launch, describe, list and terminate the clusters users SSH into."""

    #: EMR writes these clusters' logs under ``s3://<log_bucket>/clusters/``.
    log_dir = "clusters"

    #: Clusters are named ``atmo-<environment>-cluster-...`` and tagged ``Type=cluster``.
    name_component = "cluster"

    def start_params(
        self,
        user_username: str,
        user_email: str,
        identifier: str,
        emr_release: str,
        size: int,
        public_key: str,
        task_instance_tag: str | None = None,
    ) -> dict[str, Any]:
        """Return the RunJobFlow parameters of a cluster that stays up until terminated.

        Its bootstrap action installs the user's SSH public key and the Telemetry tools.

        :param user_username: the owner's user name.
        :param user_email: the owner's email.
        :param identifier: the cluster's identifier.
        :param emr_release: the EMR release, e.g. ``6.15.0``.
        :param size: the number of nodes.
        :param public_key: the SSH public key to install on the master node.
        :param task_instance_tag: the ``atmo:task-instance`` tag value, if launched by a task.
        """
        params = self.job_flow_params(user_username, user_email, identifier, emr_release, size)
        params["Instances"]["KeepJobFlowAliveWhenNoSteps"] = True
        params["BootstrapActions"] = [
            {
                "Name": "setup-telemetry-cluster",
                "ScriptBootstrapAction": {
                    "Path": f"s3://{self.settings.spark_emr_bucket}/bootstrap/telemetry.sh",
                    "Args": ["--public-key", public_key, "--email", user_email],
                },
            }
        ]
        if task_instance_tag is not None:
            params["Tags"].append({"Key": TASK_INSTANCE_TAG, "Value": task_instance_tag})
        return params

    def start(
        self,
        user_username: str,
        user_email: str,
        identifier: str,
        emr_release: str,
        size: int,
        public_key: str,
        task_instance_tag: str | None = None,
        created_after: datetime | None = None,
    ) -> str:
        """Launch a cluster (or find the one this task instance launched) and return its id.

        :param user_username: the owner's user name.
        :param user_email: the owner's email.
        :param identifier: the cluster's identifier.
        :param emr_release: the EMR release, e.g. ``6.15.0``.
        :param size: the number of nodes.
        :param public_key: the SSH public key to install on the master node.
        :param task_instance_tag: the ``atmo:task-instance`` tag value; a live cluster with it
            is reused instead of launching another.
        :param created_after: look for that cluster among those created after this moment.
        """
        params = self.start_params(
            user_username, user_email, identifier, emr_release, size, public_key
        )
        launch = self.launch(
            params, task_instance_tag=task_instance_tag, created_after=created_after
        )
        return launch.jobflow_id
