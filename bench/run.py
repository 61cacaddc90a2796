"""``make bench``: measure battery-hub on this machine next to anchors measured in the same
run, and write docs/benchmarks.md and docs/benchmarks.json.

Each figure of the issue has its anchor: a hello-world endpoint on the same HTTP stack,
Kafka's own ProducerPerformance, a consume-produce passthrough, asyncpg's COPY, Kafka's
produce-consume latency, and a primary-key lookup. Nothing here is asserted: the report says
what was measured and how it compares with the goals.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import TopicPartition

from batteryhub_contracts.events import MAX_READINGS_PER_RECORD
from batteryhub_contracts.topics import READINGS_DECODED, READINGS_RAW, battery_key
from batteryhub_platform.kafka import KafkaConnection
from batteryhub_platform.settings import ServiceSettings
from batteryhub_platform.topics_admin import ensure_topics
from bench import seed
from bench.anchors.kafka_latency import produce_consume_latency
from bench.anchors.passthrough import passthrough
from bench.hops import ProbeWatch
from bench.kafka_tools import (
    end_offsets,
    group_lag,
    producer_performance,
    readings_per_record,
)
from deploy.local.run import PYTHON, ROOT, SERVICES, LocalSystem, cpu_s, rss_mb
from tests.hub import Hub, free_port

LOADGEN = ROOT / ".cache" / "bin" / "loadgen"
_codec = ServiceSettings.model_fields["produce_compression"].default
PRODUCE_COMPRESSION = None if _codec == "none" else _codec
"""How the services' producers compress by default, and so the passthrough anchor too."""
CONSUMERS = ("error-decoder", "notifier", "query-projector")
MIGRATIONS = {"query-projector": "query_api", "notifier": "notifier"}
"""The package whose migrations make a service's database."""
SCALING_FIGURES = {"query-projector": "projector_scaling", "notifier": "notifier_scaling"}
SCALING_DATABASES = {"query-projector": "iso", "notifier": "notify"}
"""The suffix (before the instance count) of a scaling run's database."""
DOCS = ROOT / "docs"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def go_env() -> dict[str, str]:
    """The environment the load generator is built and tested in: Go's caches in the
    project's ``.cache``."""
    return {
        **os.environ,
        "GOCACHE": str(ROOT / ".cache/go-build"),
        "GOPATH": str(ROOT / ".cache/go"),
        "GOFLAGS": "-mod=mod",
    }


def build_loadgen() -> None:
    subprocess.run(
        ["go", "build", "-o", str(LOADGEN), "."],
        cwd=ROOT / "bench/loadgen",
        env=go_env(),
        check=True,
    )


class DeviceClock:
    """Where the next POST run of the load generator starts its batteries' device times: each
    run goes on back in time from where the one before stopped, so every reading the bench
    sends is new. (The same battery and device time is the same reading: with every run
    starting at the load generator's default, later runs re-sent earlier readings, and the
    projector measured deduplication instead of storing.)"""

    def __init__(self) -> None:
        self.next_start: str | None = None

    def args(self) -> list[str]:
        return ["-start", self.next_start] if self.next_start else []

    def advance(self, result: dict[str, Any]) -> None:
        if oldest := result.get("device_time_oldest"):
            before = datetime.fromisoformat(oldest.replace("Z", "+00:00")) - timedelta(seconds=1)
            self.next_start = before.strftime("%Y-%m-%dT%H:%M:%SZ")


DEVICE_CLOCK = DeviceClock()


def loadgen(
    url: str,
    mode: str,
    tokens: Path | None,
    seconds: float,
    connections: int,
    rate: float = 0,
    batch: int = 100,
    warmup: float = 2,
    honor_retry_after: bool = False,
) -> dict[str, Any]:
    out = ROOT / ".run" / f"loadgen-{uuid.uuid4().hex[:6]}.json"
    command = [
        str(LOADGEN),
        "-url",
        url,
        "-mode",
        mode,
        "-duration",
        f"{seconds}s",
        "-warmup",
        f"{warmup}s",
        "-connections",
        str(connections),
        "-batch",
        str(batch),
        "-rate",
        str(rate),
        "-out",
        str(out),
    ]
    if tokens is not None:
        command += ["-tokens", str(tokens)]
    if honor_retry_after:
        command.append("-honor-retry-after")
    command += DEVICE_CLOCK.args()
    subprocess.run(command, check=True, capture_output=True)
    result: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    DEVICE_CLOCK.advance(result)
    return result


@dataclass
class Bench:
    system: LocalSystem
    quick: bool
    figures: dict[str, Any] = field(default_factory=dict)
    tokens: Path = ROOT / ".run" / "bench-tokens.txt"
    stream_start: dict[TopicPartition, int] = field(default_factory=dict)
    """Where the readings topic ended before the sustained runs (``mark_stream``)."""

    def seconds(self, full: float) -> float:
        return max(5.0, full / 4) if self.quick else full

    @property
    def gateway(self) -> str:
        return self.system.url("webhook-gateway")

    async def register_fleet(self, hub: Hub, batteries: int) -> None:
        lines = []
        for _ in range(batteries):
            battery_id, token = await hub.new_battery(hub_id=1)
            lines.append(f"{battery_id} {token}")
        self.tokens.write_text("\n".join(lines) + "\n")

    @contextlib.asynccontextmanager
    async def gateway_alone(self, hub: Hub) -> AsyncIterator[None]:
        """The gateway and Kafka only, as their anchors run: the consumers are stopped
        meanwhile (else they take the CPUs to process what the gateway just took), then
        started again and caught up before the next figure."""
        for service in CONSUMERS:
            self.system.stop(service)
        try:
            yield
        finally:
            for service in CONSUMERS:
                self.system.start(service)
            await asyncio.to_thread(self.system.wait_ready, list(CONSUMERS))
            await hub.settled(timeout_s=1800)

    # --- 1. single readings vs hello world ---------------------------------------------

    def single_readings(self, workers: int) -> None:
        """The gateway's figure and its hello-world anchor: each the mean of two rounds,
        taken in turn (anchor, gateway, anchor, gateway), as the decoder's are. One round
        each swung the ratio from 0.38 to 0.58 on this host (three rounds in one system:
        0.50, 0.41, 0.58), so a single one judged the noise as much as the gateway."""
        anchors, ours = [], []
        for _ in range(2):
            anchors.append(self._hello("bench.anchors.hello:create_app", workers))
            ours.append(
                loadgen(
                    f"{self.gateway}/webhook/live-data",
                    "single",
                    self.tokens,
                    self.seconds(15),
                    SINGLE_CONNECTIONS,
                )
            )
        plain = self._hello("bench.anchors.hello:create_plain_app", workers)
        ours_rounds = [r["requests_per_s"] for r in ours]
        anchor_rounds = [r["requests_per_s"] for r in anchors]
        ours_mean, anchor_mean = statistics.fmean(ours_rounds), statistics.fmean(anchor_rounds)
        self.figures["single"] = {
            "workers": workers,
            "requests_per_s": ours_mean,
            "rounds_requests_per_s": ours_rounds,
            "anchor_hello_requests_per_s": anchor_mean,
            "anchor_rounds_requests_per_s": anchor_rounds,
            "ratio": ours_mean / anchor_mean,
            "ratio_plain_asgi": ours_mean / plain["requests_per_s"],
            "gateway": ours,
            "anchor_hello": anchors,
            "anchor_plain_asgi": plain,
        }

    def _hello(self, factory: str, workers: int) -> dict[str, Any]:
        """The load generator's single-reading run against a hello-world app."""
        port = free_port()
        hello = subprocess.Popen(
            [
                str(PYTHON),
                "-m",
                "uvicorn",
                "--factory",
                factory,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_http(f"http://127.0.0.1:{port}/webhook/live-data")
            return loadgen(
                f"http://127.0.0.1:{port}/webhook/live-data",
                "single",
                self.tokens,
                self.seconds(15),
                SINGLE_CONNECTIONS,
            )
        finally:
            hello.terminate()
            hello.wait()

    # --- 2. batch endpoint vs ProducerPerformance ----------------------------------------

    async def batch_readings(self, workers: int) -> None:
        ours = loadgen(
            f"{self.gateway}/webhook/live-data/batch",
            "batch",
            self.tokens,
            self.seconds(15),
            BATCH_CONNECTIONS,
            batch=500,
        )
        topic = f"{self.system.topic_prefix}bench-producer-perf"
        await _create_topic(self.system.kafka, topic)
        # The gateway sends a batch upload as records of up to 200 readings of one battery:
        # the anchor produces records of that size, counted in the readings they carry.
        record = RAW_EVENT_BYTES * READINGS_PER_RECORD
        anchor = producer_performance(self.system.kafka, topic, 20_000, record)
        self.figures["batch"] = {
            "workers": workers,
            "gateway": ours,
            "anchor_producer_perf_records_per_s": anchor,
            "anchor_producer_perf_readings_per_s": anchor * READINGS_PER_RECORD,
            "record_size_bytes": record,
            "ratio": ours["readings_per_s"] / (anchor * READINGS_PER_RECORD),
        }

    # --- 3. sustained pipeline ----------------------------------------------------------

    def _uploads(self, seconds: float, readings_per_s: float) -> asyncio.Task[dict[str, Any]]:
        """Batch uploads of SUSTAINED_BATCH readings at ``readings_per_s`` in the background
        (8 connections), as the sustained runs and the latency probes' load send them."""
        return asyncio.create_task(
            asyncio.to_thread(
                loadgen,
                f"{self.gateway}/webhook/live-data/batch",
                "batch",
                self.tokens,
                seconds,
                8,
                readings_per_s / SUSTAINED_BATCH,
                SUSTAINED_BATCH,
                0,
            )
        )

    async def sustained(self, hub: Hub, readings_per_s: float, seconds: float) -> dict[str, Any]:
        """Offer ``readings_per_s`` for ``seconds`` and follow the pipeline's backlog: the
        readings the gateway took that are not yet through every consumer."""
        samples: list[tuple[float, float]] = []
        memory: dict[str, float] = {}
        task = self._uploads(seconds, readings_per_s)
        cpu_before = self._cpu()
        started = time.monotonic()
        while not task.done():
            samples.append((time.monotonic() - started, await backlog_readings(hub)))
            for service in SERVICES:
                pid = self.system.pid(service)
                if pid:
                    memory[service] = max(memory.get(service, 0), rss_mb(pid))
            await asyncio.sleep(1)
        result = await task
        left = await backlog_readings(hub)
        samples.append((time.monotonic() - started, left))
        drained_at = time.monotonic()
        await hub.settled(timeout_s=600)
        drain_s = time.monotonic() - drained_at
        cpu_after = self._cpu()
        # The load generator sends every upload due in the window, however late; how long
        # after the window the last answer came is how far the gateway fell behind. A
        # gateway that fell behind by 1 s or more did not hold the rate: what it took is
        # rated over the time its answers took, not over the window.
        gateway_behind_s = result["answered_after_window_s"]
        gateway_kept_up = gateway_behind_s < HELD_BACKLOG_S
        span_s = seconds if gateway_kept_up else seconds + gateway_behind_s
        achieved = result["readings_ok"] / span_s
        max_lag = max(lag for _, lag in samples)
        max_lag_s = max_lag / achieved if achieved else None
        return {
            "target_readings_per_s": readings_per_s,
            "seconds": seconds,
            "loadgen": result,
            "taken_readings_per_s": achieved,
            "max_lag_readings": max_lag,
            "max_lag_s": max_lag_s,
            # What went through every consumer while the load ran; the gateway's rate above
            # is what it took, which the consumers may not have kept up with.
            "processed_readings_per_s": max(result["readings_ok"] - left, 0) / span_s,
            "gateway_behind_s": gateway_behind_s,
            "lag_bounded": max_lag_s is not None and max_lag_s < HELD_BACKLOG_S and gateway_kept_up,
            "drain_after_load_s": drain_s,
            "rss_mb": memory,
            "lag_samples": samples,
            "cpu_us_per_reading": _cpu_per_reading(cpu_before, cpu_after, result),
        }

    async def max_sustained(
        self, hub: Hub, first: dict[str, Any], seconds: float, tries: int = 4
    ) -> dict[str, Any]:
        """The highest rate the pipeline carried with its backlog under 1 s, searched from the
        run at the offered rate: while no run has held, the next offers 90 % of the least any
        run got through; then each offers the middle between the highest rate held and the
        lowest not held, until those are within 10 % or ``tries`` more runs were made. A rate
        not held is what the gateway took in that run (``_taken``). Each run starts from an empty
        backlog (the previous one is drained)."""
        runs = [first]
        while True:
            held = [_taken(r) for r in runs if r["lag_bounded"]]
            lost = [_taken(r) for r in runs if not r["lag_bounded"]]
            highest_held, lowest_lost = max(held, default=None), min(lost, default=None)
            if len(runs) > tries or lowest_lost is None:
                break
            if highest_held is None:
                rate = 0.9 * min(r["processed_readings_per_s"] for r in runs)
            elif lowest_lost <= 1.1 * highest_held:
                break
            else:
                rate = (highest_held + lowest_lost) / 2
            runs.append(await self.sustained(hub, max(rate, 500), seconds))
        best = next((r for r in runs if r["lag_bounded"] and _taken(r) == highest_held), None)
        return {
            "readings_per_s": highest_held,
            "max_lag_s": best["max_lag_s"] if best else None,
            "lowest_not_held_readings_per_s": lowest_lost,
            "runs": [
                {
                    "offered_readings_per_s": r["target_readings_per_s"],
                    "accepted_readings_per_s": _taken(r),
                    "processed_readings_per_s": r["processed_readings_per_s"],
                    "max_lag_s": r["max_lag_s"],
                    "gateway_behind_s": r["gateway_behind_s"],
                    "lag_bounded": r["lag_bounded"],
                }
                for r in runs
            ],
        }

    def _cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each service, Kafka and PostgreSQL."""
        pids = {s: self.system.pid(s) for s in SERVICES}
        status = subprocess.run(
            ["bash", str(ROOT / "deploy/local/infra.sh"), "status"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        for server in ("kafka", "postgres"):
            found = re.search(rf"^{server}: up .*\(pid (\d+)\)", status, re.MULTILINE)
            pids[server] = int(found.group(1)) if found else None
        return {name: cpu_s(pid) for name, pid in pids.items() if pid is not None}

    # --- 4. consumers on an isolated copy of the stream ----------------------------------

    async def mark_stream(self) -> None:
        """Remember where the readings topic ends now, before the sustained runs: the
        consumers' drains copy what was written after it (the sustained runs' uploads and
        the latency row's), not the topic's first records, which are the single-POST
        figure's one-reading records in a number that follows the gateway's speed."""
        self.stream_start = await end_offsets(
            self.system.kafka, [self.system.topic_prefix + READINGS_RAW]
        )

    async def consumers(self, records: int) -> None:
        iso = self.system.topic_prefix + "iso."
        await ensure_topics(KafkaConnection(self.system.kafka), iso)
        source = self.system.topic_prefix + READINGS_RAW
        end = await end_offsets(self.system.kafka, [source])
        start = {tp: self.stream_start.get(tp, 0) for tp in end}
        records = min(records, sum(end[tp] - start[tp] for tp in end))
        anchor = await passthrough(
            self.system.kafka,
            iso + READINGS_RAW,
            records,
            f"bench-passthrough-{uuid.uuid4().hex[:6]}",
            PRODUCE_COMPRESSION,
            start,
        )
        for service in CONSUMERS:
            self.system.stop(service)
        decoder = await self._drain("error-decoder", iso, READINGS_RAW, 1)
        per_record = await readings_per_record(self.system.kafka, iso + READINGS_RAW)
        database = f"{self.system.database}_iso"
        projector = await self._drain_afresh("query-projector", iso, database, 1)
        copy_rate = await _copy_anchor(
            self.system,
            iso + READINGS_DECODED,
            records,
            self.system.database_url(database, "postgresql"),
        )
        self.figures["projection"] = {
            "records": records,
            "rows_per_s": projector * per_record,
            "anchor_copy_rows_per_s": copy_rate,
            "ratio": projector * per_record / copy_rate,
        }
        # The anchor's millions of rows are not the next figures' load: dropped (with their
        # unwritten pages) and the rest flushed, so the latency row does not run behind the
        # checkpoint of a bulk load into another database (seen at ff706bd: the anchor's
        # COPY ran 76 s, and the projector's next lookups took 1.7 and 2.0 s in its wake).
        await _on_server(self.system, _drop(database), "CHECKPOINT")
        # The scaling runs decode a copy of their own, so that the isolated decoded topic
        # holds one decoding of the records, for the projector's run at scale. The copy is
        # the anchor's second round, and one instance's drain of it the decoder's.
        scale = self.system.topic_prefix + "iso-scale."
        await ensure_topics(KafkaConnection(self.system.kafka), scale)
        anchor_again = await passthrough(
            self.system.kafka,
            scale + READINGS_RAW,
            records,
            f"bench-passthrough-{uuid.uuid4().hex[:6]}",
            PRODUCE_COMPRESSION,
            start,
        )
        scaling = {}
        for instances in SCALING_INSTANCES:
            scaling[instances] = await self._drain("error-decoder", scale, READINGS_RAW, instances)
        self.figures["decoder_scaling"] = {n: per_record * v for n, v in scaling.items()}
        # The decoder's figure and its anchor: each the mean of its two rounds, taken in
        # turn (anchor, decoder, anchor, decoder), so that a host that speeds up or slows
        # down during the run weighs on both alike.
        decoder_rounds = [decoder, scaling[1]]
        anchor_rounds = [anchor, anchor_again]
        decoder_mean = statistics.fmean(decoder_rounds)
        anchor_mean = statistics.fmean(anchor_rounds)
        self.figures["decoder"] = {
            "records": records,
            "msgs_per_s": decoder_mean,
            "readings_per_record": per_record,
            "readings_per_s": decoder_mean * per_record,
            "anchor_passthrough_msgs_per_s": anchor_mean,
            "ratio": decoder_mean / anchor_mean,
            "rounds_msgs_per_s": decoder_rounds,
            "anchor_rounds_msgs_per_s": anchor_rounds,
            "compression": PRODUCE_COMPRESSION or "none",
        }
        # The projector's and the notifier's instances, from the decoded topic the projection
        # figure read (one decoding of the records). The notifier's runs also read the
        # isolated notifications topic (for read events; it holds only what the runs before
        # raised, which the rule ignores).
        for service, known in (("query-projector", {1: projector}), ("notifier", {})):
            rates = await self._scale_afresh(service, iso, known)
            self.figures[SCALING_FIGURES[service]] = {
                n: rate * per_record for n, rate in rates.items()
            }
        for service in CONSUMERS:
            self.system.start(service)
        self.system.wait_ready()

    async def _scale_afresh(
        self, service: str, prefix: str, known: dict[int, float]
    ) -> dict[int, float]:
        """Records/s at each of ``SCALING_INSTANCES`` (those not already ``known``), each
        count into a fresh database of its own, dropped after it and PostgreSQL
        checkpointed, so the next count does not write behind its pages."""
        rates = dict(known)
        for instances in SCALING_INSTANCES:
            if instances not in rates:
                database = _scaling_database(self.system, service, instances)
                rates[instances] = await self._drain_afresh(service, prefix, database, instances)
                await _on_server(self.system, _drop(database), "CHECKPOINT")
        return dict(sorted(rates.items()))

    async def _drain_afresh(
        self, service: str, prefix: str, database: str, instances: int
    ) -> float:
        """``_drain`` of ``prefix``'s decoded topic by a service that writes to PostgreSQL,
        into ``database``, created and migrated by the service's own migrations first (it
        is left for the caller)."""
        await _create_database(self.system, database)
        url = self.system.database_url(database)
        subprocess.run(
            [str(PYTHON), "-m", f"{MIGRATIONS[service]}.entrypoints.migrate"],
            cwd=ROOT,
            check=True,
            env={**self.system.env(), "BATTERYHUB_DATABASE_URL": url},
        )
        return await self._drain(
            service, prefix, READINGS_DECODED, instances, {"BATTERYHUB_DATABASE_URL": url}
        )

    async def _drain(
        self,
        service: str,
        prefix: str,
        topic: str,
        instances: int,
        env: dict[str, str] | None = None,
    ) -> float:
        """Start ``instances`` of ``service`` in a fresh group on ``prefix``; records/s until
        the group has consumed everything that is there now."""
        group = f"bench-{service}-{uuid.uuid4().hex[:6]}"
        group_key = (
            "BATTERYHUB_PROJECTOR_GROUP_ID"
            if service == "query-projector"
            else "BATTERYHUB_GROUP_ID"
        )
        extra = {"BATTERYHUB_TOPIC_PREFIX": prefix, group_key: group, **(env or {})}
        total = sum((await end_offsets(self.system.kafka, [prefix + topic])).values())
        names = [f"-bench{n}" for n in range(instances)]
        for name in names:
            self.system.start(service, instance=name, port=free_port(), extra_env=extra)
        started = time.perf_counter()
        first_progress = None
        while True:
            lag = await group_lag(self.system.kafka, group, [prefix + topic])
            if first_progress is None and lag < total:
                first_progress = time.perf_counter()
            if lag == 0:
                break
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - (first_progress or started)
        for name in names:
            self.system.stop(service + name)
        return total / elapsed

    # --- 5. latency at half the sustained rate --------------------------------------------

    async def latency(self, hub: Hub, background_rate: float, probes: int) -> None:
        """POST one reading and poll the query API until it shows, ``probes`` times, under a
        background load of batch uploads. The gaps between probes are drawn at random
        (exponential, mean PROBE_GAP_S, fixed seed): at a fixed gap the probes can fall into
        step with the uploads and see only the quiet moments between them (at 1,500
        readings/s, 3 uploads a second, a fixed 0.3 s gap gave p50 34.5 ms where 0.2 s gave
        131.4 ms); random arrivals see the load as it is on average.

        A probe's reading is visible from the moment the projector's transaction that
        stored it commits: the query API reads that table, with no cache in between. So the
        probe asks the API every PROBE_POLL_S until it shows the reading, and then dates it
        by its transaction's commit (PostgreSQL's ``track_commit_timestamp``, which
        ``deploy/local/infra.sh`` sets). A query every 2 ms, as before, took ~15 ms each
        under load, so the API, PostgreSQL and this process were always answering one and
        delayed what they measured (commit p50 76-95 ms against 52-54 ms at 50 ms,
        5,000 readings/s, docs/decisions.md); when the poll saw it is reported too."""
        battery_id, token = await hub.new_battery(hub_id=1)
        await hub.settled()
        database = await asyncpg.connect(self.system.database_url(driver="postgresql"))
        watch = ProbeWatch(
            self.system.kafka,
            {
                label: self.system.topic_prefix + topic
                for label, topic in (("raw", READINGS_RAW), ("decoded", READINGS_DECODED))
            },
            battery_key(battery_id),
        )
        try:
            await watch.start()
            gaps = random.Random(PROBE_SEED)
            # long enough for every probe to run under load, slow answers included
            task = self._uploads(probes * (PROBE_GAP_S + 0.3) + 10, background_rate)
            await asyncio.sleep(3)
            headers = await hub.admin_headers()
            latencies, polled, after_answer = [], [], []
            hops: dict[str, list[float]] = {k: [] for k in ("answered", *HOPS)}
            for _ in range(probes):
                started = time.perf_counter()
                sent_at = time.time()
                answer = await hub.send_ok(token, {"id": battery_id, "err": "D", "soc": 1})
                answered_at = time.time()
                hops["answered"].append((time.perf_counter() - started) * 1000)
                while True:
                    found = await hub.query.get(
                        f"/batteries/{battery_id}/errors", params={"limit": 1}, headers=headers
                    )
                    errors = found.json().get("errors", [])
                    if errors and errors[0]["id"] == answer["data_id"]:
                        break
                    await asyncio.sleep(PROBE_POLL_S)
                polled.append((time.perf_counter() - started) * 1000)
                visible_at = float(
                    await database.fetchval(_COMMITTED_AT, battery_id, answer["data_id"])
                )
                if visible_at > sent_at + (polled[-1] + 5) / 1000:
                    raise RuntimeError(f"a reading's commit came after the API showed it: {answer}")
                latencies.append((visible_at - sent_at) * 1000)
                after_answer.append((visible_at - answered_at) * 1000)
                seen = await watch.sent_after(sent_at)
                raw, decoded = seen["raw"], seen["decoded"]
                if raw is not None and decoded is not None:
                    for hop, ms in zip(
                        HOPS, (raw - sent_at, decoded - raw, visible_at - decoded), strict=True
                    ):
                        hops[hop].append(ms * 1000)
                await asyncio.sleep(gaps.expovariate(1 / PROBE_GAP_S))
        finally:
            await watch.stop()
            await database.close()
        await task
        anchor = await produce_consume_latency(
            self.system.kafka, self.system.topic_prefix + "bench-producer-perf", probes
        )
        self.figures["latency"] = {
            "background_readings_per_s": background_rate,
            "probes": probes,
            "probe_gap": f"exponential, mean {PROBE_GAP_S:g} s",
            "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99),
            # the words, "POST 200 -> visible": from the 200 on (the goal is judged
            # on the figure above, from POST sent, which includes the gateway's answer)
            "after_answer_p50_ms": percentile(after_answer, 0.5),
            "after_answer_p99_ms": percentile(after_answer, 0.99),
            "poll_ms": PROBE_POLL_S * 1000,
            "polled_p50_ms": percentile(polled, 0.5),
            "polled_p99_ms": percentile(polled, 0.99),
            "anchor_kafka_p50_ms": percentile(anchor, 0.5),
            "anchor_kafka_p99_ms": percentile(anchor, 0.99),
            # where the time went, hop by hop (bench.hops); "answered" is POST -> 200
            "hops_ms": {
                hop: {
                    "probes": len(values),
                    "p50": percentile(values, 0.5),
                    "p90": percentile(values, 0.9),
                    "p99": percentile(values, 0.99),
                }
                for hop, values in hops.items()
                if values
            },
        }

    # --- 6. gateway workers ----------------------------------------------------------------

    def gateway_workers(self, workers: int) -> None:
        self.system.stop("webhook-gateway")
        self.system.start("webhook-gateway", workers=workers)
        self.system.wait_ready(["webhook-gateway"])

    def gateway_scaling(self) -> None:
        scaling = {}
        for workers in (1, 2, 4):
            self.gateway_workers(workers)
            single = loadgen(
                f"{self.gateway}/webhook/live-data",
                "single",
                self.tokens,
                self.seconds(10),
                SINGLE_CONNECTIONS,
            )
            batch = loadgen(
                f"{self.gateway}/webhook/live-data/batch",
                "batch",
                self.tokens,
                self.seconds(10),
                BATCH_CONNECTIONS,
                batch=500,
            )
            scaling[workers] = {
                "single_per_s": single["requests_per_s"],
                "batch_readings_per_s": batch["readings_per_s"],
            }
        self.figures["gateway_scaling"] = scaling

    def storm(self) -> None:
        """A reconnect storm: STORM_CONNECTIONS batteries each flushing 500 buffered readings
        at once against the one worker `make up` starts, every refused upload sent again after
        its Retry-After, as firmware backing off does. The worker takes what its upload slots
        allow and refuses the rest at once (webhook_gateway.admission); its memory is sampled
        throughout. Beside it, the same worker at BATCH_CONNECTIONS (the scaling table's
        1-worker batch figure)."""
        self.gateway_workers(1)
        pid = self.system.pid("webhook-gateway")
        assert pid is not None
        peak = [rss_mb(pid)]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                peak.append(rss_mb(pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            result = loadgen(
                f"{self.gateway}/webhook/live-data/batch",
                "batch",
                self.tokens,
                self.seconds(15),
                STORM_CONNECTIONS,
                batch=500,
                honor_retry_after=True,
            )
        finally:
            done.set()
            sampler.join()
        self.figures["storm"] = {
            "connections": STORM_CONNECTIONS,
            "workers": 1,
            "readings_per_s": result["readings_per_s"],
            "statuses": result["statuses"],
            "errors": result["errors"],
            "latency_ms": result["latency_ms"],
            "gateway_rss_mb_peak": max(peak),
            "anchor_batch_readings_per_s": self.figures["gateway_scaling"][1][
                "batch_readings_per_s"
            ],
        }

    # --- 7. query latency at 1M and 10M stored readings -------------------------------------

    async def query_latency(self, hub: Hub, sizes: list[int]) -> None:
        """The error history with ``sizes`` readings stored, 1,000 batteries alike, then the
        projector writing the isolated stream's readings into the largest table."""
        dsn = self.system.database_url(driver="postgresql")
        # The pipeline's readings go first: the table holds the seeded sizes exactly, each
        # battery as many readings as the others (the fleet's 200 batteries had thousands
        # more than the rest).
        await hub.settled(timeout_s=1800)
        await seed.clear_readings(dsn)
        await seed.seed_batteries(dsn, 1000)
        token = await hub.admin_token()
        tokens = ROOT / ".run" / "bench-query-token.txt"
        tokens.write_text("".join(f"{b} {token}\n" for b in range(1, 1001)))
        results = {}
        done = 0
        for size in sizes:
            per_battery = size // 1000
            started = time.perf_counter()
            await seed.seed_readings(dsn, 1000, done + 1, per_battery)
            done = per_battery
            stored = await seed.count_readings(dsn)
            query = loadgen(
                f"{self.system.url('query-api')}/batteries/{{id}}/errors?time_period=last_year&limit=50",
                "get",
                tokens,
                self.seconds(15),
                4,
            )
            pk = await seed.primary_key_latencies(dsn, 2000)
            results[size] = {
                "stored_readings": stored,
                "seed_s": time.perf_counter() - started,
                "errors_endpoint": query,
                "anchor_pk_p50_ms": percentile(pk, 0.5),
                "anchor_pk_p99_ms": percentile(pk, 0.99),
            }
        self.figures["query"] = results
        # The records the projection row drained into a fresh database, now into a table
        # holding the largest size (none of their readings is stored any more).
        iso = self.system.topic_prefix + "iso."
        records = sum((await end_offsets(self.system.kafka, [iso + READINGS_DECODED])).values())
        stored = await seed.count_readings(dsn)
        projector = await self._drain("query-projector", iso, READINGS_DECODED, 1)
        per_record = self.figures["decoder"]["readings_per_record"]
        self.figures["projection_at_scale"] = {
            "records": records,
            "stored_readings_before": stored,
            "rows_per_s": projector * per_record,
            "stored_readings_after": await seed.count_readings(dsn),
        }


# Batteries post concurrently; the gateway answers each only after Kafka's ack, so a closed
# loop of few connections would measure the ack round trip, not the gateway.
SINGLE_CONNECTIONS = 256
BATCH_CONNECTIONS = 32
STORM_CONNECTIONS = 512
"""Uploads in flight in the batch endpoint's figures. The gateway's workers share one
listening socket and the kernel decides which accepts a connection: of 8 connections, 6:2
splits were seen, and two runs gave a 2-worker figure near that of 1 worker (17,300
against 17,000, and 19,700), as 8:0 or 7:1 splits would (inferred, not caught). With 32
they split 16:16 or 17:15."""
RAW_EVENT_BYTES = 640  # a ReadingReceived event of a full 31-field reading, as JSON
READINGS_PER_RECORD = MAX_READINGS_PER_RECORD
SUSTAINED_BATCH = 500  # readings per request in the sustained runs
HELD_BACKLOG_S = 1.0
"""A sustained run holds while the consumers' backlog and the gateway's lag behind the
load generator's schedule both stay under this (the issue's "consumer lag < 1 s")."""
PROBE_GAP_S = 0.2  # mean gap between latency probes
SCALING_INSTANCES = (1, 2, 4)  # consumer instances in each consumer's scaling runs
PROBE_POLL_S = 0.05  # a probe's wait between two queries for its reading (see latency)
_COMMITTED_AT = (
    "SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin)) FROM query.readings "
    "WHERE battery_id = $1 AND public_id = $2"
)
"""When the transaction that stored a reading committed (wall clock, s)."""
HOPS = ("gateway", "decoder", "projector")  # see bench.hops
PROBE_SEED = 20261129


def _taken(run: dict[str, Any]) -> float:
    """Readings per second the gateway answered 200 for in a sustained run: over the window,
    or over the time its answers took if it fell 1 s or more behind (``sustained``)."""
    return float(run["taken_readings_per_s"])


async def backlog_readings(hub: Hub) -> float:
    """Readings the gateway took that are not yet through every consumer: those not yet
    decoded, plus the most that a consumer of decoded readings has still to take (the
    notifier and the projector read the decoded topic side by side). Lag is counted in
    records, one decoded record per raw one; in the sustained runs each carries
    SUSTAINED_BATCH / ceil(SUSTAINED_BATCH / READINGS_PER_RECORD) readings."""
    lags = await hub.lags()
    prefix = hub.system.topic_prefix

    def behind(group: str, topic: str) -> int:
        return sum(n for part, n in lags[group].items() if part.startswith(f"{prefix}{topic}["))

    records = behind("error-decoder", READINGS_RAW) + max(
        behind("notifier", READINGS_DECODED), behind("query-projector", READINGS_DECODED)
    )
    return records * SUSTAINED_BATCH / -(-SUSTAINED_BATCH // READINGS_PER_RECORD)


def _cpu_per_reading(
    before: dict[str, float], after: dict[str, float], loadgen_result: dict[str, Any]
) -> dict[str, float]:
    """CPU microseconds each process spent per accepted reading, from the start of the load
    to the end of the drain: where a reading's cost goes, and what the machine can carry."""
    readings = max(int(loadgen_result["readings_ok"]), 1)
    spent = {name: after[name] - before[name] for name in after if name in before}
    spent["load generator"] = loadgen_result["cpu_user_s"] + loadgen_result["cpu_sys_s"]
    return {name: seconds * 1e6 / readings for name, seconds in spent.items()}


def _wait_http(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


async def _create_topic(bootstrap: str, topic: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 6, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


async def _on_server(system: LocalSystem, *statements: str) -> None:
    """``statements`` in turn on the server's ``postgres`` database, outside a transaction
    (as ``CREATE``/``DROP DATABASE`` and ``CHECKPOINT`` need)."""
    connection = await asyncpg.connect(system.database_url("postgres", "postgresql"))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _require_commit_timestamps(system: LocalSystem) -> None:
    """The latency row dates its probes by their commit (``Bench.latency``): checked at the
    start, not half an hour into the run."""
    connection = await asyncpg.connect(system.database_url("postgres", "postgresql"))
    try:
        on = await connection.fetchval("SHOW track_commit_timestamp") == "on"
    finally:
        await connection.close()
    if not on:
        raise SystemExit(
            "the latency row dates readings by their commit: PostgreSQL needs "
            "track_commit_timestamp = on (deploy/local/infra.sh sets it; restart it with "
            "`bash deploy/local/infra.sh down && bash deploy/local/infra.sh up`)"
        )


def _scaling_database(system: LocalSystem, service: str, instances: int) -> str:
    return f"{system.database}_{SCALING_DATABASES[service]}{instances}"


def _drop(database: str) -> str:
    return f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'


async def _create_database(system: LocalSystem, database: str) -> None:
    await _on_server(system, _drop(database), f'CREATE DATABASE "{database}"')


async def _copy_anchor(system: LocalSystem, topic: str, records: int, dsn: str) -> float:
    """asyncpg COPY of the same rows the projector wrote, into a twin of the readings table."""
    from aiokafka import AIOKafkaConsumer

    from batteryhub_contracts.events import READING_DECODED, each_reading
    from query_api.adapters.projection import READING_COLUMNS, reading_rows

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=system.kafka,
        group_id=None,
        auto_offset_reset="earliest",
        max_poll_records=5000,
    )
    await consumer.start()
    rows: list[tuple[Any, ...]] = []
    taken = 0
    try:
        while taken < records:
            batches = await consumer.getmany(timeout_ms=2000, max_records=5000)
            if not batches:
                break
            rows.extend(
                reading_rows(
                    [
                        reading
                        for rs in batches.values()
                        for r in rs
                        for reading in each_reading(READING_DECODED.decode(r.value))
                    ]
                )
            )
            taken += sum(len(rs) for rs in batches.values())
    finally:
        await consumer.stop()
    records_ = list({row[0]: row for row in rows}.values())  # one per reading_id
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "CREATE TABLE query.readings_copy (LIKE query.readings INCLUDING ALL)"
        )
        started = time.perf_counter()
        await connection.copy_records_to_table(
            "readings_copy", schema_name="query", records=records_, columns=READING_COLUMNS
        )
        return len(records_) / (time.perf_counter() - started)
    finally:
        await connection.close()


async def _clean_up(system: LocalSystem) -> None:
    """Drop the run's databases (the 10M-reading one is several GB) and topics."""
    from aiokafka.admin import AIOKafkaAdminClient

    await _on_server(
        system,
        _drop(system.database),
        _drop(f"{system.database}_iso"),
        *(
            _drop(_scaling_database(system, service, n))
            for service in SCALING_DATABASES
            for n in SCALING_INSTANCES
        ),
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=system.kafka)
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(system.topic_prefix)]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        int(line.split()[1]) // 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_mb": memory,
        "python": sys.version.split()[0],
        "kernel": platform.release(),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    build_loadgen()
    run_id = uuid.uuid4().hex[:6]
    system = LocalSystem(
        name=f"bench-{run_id}",
        topic_prefix=f"bench-{run_id}.",
        database=f"bh_bench_{run_id}",
        ports={s: free_port() for s in SERVICES},
    )
    await asyncio.to_thread(system.up)
    await _require_commit_timestamps(system)
    bench = Bench(system, args.quick)
    hub = Hub(system)
    try:
        await bench.register_fleet(hub, 100 if args.quick else 200)
        # The headline gateway figures with one worker per CPU, the anchor with as many; the
        # rest of the run (and the memory figure) with the single worker `make up` starts.
        workers = os.cpu_count() or 1
        async with bench.gateway_alone(hub):
            bench.gateway_workers(workers)
            bench.single_readings(workers)
            await bench.batch_readings(workers)
            bench.gateway_workers(1)
        seconds = 20 if args.quick else 60
        await bench.mark_stream()
        probe = await bench.sustained(hub, args.rate, seconds)
        bench.figures["sustained"] = probe
        found = await bench.max_sustained(hub, probe, seconds)
        bench.figures["max_sustained"] = found
        # "At half the max sustained rate": half of the highest rate the pipeline carried
        # with its backlog under 1 s (else of the least it got through). Before the
        # consumers' scaling drains: they pushed the readings index out of PostgreSQL's
        # cache, and the projector's lookups then took seconds (docs/decisions.md).
        sustained_rate = found["readings_per_s"] or min(
            r["processed_readings_per_s"] for r in found["runs"]
        )
        await bench.latency(hub, max(sustained_rate / 2, 100), 20 if args.quick else 100)
        await bench.consumers(50_000 if args.quick else 200_000)
        async with bench.gateway_alone(hub):
            bench.gateway_scaling()
            bench.storm()
        await bench.query_latency(
            hub, [100_000, 1_000_000] if args.quick else [1_000_000, 10_000_000]
        )
    finally:
        await hub.close()
        system.down()
        await _clean_up(system)
    return {
        "machine": machine(),
        "quick": args.quick,
        "figures": bench.figures,
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs, smaller data")
    parser.add_argument(
        "--rate", type=float, default=20_000, help="readings/s offered in the sustained run"
    )
    args = parser.parse_args()
    if shutil.which("go") is None:
        sys.exit("make bench needs Go to build the load generator")
    result = asyncio.run(run(args))
    DOCS.mkdir(exist_ok=True)
    (DOCS / "benchmarks.json").write_text(json.dumps(result, indent=2, default=str))
    from bench.report import write_report

    write_report(result, DOCS / "benchmarks.md")
    print((DOCS / "benchmarks.md").read_text())


if __name__ == "__main__":
    main()
