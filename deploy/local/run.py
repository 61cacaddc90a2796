"""Run the whole system on this machine: ``python -m deploy.local.run up|down|status``.

Used by ``make up`` / ``make down`` and by the end-to-end tests, which start their own copy
with a private topic prefix, database and ports. Kafka and PostgreSQL are started by
``deploy/local/infra.sh`` first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"

# name -> the ASGI app factory uvicorn serves it from
SERVICES: dict[str, str] = {
    "webhook-gateway": "webhook_gateway.entrypoints.http:create_app",
    "query-api": "query_api.entrypoints.http:create_app",
    "error-decoder": "error_decoder.entrypoints.app:create_app",
    "notifier": "notifier.entrypoints.app:create_app",
    "query-projector": "query_api.entrypoints.projector:create_app",
}

SIMULATOR = "battery-simulator"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass
class LocalSystem:
    """One running copy of battery-hub: its prefix, database, ports and run folder."""

    name: str = "local"
    topic_prefix: str = ""
    database: str = "batteryhub"
    kafka: str = field(default_factory=lambda: f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}")
    pg_host: str = "127.0.0.1"
    pg_port: int = field(default_factory=lambda: _env_int("PG_PORT", 55432))
    pg_password: str = field(default_factory=lambda: os.environ.get("PG_PASSWORD", "batteryhub"))
    ports: dict[str, int] = field(
        default_factory=lambda: {
            "webhook-gateway": _env_int("BATTERYHUB_GATEWAY_PORT", 8000),
            "query-api": _env_int("BATTERYHUB_QUERY_PORT", 8001),
            "error-decoder": _env_int("BATTERYHUB_DECODER_PORT", 8002),
            "notifier": _env_int("BATTERYHUB_NOTIFIER_PORT", 8003),
            "query-projector": _env_int("BATTERYHUB_PROJECTOR_PORT", 8004),
        }
    )
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return ROOT / ".run" / "services" / self.name

    def database_url(self, database: str | None = None, driver: str = "postgresql+asyncpg") -> str:
        return (
            f"{driver}://postgres:{self.pg_password}@{self.pg_host}:{self.pg_port}/"
            f"{database or self.database}"
        )

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BATTERYHUB_")}
        env.update(
            {
                "BATTERYHUB_PROFILE": "local",
                "BATTERYHUB_KAFKA_BOOTSTRAP_SERVERS": self.kafka,
                "BATTERYHUB_TOPIC_PREFIX": self.topic_prefix,
                "BATTERYHUB_DATABASE_URL": self.database_url(),
                "BATTERYHUB_ADMIN_USER": os.environ.get("BATTERYHUB_ADMIN_USER", "admin"),
                "BATTERYHUB_ADMIN_PASSWORD": os.environ.get(
                    "BATTERYHUB_ADMIN_PASSWORD", "admin-dev-password"
                ),
                "BATTERYHUB_CORS_ORIGINS": os.environ.get(
                    "BATTERYHUB_CORS_ORIGINS", "http://localhost:5173,http://127.0.0.1:5173"
                ),
            }
        )
        env.update(self.extra_env)
        return env

    # --- preparation ------------------------------------------------------------------

    def prepare(self) -> None:
        """Database, topics and migrations: each idempotent."""
        asyncio.run(self._create_database_and_topics())
        for package in ("notifier", "query_api"):
            subprocess.run(
                [str(PYTHON), "-m", f"{package}.entrypoints.migrate"],
                env=self.env(),
                check=True,
                cwd=ROOT,
            )

    async def _create_database_and_topics(self) -> None:
        import asyncpg

        from batteryhub_platform.kafka import KafkaConnection
        from batteryhub_platform.topics_admin import ensure_topics

        admin = await asyncpg.connect(self.database_url("postgres", "postgresql"))
        try:
            exists = await admin.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", self.database
            )
            if not exists:
                await admin.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await admin.close()
        await ensure_topics(KafkaConnection(self.kafka), self.topic_prefix)

    # --- processes --------------------------------------------------------------------

    def pid_file(self, service: str) -> Path:
        return self.run_dir / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        return self.run_dir / f"{service}.log"

    def log_tail(self, service: str, lines: int = 25) -> str:
        return _tail(self.log_file(service), lines)

    def start(
        self,
        service: str,
        *,
        instance: str = "",
        port: int | None = None,
        workers: int = 1,
        extra_env: dict[str, str] | None = None,
    ) -> int:
        """Start one process of ``service``. ``instance`` names a further copy of it (for
        more consumer instances in the same group, or benchmarks), on its own ``port``."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        name = f"{service}{instance}"
        command = [
            str(PYTHON),
            "-m",
            "uvicorn",
            "--factory",
            SERVICES[service],
            "--host",
            "127.0.0.1",
            "--port",
            str(port or self.ports[service]),
            "--no-access-log",
            "--no-server-header",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--timeout-graceful-shutdown",
            "10",
            # Longer than any client's idle reuse (devices retry after Retry-After: 5 s, load
            # balancers idle out at 60 s): a server closing an idle connection just as a
            # client reuses it would drop that request unanswered.
            "--timeout-keep-alive",
            "75",
        ]
        if workers > 1:
            command += ["--workers", str(workers)]
        with self.log_file(name).open("ab") as log:
            process = subprocess.Popen(
                command,
                env={**self.env(), **(extra_env or {})},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file(name).write_text(str(process.pid))
        return process.pid

    def pid(self, service: str) -> int | None:
        try:
            pid = int(self.pid_file(service).read_text())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid

    def stop(self, service: str, sig: int = signal.SIGTERM, wait_s: float = 15) -> None:
        pid = self.pid(service)
        if pid is None:
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pid_file(service).unlink(missing_ok=True)

    def kill(self, service: str) -> None:
        """SIGKILL: the crash the reliability tests inject."""
        self.stop(service, signal.SIGKILL, wait_s=5)

    def ready(self, service: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url(service)}/ready", timeout=3) as answer:  # noqa: S310
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, services: list[str] | None = None, timeout_s: float = 90) -> None:
        pending = list(services or SERVICES)
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            pending = [s for s in pending if not self.ready(s)]
            for s in pending:
                if self.pid(s) is None:
                    raise RuntimeError(
                        f"{s} exited; see {self.log_file(s)}:\n{_tail(self.log_file(s))}"
                    )
            if pending:
                time.sleep(0.3)
        if pending:
            details = "\n".join(f"--- {s}:\n{_tail(self.log_file(s))}" for s in pending)
            raise RuntimeError(f"not ready after {timeout_s:g} s: {pending}\n{details}")

    def up(self) -> None:
        self.prepare()
        for service in SERVICES:
            if self.pid(service) is None:
                self.start(service)
        self.wait_ready()

    def start_simulator(self) -> int:
        """Demo batteries posting readings (see deploy/local/simulator.py)."""
        if (pid := self.pid(SIMULATOR)) is not None:
            return pid
        command = [
            str(PYTHON),
            "-m",
            "deploy.local.simulator",
            "--gateway",
            self.url("webhook-gateway"),
            "--query",
            self.url("query-api"),
        ]
        with self.log_file(SIMULATOR).open("ab") as log:
            process = subprocess.Popen(
                command,
                env=self.env(),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file(SIMULATOR).write_text(str(process.pid))
        return process.pid

    def down(self) -> None:
        self.stop(SIMULATOR)
        for service in reversed(list(SERVICES)):
            self.stop(service)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _with_children(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        children = []
    return [pid, *map(int, children)]


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process and its live children (uvicorn workers,
    PostgreSQL backends) have used so far."""
    total = 0
    for p in _with_children(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn workers), in MB."""
    total = 0
    for p in _with_children(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args()
    system = LocalSystem()
    if args.command == "up":
        system.up()
        simulate = os.environ.get("BATTERYHUB_SIMULATOR", "1") != "0"
        if simulate:
            system.start_simulator()
        env = system.env()
        print("battery-hub is up:")
        for service in SERVICES:
            print(f"  {service:16} {system.url(service)}  (log: {system.log_file(service)})")
        if simulate:
            print(
                f"  simulator        10 demo batteries BAT001-BAT010 in hubs 1 and 2 "
                f"(log: {system.log_file(SIMULATOR)}; BATTERYHUB_SIMULATOR=0 to skip)"
            )
        print(f"  gateway API docs  {system.url('webhook-gateway')}/docs")
        print(f"  query API docs    {system.url('query-api')}/docs")
        print(
            f"  superadmin        {env['BATTERYHUB_ADMIN_USER']} / "
            f"{env['BATTERYHUB_ADMIN_PASSWORD']}  (local profile dev default unless set)"
        )
        print(f"  Kafka {system.kafka}, PostgreSQL {system.database_url(driver='postgresql')}")
        print("  stop with: make down")
    elif args.command == "down":
        system.down()
        print("battery-hub services stopped")
    else:
        ok = True
        for service in SERVICES:
            state = (
                "ready"
                if system.ready(service)
                else ("starting" if system.pid(service) else "stopped")
            )
            ok &= state == "ready"
            print(f"{service:16} {state:9} {system.url(service)}")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
