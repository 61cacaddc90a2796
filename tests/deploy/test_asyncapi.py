"""docs/asyncapi/*.yaml are what the services' AsyncAPI factories generate today."""

from __future__ import annotations

import difflib
import subprocess
from pathlib import Path

from tests.deploy.chart import ROOT

COMMITTED = ROOT / "docs" / "asyncapi"
DOCUMENTS = {"webhook-gateway", "error-decoder", "notifier", "query-api", "query-projector"}


def test_committed_asyncapi_documents_match_the_code(tmp_path: Path) -> None:
    subprocess.run(
        ["make", "-s", "asyncapi", f"ASYNCAPI_OUT={tmp_path}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    generated = {p.stem: p.read_text() for p in tmp_path.glob("*.yaml")}
    committed = {p.stem: p.read_text() for p in COMMITTED.glob("*.yaml")}
    assert set(generated) == DOCUMENTS
    stale = sorted(name for name in DOCUMENTS if generated[name] != committed.get(name))
    diff = "\n".join(
        line
        for name in stale
        for line in difflib.unified_diff(
            committed.get(name, "").splitlines(),
            generated[name].splitlines(),
            f"docs/asyncapi/{name}.yaml",
            "generated",
            lineterm="",
        )
    )
    assert not stale, f"docs/asyncapi is stale for {stale}; run `make asyncapi`:\n{diff[:3000]}"


def test_every_topic_is_documented_with_its_event_schema() -> None:
    text = {p.stem: p.read_text() for p in COMMITTED.glob("*.yaml")}
    assert "ReadingReceived" in text["webhook-gateway"]
    assert "BatteryRegistered" in text["webhook-gateway"]
    assert "ReadingDecoded" in text["error-decoder"]
    assert "NotificationRaised" in text["notifier"]
    assert "NotificationRead" in text["query-api"]
    for name in ("error-decoder", "notifier", "query-projector"):
        assert "dead-letters" in text[name]
