"""How `make test` spreads the suite over pytest-xdist workers.

Most of the suite's time is a few dozen tests that wait on something (a notebook kernel, `airflow dags test`, a
server starting, an image build, Terraform's waiters, a store timeout): run one after another on two cores they
leave the cores idle much of the time. The workers run them side by side, longest first:

* units of work: a test; or every test of a module whose fixtures are module-scoped (its server, image or moto set
  up once, in one worker); or the tests of one ``xdist_group`` mark, or of one name in SHARED_OUTSIDE (tests that
  share something outside their process), one after another in one worker;
* the order: units by their expected seconds (``tests/durations.json``: measured on a run without workers,
  nodeid -> seconds; a test it does not list counts as DEFAULT_S), longest first, so no long test starts last;
* a worker needs the test after the one it runs before it starts it (pytest tears fixtures down knowing what
  comes next), so it always holds one more unit than it runs: behind a long test that is the shortest unit left,
  behind a short one the longest.

The workers tell the controller the units through a file in the run's temporary folder (``UNITS``): xdist's own
``--dist loadgroup`` passes them as nodeid suffixes, which pytest 9.2 no longer lets a plugin set (the groups are
silently dropped). ``make test`` asks for ``--dist loadgroup``, which this module's scheduler then stands in for.

Refresh durations.json after a change of the slow tests: ``make test-durations`` (a run without workers, whose
per-test seconds ``Recorder`` writes where $SENTIMENT_TESTS_DURATIONS names).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import pytest

DURATIONS = Path(__file__).resolve().parents[1] / "durations.json"
DEFAULT_S = 1.0
LONG_S = 10.0  # a test this long gets the shortest unit queued behind it, not the longest
UNITS = "xdist-units.json"  # in the run's temporary folder: nodeid -> unit, as the workers collected them

# Tests that share something outside their process, by name: they run in one worker, one after another.
SHARED_OUTSIDE = {
    # both write what the notebooks' defaults read into the checkout (data/sample.csv, artifacts/scratch/) and
    # remove it afterwards; the Run All test also compares the checkout's `git status` before and after
    "tests/test_notebooks.py::test_run_all_works_in_place_on_the_defaults_and_writes_only_ignored_places": "checkout",
    "tests/test_notebooks.py::test_make_lab_opens_the_notebooks_with_the_project_environment_as_kernel": "checkout",
}


def _durations() -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads(DURATIONS.read_text()).items()}
    except (OSError, ValueError):
        return {}


_EXPECTED = _durations()


def plain_nodeid(nodeid: str) -> str:
    """The nodeid without the ``@group`` suffix older pytest-xdist/pytest pairs give it."""
    return nodeid.rsplit("@", 1)[0] if "@" in nodeid.rsplit("]", 1)[-1] else nodeid


def expected_s(nodeid: str) -> float:
    """Seconds the test is expected to take (set-up, call and teardown)."""
    return _EXPECTED.get(plain_nodeid(nodeid), DEFAULT_S)


def _module_scoped(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    return bool(info) and any(
        definition.scope in ("module", "class", "package")
        for definitions in info.name2fixturedefs.values()
        for definition in definitions
    )


def unit_of(item: pytest.Item) -> str:
    """The unit of work the test belongs to (the module's docstring): a group's name, or the test's own nodeid."""
    marker = item.get_closest_marker("xdist_group")
    if marker:
        return "group:" + str(marker.args[0] if marker.args else marker.kwargs.get("name", "default"))
    if plain_nodeid(item.nodeid) in SHARED_OUTSIDE:
        return "group:" + SHARED_OUTSIDE[plain_nodeid(item.nodeid)]
    if _module_scoped(item):
        return "module:" + item.nodeid.split("::", 1)[0]
    return "test:" + plain_nodeid(item.nodeid)


def longest_first(items: Iterable[pytest.Item], units: dict[str, str]) -> list[pytest.Item]:
    """The items unit by unit, units in the order of their expected seconds (longest first), each unit's own order
    kept; ``units``: nodeid -> unit."""
    grouped: dict[str, list[pytest.Item]] = {}
    for item in items:
        grouped.setdefault(units[plain_nodeid(item.nodeid)], []).append(item)
    weighed = [(sum(expected_s(i.nodeid) for i in members), n, members) for n, members in enumerate(grouped.values())]
    weighed.sort(key=lambda unit: (-unit[0], unit[1]))
    return [item for _, _, members in weighed for item in members]


class LongestFirst:
    """Registered by tests/conftest.py when pytest-xdist is there: orders the items in each worker and writes their
    units for the controller; makes the controller's scheduler."""

    @pytest.hookimpl(trylast=True)  # after every other reordering: this order is the one the controller uses
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if not hasattr(config, "workerinput"):
            return  # a run without workers keeps pytest's order
        units = {plain_nodeid(item.nodeid): unit_of(item) for item in items}
        items[:] = longest_first(items, units)
        run_tmp = Path(config.option.basetemp).parent  # xdist gives each worker <the controller's basetemp>/<id>
        scratch = run_tmp / f"{UNITS}.{os.getpid()}"
        scratch.write_text(json.dumps(units))
        os.replace(scratch, run_tmp / UNITS)  # every worker writes the same: the last one stays

    @pytest.hookimpl(tryfirst=True, optionalhook=True)
    def pytest_xdist_make_scheduler(self, config, log):
        if config.getvalue("dist") != "loadgroup":
            return None
        config.option.loadscopereorder = False  # the workers' order (above) is the one to keep
        return make_scheduler(config, log)


def make_scheduler(config, log):
    """xdist's scope scheduling with the units and the hand-out rule of the module's docstring."""
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        _units: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._units is None:  # read once every worker has collected (the first call is in schedule())
                path = config._tmp_path_factory.getbasetemp() / UNITS  # where xdist puts the workers' basetemps
                self._units = json.loads(path.read_text())
            return self._units.get(plain_nodeid(nodeid), nodeid)

        def _reschedule(self, node) -> None:
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            assigned = self.assigned_work[node]
            pending = [nodeid for unit in assigned.values() for nodeid, done in unit.items() if not done]
            while len(pending) < 2 and self.workqueue:  # the test it runs, and the next one
                behind_long = len(pending) == 1 and expected_s(pending[0]) >= LONG_S
                scope, unit = self.workqueue.popitem(last=behind_long)
                assigned[scope] = unit
                collection = self.registered_collections[node]
                node.send_runtest_some([collection.index(nodeid) for nodeid, done in unit.items() if not done])
                pending += [nodeid for nodeid, done in unit.items() if not done]

    return Scheduling(config, log)


RECORD_ENV = "SENTIMENT_TESTS_DURATIONS"
RECORD_MIN_S = 0.5  # shorter tests count as DEFAULT_S: listing them would only make the file long


class Recorder:
    """Adds up each test's set-up, call and teardown seconds and writes them as durations.json's content to
    $SENTIMENT_TESTS_DURATIONS when the session ends (registered by tests/conftest.py when that is set)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.seconds: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        nodeid = plain_nodeid(report.nodeid)
        self.seconds[nodeid] = self.seconds.get(nodeid, 0.0) + report.duration

    def pytest_sessionfinish(self) -> None:
        kept = {nodeid: round(s, 1) for nodeid, s in sorted(self.seconds.items()) if s >= RECORD_MIN_S}
        self.out.write_text(json.dumps(kept, indent=1) + "\n")


CPU_ENV = "SENTIMENT_TESTS_CPU"  # a folder: each worker appends "nodeid<TAB>cpu seconds" to its own file there


class CpuRecorder:
    """Each test's CPU seconds (set-up, call and teardown; the worker's own and its waited-for child processes'),
    where the suite's time goes on two cores. A session fixture's cost falls on the first test that asks for it."""

    def __init__(self, folder: Path, worker: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.out = folder / f"{worker}.tsv"

    @staticmethod
    def _cpu() -> float:
        import resource

        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        before = self._cpu()
        yield
        with self.out.open("a") as out:
            out.write(f"{plain_nodeid(item.nodeid)}\t{self._cpu() - before:.1f}\n")
