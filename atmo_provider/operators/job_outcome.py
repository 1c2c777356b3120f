"""How a Spark job's run ended, in words a job owner can act on."""

from __future__ import annotations

from typing import Any

from atmo_provider.aws.states import FAILED_STATES, STEP_SUCCESS_STATE

__all__ = ["describe_failure", "succeeded"]


def succeeded(details: dict[str, Any]) -> bool:
    """Tell whether the notebook step completed on a cluster that did not end in errors.

    :param details: :meth:`SparkJobProvisioner.step_failure_details`'s answer.
    """
    return (
        details.get("step_state") == STEP_SUCCESS_STATE
        and details.get("cluster_state") not in FAILED_STATES
    )


def describe_failure(identifier: str, details: dict[str, Any]) -> str:
    """Explain why the run of job ``identifier`` failed: step, cluster, logs, stderr.

    :param identifier: the job's identifier.
    :param details: :meth:`SparkJobProvisioner.step_failure_details`'s answer.
    """
    jobflow_id = details.get("jobflow_id")
    if details.get("step_id"):
        step = f"step RunNotebookStep ({details['step_id']}) ended {details.get('step_state')}"
        step_reasons = [r for r in (details.get("step_reason"), details.get("step_message")) if r]
        if step_reasons:
            step += ": " + "; ".join(step_reasons)
    else:
        step = "the notebook step never ran"

    code = details.get("reason_code") or "no reason code"
    message = details.get("reason_message") or "no message"
    lines = [
        f"Spark job {identifier} failed on cluster {jobflow_id}: {step}. "
        f"The cluster is {details.get('cluster_state')} ({code}: {message})."
    ]

    if details.get("log_uri"):
        lines.append(f"Cluster logs: {details['log_uri']}")
    else:
        lines.append("The cluster was launched without a LogUri; EMR kept no logs in S3.")
    if details.get("step_log_uri"):
        lines.append(f"Step logs: {details['step_log_uri']}")

    if details.get("stderr_tail"):
        lines.append(f"Last lines of the step's stderr ({details.get('stderr_log_uri')}):")
        lines.append(details["stderr_tail"])
    elif details.get("stderr_log_uri"):
        lines.append(
            f"The step's stderr is not in {details['stderr_log_uri']} yet; EMR copies logs to "
            "S3 every few minutes."
        )
    return "\n".join(lines)
