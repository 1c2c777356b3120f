"""AWS calls with full-jitter retries, and the names of EMR's cluster and step states.

Nothing here imports boto3 at module level: DAG files import the operators, which import this
package.
"""

from __future__ import annotations

from atmo_provider.aws.retry import call_with_backoff

__all__ = ["call_with_backoff"]
