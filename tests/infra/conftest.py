"""Fixtures of the infrastructure tests.

`terraform apply` of the whole stack against moto takes about 100 s, nearly all of it the provider's waiters
polling. When the session has selected the test that needs it, the apply starts in the background as soon as
collection ends, so the rest of the suite runs meanwhile; the test then waits for it and does everything else
(checks, re-plan, plans of the switches, destroy) itself.
"""

from __future__ import annotations

import pytest

from support.terraform import MotoStack

NEEDS_STACK = "test_apply_replan_destroy_against_moto"
_STACK = pytest.StashKey[MotoStack]()


def pytest_collection_finish(session: pytest.Session) -> None:
    if not session.config.option.collectonly and any(item.originalname == NEEDS_STACK for item in session.items):
        session.config.stash[_STACK] = MotoStack()


def pytest_sessionfinish(session: pytest.Session) -> None:
    stack = session.config.stash.get(_STACK, None)
    if stack is not None:
        stack.close()


@pytest.fixture
def moto_stack(request: pytest.FixtureRequest) -> MotoStack:
    return request.config.stash[_STACK]
