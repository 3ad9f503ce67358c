"""`make airflow`: every server of the standalone Airflow it starts listens on loopback, on ports it is given.

Airflow 3.3's log servers (the scheduler's for task logs, 8793; the triggerer's, 8794) listened on every
interface, IPv4 and IPv6, whatever the API server's host, and took no port from `make`."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from support.airflow_harness import clean_environ
from support.project import ROOT, free_port

# The environment running the tests is the one `make` would install: do not let it reinstall it.
MAKE = ["make", "--no-print-directory", "-o", ".venv/bin/.installed"]


def _recipe(*variables: str) -> str:
    """The command `make airflow` runs, as `make -n` prints it."""
    return subprocess.run(
        [*MAKE, "-n", "airflow", "DATA=/tmp/tweets.csv", *variables],
        cwd=ROOT,
        env=clean_environ(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_make_airflow_puts_every_server_on_loopback_by_default_and_takes_their_ports():
    recipe = _recipe()
    for setting in (
        "SENTIMENT_AIRFLOW_HOST=127.0.0.1",  # the log servers' host (Airflow has no setting for it)
        "AIRFLOW__API__HOST=127.0.0.1",
        "AIRFLOW__API__PORT=8080",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=8793",
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=8794",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:8080/execution/",
        "-m sentiment_pipeline.deploy.airflow_standalone standalone",
    ):
        assert setting in recipe, (setting, recipe)
    moved = _recipe("AIRFLOW_PORT=18080", "AIRFLOW_WORKER_LOG_PORT=18793", "AIRFLOW_TRIGGERER_LOG_PORT=18794")
    assert "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=18793" in moved
    assert "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=18794" in moved
    # the tasks reach the API server where it moved (they called localhost:8080 whatever AIRFLOW_PORT said)
    assert "AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:18080/execution/" in moved
    assert "SENTIMENT_AIRFLOW_HOST=0.0.0.0" in _recipe("AIRFLOW_HOST=0.0.0.0")  # asked for: the network


@pytest.mark.parametrize(
    ("host", "hostname"),
    [(None, "127.0.0.1"), ("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"), ("10.1.2.3", "10.1.2.3")],
)
def test_task_logs_are_fetched_where_the_log_servers_listen(monkeypatch, host, hostname):
    from sentiment_pipeline.deploy import airflow_standalone

    if host is None:
        monkeypatch.delenv(airflow_standalone.HOST_ENV, raising=False)
    else:
        monkeypatch.setenv(airflow_standalone.HOST_ENV, host)
    assert airflow_standalone.log_server_hostname() == hostname


def _listening(processes) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket those processes (psutil.Process) listen on."""
    import psutil

    found = set()
    for process in processes:
        try:
            connections = process.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found |= {(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN}
    return found


def _tree(root) -> dict[int, object]:
    """The process and its descendants now, as psutil.Process objects (which refuse to signal a reused pid)."""
    import psutil

    try:
        return {process.pid: process for process in (root, *root.children(recursive=True))}
    except psutil.NoSuchProcess:
        return {}


@pytest.mark.slow
def test_make_airflow_listens_on_loopback_only_on_the_ports_it_is_given(tmp_path):
    """The real `make airflow` (standalone: scheduler, DAG processor, API server, triggerer) in a throwaway home;
    once it is ready, every socket its process tree listens on is 127.0.0.1 at one of the three given ports."""
    import psutil

    ports = {name: free_port() for name in ("AIRFLOW_PORT", "AIRFLOW_WORKER_LOG_PORT", "AIRFLOW_TRIGGERER_LOG_PORT")}
    log = tmp_path / "airflow.log"
    command = [
        *MAKE,
        "airflow",
        f"AIRFLOW_LOCAL_HOME={tmp_path / 'home'}",
        f"DATA={tmp_path / 'tweets.csv'}",  # not the sample: nothing is written into the checkout
        f"STORE={tmp_path / 'store'}",
        *(f"{name}={port}" for name, port in ports.items()),
    ]
    env = {**clean_environ(), "BENTOML_HOME": str(tmp_path / "bentoml")}
    with open(log, "wb") as out:
        make = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    root = psutil.Process(make.pid)
    seen: dict[int, psutil.Process] = {}
    try:
        deadline = time.monotonic() + 240
        while True:
            assert make.poll() is None, f"make airflow exited {make.returncode}:\n{log.read_text()[-3000:]}"
            seen = {**_tree(root), **seen}
            listening = _listening(seen.values())
            ready = "standalone | Airflow is ready" in log.read_text()
            if ready and len({port for _, port in listening}) >= len(ports):
                break
            assert time.monotonic() < deadline, f"not ready, listening on {listening}:\n{log.read_text()[-3000:]}"
            time.sleep(1)
        listening = _listening({**_tree(root), **seen}.values())
        assert listening == {("127.0.0.1", port) for port in ports.values()}, (ports, listening)
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(timeout=30)
        for process in seen.values():  # anything of it still alive (a component that left the group)
            try:
                process.kill()  # psutil checks it is still that process, not a reused pid
            except psutil.NoSuchProcess:
                pass
