"""schemathesis against the OpenAPI of the gateway and of the query API, once per role that
may call it (superadmin, admin, data_admin and user on the query API; superadmin and a
battery on the gateway): every operation, coverage, fuzzing and stateful phases, a bounded
number of examples and a fixed seed (so a failure reproduces). No answer may be a 5xx;
every answer must use a documented status code and match its documented schema.

The whole schemathesis output is kept in the test system's run folder
(``.run/services/<system>/schemathesis-<service>-<role>/``); the service logs sit beside it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.hub import Hub, new_hub_id

pytestmark = pytest.mark.e2e

RUNS = [
    ("webhook-gateway", "superadmin"),
    ("webhook-gateway", "battery"),
    ("query-api", "superadmin"),
    ("query-api", "admin"),
    ("query-api", "data_admin"),
    ("query-api", "user"),
]
MAX_EXAMPLES = 30
"""Per operation, as superadmin (who reaches every branch); other roles get fewer."""
OTHER_ROLE_EXAMPLES = 8
SEED = 20261127
SERVER_ERRORS = frozenset({"ST101", "ST102"})
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@dataclass(frozen=True)
class FuzzRun:
    service: str
    report: dict[str, Any]
    output: Path

    def failures(
        self, codes: frozenset[str] | None = None, *, but: frozenset[str] = frozenset()
    ) -> list[str]:
        return [
            f"{f['code']} {f['title']}: {', '.join(f['operations'])}"
            for f in self.report["failures"]
            if (codes is None or f["code"] in codes) and f["code"] not in but
        ]

    def explain(self) -> str:
        return f"full output: {self.output}"


async def _token(hub: Hub, role: str) -> str:
    if role == "superadmin":
        return await hub.admin_token()
    if role == "battery":
        return (await hub.new_battery(hub_id=new_hub_id()))[1]
    return await hub.create_user(role, new_hub_id())


@pytest.fixture(scope="module", params=RUNS, ids=[f"{s}-as-{r}" for s, r in RUNS])
async def fuzzed(request: pytest.FixtureRequest, hub: Hub) -> FuzzRun:
    service, role = request.param
    folder = hub.system.run_dir / f"schemathesis-{service}-{role}"
    folder.mkdir(parents=True, exist_ok=True)
    report, output = folder / "report.json", folder / "output.txt"
    with output.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS),
            "run",
            f"{hub.system.url(service)}/openapi.json",
            "--header",
            f"Authorization: Bearer {await _token(hub, role)}",
            "--checks",
            "not_a_server_error,status_code_conformance,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(MAX_EXAMPLES if role == "superadmin" else OTHER_ROLE_EXAMPLES),
            "--seed",
            str(SEED),
            "--request-timeout",
            "15",
            "--output-truncate",
            "false",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            cwd=folder,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
        await asyncio.wait_for(process.wait(), timeout=240)
    assert report.exists(), output.read_text()[-3000:]
    return FuzzRun(f"{service} as {role}", json.loads(report.read_text()), output)


def test_schemathesis_tested_every_operation_to_the_end(fuzzed: FuzzRun) -> None:
    operations = fuzzed.report["operations"]
    assert fuzzed.report["complete"], fuzzed.explain()
    assert operations["tested"] == operations["total"] > 0, fuzzed.explain()
    assert fuzzed.report["errors"] == [], fuzzed.explain()
    assert fuzzed.report["phases"]["stateful"]["status"] != "skip", fuzzed.explain()


def test_no_operation_answers_with_a_server_error(fuzzed: FuzzRun) -> None:
    assert fuzzed.failures(SERVER_ERRORS) == [], fuzzed.explain()


def test_every_answer_has_a_documented_status_and_matches_its_schema(fuzzed: FuzzRun) -> None:
    assert fuzzed.failures(but=SERVER_ERRORS) == [], fuzzed.explain()
