"""Helpers for the chart tests: build helm once (the Makefile's cached build), render the
chart, split what it renders into manifests."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "battery-hub"
HELM = ROOT / ".cache" / "tools" / "bin" / "helm"
KUBE_VERSION = "1.31.0"
NAMESPACE = "fleet"
RELEASE = "bh"


@functools.cache
def helm() -> Path:
    """The helm binary, built by `make helm` on first use (minutes), then reused."""
    if not HELM.exists():
        subprocess.run(["make", "-s", "helm"], cwd=ROOT, check=True, timeout=1800)
    return HELM


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm()), *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def template(*values_files: Path, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    args += ["--kube-version", KUBE_VERSION]
    for f in values_files:
        args += ["-f", str(f)]
    return run_helm(*args, *extra)


@functools.cache
def rendered(*values_files: Path) -> tuple[dict[str, Any], ...]:
    result = template(*values_files)
    assert result.returncode == 0, result.stderr
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def workloads(manifests: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] in ("Deployment", "Job", "Pod")]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]
    return spec if workload["kind"] == "Pod" else spec["template"]["spec"]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    if workload["kind"] == "Pod":
        return dict(workload["metadata"]["labels"])
    return dict(workload["spec"]["template"]["metadata"]["labels"])
