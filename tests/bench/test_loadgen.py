"""The bench's load generator (``bench/loadgen``, Go): its own tests and ``go vet``, run
here so ``make test`` covers what ``make bench`` measures with (payloads, percentiles,
which requests a window counts)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bench.run import ROOT, go_env


@pytest.mark.parametrize("command", [["go", "vet", "./..."], ["go", "test", "-count=1", "./..."]])
def test_loadgen(command: list[str]) -> None:
    if shutil.which("go") is None:
        pytest.fail("the load generator needs Go on PATH: install it (https://go.dev/dl/)")
    done = subprocess.run(
        command,
        cwd=ROOT / "bench/loadgen",
        env=go_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
