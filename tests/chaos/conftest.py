"""Scale and bookkeeping of the fault tests.

``make test`` runs each at a short scale (4,000 readings); ``make chaos`` sets
``BATTERYHUB_CHAOS_READINGS=100000`` and ``BATTERYHUB_CHAOS_RESULTS=docs/chaos-results.json``
and renders ``docs/chaos.md`` from it. Other runs keep their figures in
``.run/chaos/results.json``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploy.local.run import ROOT

RESULTS = Path(os.environ.get("BATTERYHUB_CHAOS_RESULTS", ROOT / ".run" / "chaos" / "results.json"))


@dataclass(frozen=True)
class Scale:
    readings: int
    """Readings in each test's stream."""
    readings_per_s: float
    """The steady rate the fleet sends at."""
    outage_s: float
    """How long a server stays down in the "down for a while" tests."""
    pg_outage_s: float
    churn_every_s: float

    @property
    def full(self) -> bool:
        return self.readings >= 100_000

    def fleet(self) -> tuple[int, int]:
        """(batteries, readings per battery) for ``readings`` in all."""
        batteries = 200 if self.full else 20
        return batteries, max(1, self.readings // batteries)


@pytest.fixture(scope="session")
def scale() -> Scale:
    readings = int(os.environ.get("BATTERYHUB_CHAOS_READINGS", "4000"))
    if readings >= 100_000:
        return Scale(readings, 2000.0, outage_s=120, pg_outage_s=30, churn_every_s=10)
    return Scale(readings, 200.0, outage_s=8, pg_outage_s=5, churn_every_s=2.5)


@pytest.fixture(scope="session")
def results() -> Iterator[dict[str, Any]]:
    collected: dict[str, Any] = {}
    yield collected
    if not collected:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous.update(collected)
    RESULTS.write_text(json.dumps(previous, indent=2, sort_keys=True, default=str))


@pytest.fixture
def record(
    request: pytest.FixtureRequest, results: dict[str, Any], scale: Scale
) -> Iterator[dict[str, Any]]:
    """A test's figures, kept under its name (whether it passed or not)."""
    figures: dict[str, Any] = {"readings": scale.readings}
    started = time.monotonic()
    yield figures
    figures["wall_s"] = round(time.monotonic() - started, 1)
    figures["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results[request.node.name] = figures
