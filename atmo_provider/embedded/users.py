"""Logins of the local stack: secrets made once per install, and the FAB users and roles.

The secrets (JWT secret, Fernet key, API secret key and the users' passwords) are generated the
first time a home folder is used and kept in ``secrets.json`` there, readable by its owner only.
``python -m atmo_provider.embedded.users`` migrates the metadata database and creates the users
and roles with Airflow's own CLI commands, all in one interpreter (each ``airflow`` command
started on its own costs seconds of imports), then migrates the ATMO records database.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LOCAL_USERS",
    "MAINTAINERS_ROLE",
    "LocalUser",
    "load_or_create_secrets",
    "main",
    "setup_commands",
]

log = logging.getLogger(__name__)

SECRETS_FILE = "secrets.json"

#: The FAB role of people who look after every scheduled Spark job.
MAINTAINERS_ROLE = "Spark job maintainers"

#: Roles that see the ATMO tab; it needs ``can_read`` on ``Plugins``. Admin already has it.
TAB_ROLES = ("User", MAINTAINERS_ROLE)


@dataclass(frozen=True)
class LocalUser:
    """A login of the local stack."""

    #: Username and the key of its password in ``secrets.json``.
    username: str
    #: The FAB role given at creation.
    role: str
    #: Further roles added after creation.
    extra_roles: tuple[str, ...] = ()

    @property
    def password_key(self) -> str:
        """Key of this user's password in the secrets file."""
        return f"{self.username}_password"


#: The logins every local install has.
LOCAL_USERS: tuple[LocalUser, ...] = (
    LocalUser("admin", "Admin"),
    LocalUser("analyst", "User"),
    LocalUser("maintainer", "User", (MAINTAINERS_ROLE,)),
)


def _new_secrets() -> dict[str, str]:
    from cryptography.fernet import Fernet

    values = {
        "jwt_secret": secrets.token_urlsafe(48),
        "api_secret_key": secrets.token_urlsafe(48),
        "fernet_key": Fernet.generate_key().decode("ascii"),
    }
    for user in LOCAL_USERS:
        values[user.password_key] = secrets.token_urlsafe(12)
    return values


def load_or_create_secrets(home: Path) -> dict[str, str]:
    """
    Return the secrets of the install in ``home``, creating them on first use.

    The file is created with mode 0600 and never rewritten, so every process of the install and
    every later run share the same keys and passwords.

    :param home: the stack's home folder (``AIRFLOW_HOME``).
    """
    path = Path(home) / SECRETS_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                json.dump(_new_secrets(), handle, indent=2)
            log.info("Created the secrets of the local stack in %s", path)

    if path.stat().st_mode & 0o077:
        raise PermissionError(f"{path} must be readable by its owner only (chmod 600 {path})")
    return json.loads(path.read_text())


def setup_commands(passwords: dict[str, str]) -> list[list[str]]:
    """
    Return the ``airflow`` CLI commands that prepare a fresh or existing install.

    Every command is safe to run again: ``users create`` skips existing users, ``roles create``
    and ``roles add-perms`` skip what exists. ``users add-role`` of a present role exits with a
    message, which :func:`main` accepts.

    :param passwords: password of each user, keyed like :attr:`LocalUser.password_key`.
    """
    commands = [["db", "migrate"]]
    for user in LOCAL_USERS:
        commands.append(
            [
                "users",
                "create",
                "--username",
                user.username,
                # One argument: a generated password may begin with "-".
                f"--password={passwords[user.password_key]}",
                "--role",
                user.role,
                "--firstname",
                user.username.capitalize(),
                "--lastname",
                "Local",
                "--email",
                f"{user.username}@example.com",
            ]
        )
    commands.append(["roles", "create", MAINTAINERS_ROLE])
    commands.append(["roles", "add-perms", *TAB_ROLES, "-r", "Plugins", "-a", "can_read"])
    for user in LOCAL_USERS:
        for role in user.extra_roles:
            commands.append(["users", "add-role", "--username", user.username, "--role", role])
    return commands


def _already_done(argv: Sequence[str], error: SystemExit) -> bool:
    return list(argv[:2]) == ["users", "add-role"] and "already a member" in str(error.code)


def run_airflow_commands(commands: Sequence[Sequence[str]]) -> None:
    """
    Run ``airflow`` CLI commands one after the other in this interpreter.

    :param commands: argument lists, without the leading ``airflow``.
    """
    from airflow.cli import cli_parser

    parser = cli_parser.get_parser()
    for argv in commands:
        shown = " ".join(argv[:2])
        args = parser.parse_args(list(argv))
        try:
            args.func(args)
        except SystemExit as error:
            if error.code in (None, 0) or _already_done(argv, error):
                continue
            raise SystemExit(f"airflow {shown} failed: {error.code}") from error
        log.info("Ran airflow %s", shown)


def main() -> None:
    """Prepare the install in ``$AIRFLOW_HOME``: databases, users, roles and permissions."""
    from atmo_provider.records.migrate import migrate
    from atmo_provider.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    home = Path(os.environ["AIRFLOW_HOME"])
    passwords = load_or_create_secrets(home)
    run_airflow_commands(setup_commands(passwords))

    conn_id = get_settings().records_conn_id
    migrate(conn_id)
    log.info("Migrated the ATMO records database of connection %s", conn_id)


if __name__ == "__main__":
    sys.exit(main())
