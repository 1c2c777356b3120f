"""Fixtures of the sync tests: the records databases of the records tests, a mailbox, AWS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from atmo_provider.notify import Message
from atmo_provider.records.db import session_scope
from tests.fixtures.postgres import postgres_server, postgres_url  # noqa: F401
from tests.records.conftest import (  # noqa: F401
    _close_engines,
    make_cluster,
    make_job,
    records_engine,
    settings,
)


class Outbox:
    """A mail sender that keeps the messages; ``fail_next`` makes the next delivery raise."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.fail_next = False

    def __call__(self, message: Message) -> bool:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionRefusedError("the mail server is down")
        self.messages.append(message)
        return True

    @property
    def subjects(self) -> list[str]:
        return [message.subject for message in self.messages]


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def session(records_engine: Engine) -> Iterator[Session]:  # noqa: F811
    """A records session; the functions under test commit it as they go."""
    with session_scope(records_engine) as session:
        yield session
