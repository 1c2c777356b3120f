"""The Params of a cluster launch and the rules that check them.

:func:`launch_params` gives the DAG's ``params``: Airflow validates a run's ``conf`` against
their JSON schema when the run is created (the API, the UI trigger form and
``airflow dags trigger`` all go through ``create_dagrun``), so bad input is refused before any
task runs. :func:`validate_launch_request` checks the same rules again in Python, parses the SSH
key and decides who owns the cluster.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atmo_provider.errors import AtmoValidationError
from atmo_provider.names import random_scientist
from atmo_provider.validation.patterns import (
    EMAIL_PATTERN,
    EMAIL_RE,
    IDENTIFIER_PATTERN,
    IDENTIFIER_RE,
    OWNER_PATTERN,
    OWNER_RE,
)
from atmo_provider.validation.ssh_keys import MAX_KEY_LENGTH, validate_ssh_public_key

if TYPE_CHECKING:
    from airflow.sdk import Param
    from sqlalchemy.orm import Session

    from atmo_provider.settings import AtmoSettings

__all__ = [
    "IDENTIFIER_PATTERN",
    "LaunchRequest",
    "launch_params",
    "resolve_launch_request",
    "validate_identifier",
    "validate_launch_request",
]

#: The longest identifier, also the length of the records' identifier column.
MAX_IDENTIFIER_LENGTH = 100


_PARAM_NAMES = (
    "identifier",
    "size",
    "lifetime",
    "ssh_public_key",
    "emr_release",
    "owner",
    "owner_email",
)


@dataclass(frozen=True)
class LaunchRequest:
    """A checked request to launch a cluster, ready for the create operator."""

    #: The cluster's identifier, part of its EMR name.
    identifier: str
    #: Number of nodes: 1 is a master only, more adds ``size`` core nodes.
    size: int
    #: Hours until the cluster is terminated.
    lifetime: int
    #: One OpenSSH public key, stripped.
    ssh_public_key: str
    #: EMR release label without the ``emr-`` prefix, e.g. ``6.15.0``.
    emr_release: str
    #: The user the cluster belongs to.
    owner: str
    #: Where mail about the cluster goes; empty when unknown.
    owner_email: str

    def as_dict(self) -> dict[str, Any]:
        """Return the request as a plain dict, e.g. for XCom."""
        return dataclasses.asdict(self)


def launch_params(settings: AtmoSettings) -> dict[str, Param]:
    """Return the ``params`` of the launch DAG, with JSON schemas and help for the trigger form.

    The identifier's default is empty, meaning "pick a random name such as
    ``admiring-curie-4711``": a random default computed at parse time would change the
    serialized DAG, and so its version, at every parse.

    :param settings: the provider's settings, for the allowed sizes, lifetimes and releases.
    """
    from airflow.sdk import Param

    releases = list(settings.emr_releases)
    return {
        "identifier": Param(
            "",
            title="Identifier",
            description="Name of the cluster: lowercase letters, digits and dashes, at most "
            "100 characters. Leave empty for a random name such as admiring-curie-4711.",
            type="string",
            pattern=f"^$|{IDENTIFIER_PATTERN}",
        ),
        "size": Param(
            1,
            title="Size",
            description=f"Number of nodes, 1 to {settings.max_cluster_size}. One node runs "
            "Spark on the master alone.",
            type="integer",
            minimum=1,
            maximum=settings.max_cluster_size,
        ),
        "lifetime": Param(
            settings.default_cluster_lifetime,
            title="Lifetime (hours)",
            description=f"Hours until the cluster is terminated, {settings.min_cluster_lifetime} "
            f"to {settings.max_cluster_lifetime}.",
            type="integer",
            minimum=settings.min_cluster_lifetime,
            maximum=settings.max_cluster_lifetime,
        ),
        "ssh_public_key": Param(
            title="SSH public key",
            description="The content of your public key file, e.g. ~/.ssh/id_ed25519.pub: one "
            "line starting with ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521.",
            type="string",
            minLength=1,
            maxLength=MAX_KEY_LENGTH,
        ),
        "emr_release": Param(
            settings.default_emr_release,
            title="EMR release",
            description="The EMR release to launch; the first is the recommended one.",
            type="string",
            enum=releases,
        ),
        "owner": Param(
            "",
            title="Owner",
            description="Leave empty: the cluster belongs to you. Only the administrators "
            "may launch a cluster for someone else.",
            type="string",
            pattern=f"^$|{OWNER_PATTERN}",
        ),
        "owner_email": Param(
            "",
            title="Owner's email",
            description="Where mail about the cluster goes. Leave empty to use the owner's "
            "name when it is an email address.",
            type="string",
            pattern=f"^$|{EMAIL_PATTERN}",
        ),
    }


def validate_identifier(value: object, field: str = "identifier") -> str:
    """Check an identifier against :data:`IDENTIFIER_PATTERN` and return it.

    :param value: the identifier given.
    :param field: the field name to report in the error.
    """
    if not isinstance(value, str) or not IDENTIFIER_RE.fullmatch(value):
        raise AtmoValidationError(
            field,
            "must be 1 to 100 lowercase letters, digits or dashes (e.g. 'my-analysis-2'), "
            f"got {value!r}",
        )
    return value


def _validate_whole_number(field: str, value: object, low: int, high: int, unit: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AtmoValidationError(
            field, f"must be a whole number between {low} and {high}{unit}, got {value!r}"
        )
    if not low <= value <= high:
        raise AtmoValidationError(field, f"must be between {low} and {high}{unit}, got {value}")
    return value


def _optional_string(params: dict[str, Any], field: str) -> str:
    value = params.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AtmoValidationError(field, f"must be a string, got {type(value).__name__}")
    return value.strip()


def _requested_identifier(params: dict[str, Any]) -> str:
    """Return the identifier asked for, unstripped: only an empty one means "pick a name"."""
    value = params.get("identifier")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AtmoValidationError("identifier", f"must be a string, got {type(value).__name__}")
    return value


def _resolve_owner(requested: str, triggering_user: str | None, settings: AtmoSettings) -> str:
    if triggering_user and (not requested or requested == triggering_user):
        owner = triggering_user
    elif not triggering_user:
        if not requested:
            raise AtmoValidationError(
                "owner", "nobody is known to have triggered this run; name the owner"
            )
        owner = requested
    elif triggering_user in settings.admin_users:
        owner = requested
    else:
        raise AtmoValidationError(
            "owner",
            f"only administrators may launch a cluster for someone else; leave it empty to "
            f"launch as {triggering_user!r}, got {requested!r}",
        )

    if not OWNER_RE.match(owner):
        raise AtmoValidationError(
            "owner",
            f"must be 1 to 100 letters, digits or the characters . _ @ + -, got {owner!r}",
        )
    return owner


def validate_launch_request(
    params: dict[str, Any], triggering_user: str | None, settings: AtmoSettings
) -> LaunchRequest:
    """Check a launch's params with the rules of :func:`launch_params` and resolve the owner.

    The owner is the user who triggered the run; an administrator (``[atmo] admin_users``) may
    name someone else. The UI and the REST API record the logged-in Airflow user as the run's
    triggering user; ``airflow dags trigger`` records the operating system's user name.

    An empty identifier is replaced by a random name. An empty owner email becomes the owner's
    name when that is an email address, and stays empty otherwise.

    :param params: the run's params (``context["params"]``) or the same keys from the CLI.
    :param triggering_user: ``dag_run.triggering_user_name``; None when nobody triggered it.
    :param settings: the provider's settings.
    :raises AtmoValidationError: naming the first field that is wrong and what is allowed.
    """
    unknown = sorted(set(params) - set(_PARAM_NAMES))
    if unknown:
        raise AtmoValidationError(
            unknown[0], f"is not a launch parameter; known ones: {', '.join(_PARAM_NAMES)}"
        )

    identifier = _requested_identifier(params) or random_scientist()
    validate_identifier(identifier)

    size = _validate_whole_number("size", params.get("size", 1), 1, settings.max_cluster_size, "")
    lifetime = _validate_whole_number(
        "lifetime",
        params.get("lifetime", settings.default_cluster_lifetime),
        settings.min_cluster_lifetime,
        settings.max_cluster_lifetime,
        " hours",
    )

    ssh_public_key = validate_ssh_public_key(params.get("ssh_public_key"))

    emr_release = _optional_string(params, "emr_release") or settings.default_emr_release
    if emr_release not in settings.emr_releases:
        raise AtmoValidationError(
            "emr_release",
            f"must be one of {', '.join(settings.emr_releases)}, got {emr_release!r}",
        )

    owner = _resolve_owner(_optional_string(params, "owner"), triggering_user, settings)

    owner_email = _optional_string(params, "owner_email")
    if not owner_email and EMAIL_RE.match(owner):
        owner_email = owner
    if owner_email and not EMAIL_RE.match(owner_email):
        raise AtmoValidationError(
            "owner_email", f"must be an email address such as ada@example.com, got {owner_email!r}"
        )

    return LaunchRequest(
        identifier=identifier,
        size=size,
        lifetime=lifetime,
        ssh_public_key=ssh_public_key,
        emr_release=emr_release,
        owner=owner,
        owner_email=owner_email,
    )


def resolve_launch_request(
    params: dict[str, Any], triggering_user: str | None, settings: AtmoSettings, session: Session
) -> LaunchRequest:
    """Check a launch like :func:`validate_launch_request`, against the records as well.

    An empty identifier becomes a random name that no cluster record has yet (``foo-2``,
    ``foo-3``... when taken), as in ATMO; an identifier the user gave is kept even when
    another cluster has it. The per-user limits of :mod:`atmo_provider.limits` apply.

    :param params: the run's params.
    :param triggering_user: ``dag_run.triggering_user_name``; None when nobody triggered it.
    :param settings: the provider's settings.
    :param session: a records session.
    :raises AtmoValidationError: naming the field or the limit that is exceeded.
    """
    from atmo_provider.limits import check_launch_limits
    from atmo_provider.records.identifiers import next_field_value
    from atmo_provider.records.models import Cluster

    request = validate_launch_request(params, triggering_user, settings)
    if not _requested_identifier(params):
        identifier = next_field_value(
            Cluster,
            "identifier",
            request.identifier,
            max_length=MAX_IDENTIFIER_LENGTH,
            session=session,
        )
        request = dataclasses.replace(request, identifier=identifier)

    check_launch_limits(session, request.owner, request.size, settings)
    return request
