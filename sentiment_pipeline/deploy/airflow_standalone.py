"""``make airflow``: ``airflow standalone`` with every server it starts bound to one host, loopback unless told.

Airflow 3.3's standalone mode starts two log servers beside the API server: the scheduler's, serving the
LocalExecutor's task logs (``[logging] worker_log_server_port``, 8793), and the triggerer's
(``[logging] trigger_log_server_port``, 8794). Their ports come from the configuration, but they listen on every
interface (``airflow.utils.serve_logs.core`` passes ``host=""``; no setting names a host), so ``make airflow``
served task logs to the network. Run as ``python -m sentiment_pipeline.deploy.airflow_standalone standalone``,
this starts ``airflow standalone`` with each of its components started through this module, and in those
processes the log server is Airflow's own bound to ``$SENTIMENT_AIRFLOW_HOST`` (default 127.0.0.1). The API
server has its own setting (``[api] host``), which ``mk/airflow.mk`` sets to the same host.

Standard library only at import time (``deploy`` is imported by the Airflow image).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

HOST_ENV = "SENTIMENT_AIRFLOW_HOST"
DEFAULT_HOST = "127.0.0.1"
_EVERY_INTERFACE = ("", "0.0.0.0", "::", "[::]")  # noqa: S104 (recognised, not bound)


def bind_host() -> str:
    """The address every server of the standalone Airflow listens on."""
    return os.environ.get(HOST_ENV) or DEFAULT_HOST


def log_server_hostname() -> str:
    """``[core] hostname_callable`` of ``make airflow``: the host a task instance records, where the API server
    fetches a running task's log from its log server; the bound host (loopback when that is every interface).

    The default, the machine's FQDN, may resolve to an address the loopback-bound log servers do not listen on
    (Debian maps the host name to 127.0.1.1)."""
    host = bind_host()
    return "127.0.0.1" if host in _EVERY_INTERFACE else host


def serve_logs(port: int | None = None) -> None:
    """Airflow's log server (``airflow.utils.serve_logs.serve_logs``) on ``bind_host()`` instead of every interface.

    The scheduler and the triggerer run it in a child process of their own (forked or spawned: this function, not
    a patch of the parent, is what the child runs)."""
    import uvicorn
    from airflow.utils.serve_logs import core

    host = bind_host()

    class OnOneHost:
        """``uvicorn`` as ``core.serve_logs`` calls it, with the host it leaves out."""

        @staticmethod
        def run(app, **options):
            return uvicorn.run(app, **{**options, "host": host})

    core.uvicorn = OnOneHost
    core.serve_logs(port)


def _airflow(argv: Sequence[str]) -> int | None:
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *argv]
    return airflow_main()


def _standalone(argv: Sequence[str]) -> int | None:
    """``airflow standalone``, each of its components (scheduler, DAG processor, API server, triggerer) started
    through this module instead of the ``airflow`` script."""
    from airflow.cli.commands import standalone_command

    class Component(standalone_command.SubCommand):
        def run(self):  # SubCommand.run, with this module in place of the `airflow` script
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, *self.command],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
            for line in self.process.stdout:
                self.parent.output_queue.append((self.name, line))

    standalone_command.SubCommand = Component
    return _airflow(argv)


def main(argv: Sequence[str] | None = None) -> int | None:
    """``standalone``: as above; anything else: that ``airflow`` command, its log server (if any) on one host."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["standalone"]:
        return _standalone(argv)
    import airflow.utils.serve_logs

    airflow.utils.serve_logs.serve_logs = serve_logs  # what the scheduler and the triggerer start, looked up late
    return _airflow(argv)


if __name__ == "__main__":
    from sentiment_pipeline.deploy.airflow_standalone import main as _main  # functions a spawned child can import

    sys.exit(_main())
