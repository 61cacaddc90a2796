"""Where the real Kafka and PostgreSQL for the tests are.

- A Docker engine present and no server address configured: testcontainers starts both.
- Otherwise (these machines have no Docker engine): the servers that `make test` starts with
  `deploy/local/infra.sh`, or those named by BATTERYHUB_TEST_KAFKA / BATTERYHUB_TEST_PG_*.

A missing server fails the tests with a message saying how to start it; nothing is skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HOW_TO_START = (
    "start them with `make infra` (or `bash deploy/local/infra.sh up`); `make test` does this "
    "for you"
)


@dataclass(frozen=True)
class Servers:
    kafka: str
    pg_host: str
    pg_port: int
    pg_password: str
    stop_kafka: Callable[[], None]
    start_kafka: Callable[[], None]
    kill_kafka: Callable[[], None]
    """SIGKILL the broker (start it again with ``start_kafka``)."""
    crash_pg: Callable[[], None]
    """PostgreSQL's immediate shutdown: no checkpoint, crash recovery on the next start."""
    start_pg: Callable[[], None]


INFRA = Path(__file__).resolve().parents[1] / "deploy" / "local" / "infra.sh"


def _infra(command: str) -> Callable[[], None]:
    def run() -> None:
        done = subprocess.run(["bash", str(INFRA), command], capture_output=True, text=True)
        if done.returncode != 0:  # say why: infra.sh names what did not come up and its log
            said = (done.stdout + done.stderr).strip()[-2000:]
            raise RuntimeError(f"infra.sh {command} exited {done.returncode}: {said}")

    return run


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _docker_engine() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _configured() -> bool:
    return any(k in os.environ for k in ("BATTERYHUB_TEST_KAFKA", "BATTERYHUB_TEST_PG_PORT"))


@contextmanager
def test_servers() -> Iterator[Servers]:
    if _docker_engine() and not _configured():
        with _containers() as servers:
            yield servers
        return
    kafka = os.environ.get(
        "BATTERYHUB_TEST_KAFKA", f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
    )
    pg_host = os.environ.get("BATTERYHUB_TEST_PG_HOST", "127.0.0.1")
    pg_port = int(os.environ.get("BATTERYHUB_TEST_PG_PORT", os.environ.get("PG_PORT", "55432")))
    kafka_host, kafka_port = kafka.rsplit(":", 1)
    missing = [
        name
        for name, ok in (
            (f"Kafka at {kafka}", _reachable(kafka_host, int(kafka_port))),
            (f"PostgreSQL at {pg_host}:{pg_port}", _reachable(pg_host, pg_port)),
        )
        if not ok
    ]
    if missing:
        raise RuntimeError(f"{' and '.join(missing)} not reachable: {HOW_TO_START}")
    yield Servers(
        kafka,
        pg_host,
        pg_port,
        os.environ.get("PG_PASSWORD", "batteryhub"),
        stop_kafka=_infra("kafka-down"),
        start_kafka=_infra("kafka-up"),
        kill_kafka=_infra("kafka-kill"),
        crash_pg=_infra("pg-crash"),
        start_pg=_infra("pg-up"),
    )


@contextmanager
def _containers() -> Iterator[Servers]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with (
        KafkaContainer("apache/kafka:4.1.0").with_kraft() as kafka,
        PostgresContainer("postgres:15", password="batteryhub") as pg,
    ):
        # A paused container is a server that stopped answering: the outage tests need no
        # more (a killed container would come back on another port).
        yield Servers(
            kafka.get_bootstrap_server(),
            pg.get_container_host_ip(),
            int(pg.get_exposed_port(5432)),
            "batteryhub",
            stop_kafka=lambda: kafka.get_wrapped_container().pause(),
            start_kafka=lambda: kafka.get_wrapped_container().unpause(),
            kill_kafka=lambda: kafka.get_wrapped_container().pause(),
            crash_pg=lambda: pg.get_wrapped_container().pause(),
            start_pg=lambda: pg.get_wrapped_container().unpause(),
        )
