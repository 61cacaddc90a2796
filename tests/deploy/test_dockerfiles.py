"""The service Dockerfiles. No Docker engine runs here, so each is checked for the image
policy, and its uv steps are replayed outside Docker (PyPI through the uv cache): the files
it copies, the commands it runs; then what the image starts must import from the result."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.chart import ROOT

SERVICES = {
    "webhook-gateway": ["webhook_gateway.entrypoints.http"],
    "error-decoder": ["error_decoder.entrypoints.app"],
    "notifier": ["notifier.entrypoints.app", "notifier.entrypoints.migrate"],
    "query-api": [
        "query_api.entrypoints.http",
        "query_api.entrypoints.projector",
        "query_api.entrypoints.migrate",
    ],
}
UV = ROOT / ".cache" / "tools" / "bin" / "uv"


def _dockerfile(service: str) -> str:
    return (ROOT / "services" / service / "Dockerfile").read_text()


def _instructions(text: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", text)
    return [
        line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_is_multi_stage_pinned_and_non_root(service: str) -> None:
    lines = _instructions(_dockerfile(service))
    froms = [line for line in lines if line.startswith("FROM ")]
    assert len(froms) >= 3, "uv, build and runtime stages"
    (arg,) = [line for line in lines if line.startswith("ARG PYTHON_IMAGE=")]
    assert re.fullmatch(r"ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", arg)
    assert re.fullmatch(r"FROM ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+ AS uv", froms[0])
    assert "latest" not in " ".join(froms)
    runtime = lines[lines.index(froms[-1]) :]
    assert "USER 10001:10001" in runtime
    assert not any("--chown" in line for line in runtime), "the app files stay read-only"
    syncs = [line for line in lines if "uv sync" in line]
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs)
    assert f"--package {service}" in syncs[-1] and "--no-editable" in syncs[-1]


@pytest.mark.parametrize("service", SERVICES)
def test_build_steps_install_the_service_from_the_lock(service: str, tmp_path: Path) -> None:
    """Replay COPY and `uv sync` of the build stage with the local uv, offline from its cache."""
    lines = _instructions(_dockerfile(service))
    build = lines[lines.index(next(x for x in lines if x.endswith(" AS build"))) :]
    build = build[: next(i for i, x in enumerate(build) if x.startswith("FROM ") and i > 0)]
    src, venv = tmp_path / "src", tmp_path / "venv"
    for line in build:
        if line.startswith("COPY ") and "--from=" not in line:
            *sources, target = shlex.split(line)[1:]
            for source in sources:
                if (ROOT / source).is_dir():
                    shutil.copytree(
                        ROOT / source,
                        src / target,
                        ignore=shutil.ignore_patterns("__pycache__", "tests", "Dockerfile"),
                        dirs_exist_ok=True,
                    )
                else:
                    destination = src / target / Path(source).name
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(ROOT / source, destination)
        elif line.startswith("RUN ") and "uv sync" in line:
            command = line[line.index("uv sync") :]
            env = {
                **os.environ,
                "UV_PROJECT_ENVIRONMENT": str(venv),
                "UV_CACHE_DIR": str(ROOT / ".cache" / "uv"),
                "UV_PYTHON_DOWNLOADS": "never",
                "UV_LINK_MODE": "copy",
                "UV_PYTHON": "python3.11",
            }
            env.pop("VIRTUAL_ENV", None)
            result = subprocess.run(
                [str(UV), *shlex.split(command)[1:], "-q"],
                cwd=src,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert result.returncode == 0, result.stderr
    probe = "; ".join(
        [
            "import importlib, pathlib",
            *[f"importlib.import_module({m!r})" for m in SERVICES[service]],
            "import uvicorn, uvloop, httptools",
            "import batteryhub_platform.topics_cli",
        ]
    )
    if service in ("notifier", "query-api"):
        package = service.replace("-", "_")
        migrations = f"pathlib.Path({package}.__file__).parent / 'migrations'"
        probe += (
            f"; import {package}; "
            f"assert ({migrations} / 'versions').is_dir(); "
            f"assert ({migrations} / 'script.py.mako').is_file()"
        )
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    site = next((venv / "lib").glob("python3.11/site-packages"))
    assert not list(site.glob("_editable_impl_*")), "workspace packages must not be editable"
    others = set(SERVICES) - {service}
    installed = {p.name.split("-")[0] for p in site.glob("*.dist-info")}
    assert not {o.replace("-", "_") for o in others} & installed, "only this service"
