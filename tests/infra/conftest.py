"""Fixtures of the infrastructure tests.

Applying the whole stack against moto, re-planning and destroying it takes about 230 s, nearly all of it the
provider's waiters polling. In a session without xdist workers that has selected the test, the scenario starts in a
background thread as soon as collection ends (its moto server, working copy and Terraform runs are its own), the
test moves to the end of the session, and by then it only reports the outcome: the rest of the suite ran meanwhile.
With workers (`make test`) the test runs the scenario itself, first in its worker (support/schedule.py: longest
first), while the other workers run the rest.
"""

from __future__ import annotations

import pytest

from support.terraform import MotoStack

NEEDS_STACK = "test_apply_replan_destroy_against_moto"
_STACK = pytest.StashKey[MotoStack]()


def _stack_items(items: list[pytest.Item]) -> list[pytest.Item]:
    return [item for item in items if getattr(item, "originalname", None) == NEEDS_STACK]


def _xdist_worker(config: pytest.Config) -> bool:
    """In an xdist worker the scenario runs in the test itself: it is among the first tests a worker starts
    (support/schedule.py: longest first), and the other workers run the rest of the suite meanwhile."""
    return hasattr(config, "workerinput")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _xdist_worker(config):
        return
    for item in _stack_items(items):  # last, so that the background scenario has the whole session to finish
        items.remove(item)
        items.append(item)


def pytest_collection_finish(session: pytest.Session) -> None:
    found = _stack_items(session.items)
    if found and not session.config.option.collectonly and not _xdist_worker(session.config):
        session.config.stash[_STACK] = MotoStack(found[0].module.apply_replan_destroy)


def pytest_sessionfinish(session: pytest.Session) -> None:
    stack = session.config.stash.get(_STACK, None)
    if stack is not None:
        stack.close()


@pytest.fixture
def moto_stack(request: pytest.FixtureRequest) -> MotoStack:
    if _STACK not in request.config.stash:  # an xdist worker: start it now
        request.config.stash[_STACK] = MotoStack(request.module.apply_replan_destroy)
    return request.config.stash[_STACK]
