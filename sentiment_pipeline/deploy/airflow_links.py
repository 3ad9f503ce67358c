"""The ``train`` task's extra links in the Airflow UI: the run's reports and the runs index, in both modes.

Airflow 3 keeps an operator's extra links as XComs of its task instance: the worker calls each link's ``get_link``
when the task ends (success or failure) and stores the URL under the link's ``xcom_key``; the API server reads them
back by name and key alone (``XComOperatorLink``), so no plugin has to register the link classes. The URLs are
composed by ``resolve_config`` (``orchestration.report_links``: the S3 console in ECS mode; in local mode the store as
``store_view`` serves it on Airflow's own web server, since the UI shows only http(s) and same-origin links, never
``file://``) and published when the task starts too, so they show while a three-hour training runs.

Like every module of ``deploy``, nothing of Airflow is imported at module level (tests/test_layout.py): the link
classes are made on first use, by the DAG file at parse time.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from .orchestration import RUN_REPORTS_LINK, RUNS_INDEX_LINK

CONFIG_TASK_ID = "resolve_config"  # whose XCom ``report_links`` holds the URLs (multiple_outputs)
CONFIG_KEY = "report_links"

log = logging.getLogger(__name__)


def composed_link(name: str, ti_key: Any) -> str:
    """The URL ``resolve_config`` composed for link ``name`` in this DAG run ("" until it has run)."""
    from airflow.sdk.execution_time.xcom import XCom  # the configured XCom backend (as the Amazon provider's links)

    links = XCom.get_one(key=CONFIG_KEY, dag_id=ti_key.dag_id, task_id=CONFIG_TASK_ID, run_id=ti_key.run_id)
    return str(links.get(name) or "") if isinstance(links, dict) else ""


@functools.cache
def report_links() -> tuple[Any, ...]:
    """One ``BaseOperatorLink`` per link name (xcom keys ``_link_RunReportsLink``, ``_link_RunsIndexLink``)."""
    from airflow.sdk import BaseOperatorLink

    class RunReportsLink(BaseOperatorLink):
        name = RUN_REPORTS_LINK

        def get_link(self, operator: Any, *, ti_key: Any) -> str:
            return composed_link(self.name, ti_key)

    class RunsIndexLink(BaseOperatorLink):
        name = RUNS_INDEX_LINK

        def get_link(self, operator: Any, *, ti_key: Any) -> str:
            return composed_link(self.name, ti_key)

    return RunReportsLink(), RunsIndexLink()


def publish_report_links(context: Any) -> None:
    """``on_execute_callback``: store the links as soon as the task starts (Airflow stores them again at its end)."""
    ti = context["ti"]
    for link in report_links():
        url = link.get_link(ti.task, ti_key=ti)
        if url:
            ti.xcom_push(key=link.xcom_key, value=url)
            log.info("%s: %s", link.name, url)


def link_reports(task: Any) -> Any:
    """Give an operator (the train task, in either mode) the report links; returns it."""
    task.operator_extra_links = (*task.operator_extra_links, *report_links())
    task.on_execute_callback = [*task.on_execute_callback, publish_report_links]
    return task
