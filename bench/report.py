"""Turns a benchmark result into docs/benchmarks.md: one table, anchors beside figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from webhook_gateway.config import Settings as GatewaySettings


def _fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _goal(ok: bool) -> str:
    return "met" if ok else "**missed**"


def write_report(result: dict[str, Any], path: Path) -> None:
    m, f = result["machine"], result["figures"]
    single, batch, sustained = f["single"], f["batch"], f["sustained"]
    decoder, projection, latency = f["decoder"], f["projection"], f["latency"]
    found = f["max_sustained"]
    rows = [
        (
            f"single-reading POSTs/s through the gateway (HTTP 200s), {single['workers']} "
            "worker(s)¹",
            _fmt(single["requests_per_s"]) + _rounds(single["rounds_requests_per_s"]),
            f"hello-world on the same stack and workers: "
            f"{_fmt(single['anchor_hello_requests_per_s'])}/s routed by FastAPI"
            f"{_rounds(single['anchor_rounds_requests_per_s'])}, "
            f"{_fmt(single['anchor_plain_asgi']['requests_per_s'])}/s as plain ASGI²",
            f"{single['ratio']:.2f}×, {single['ratio_plain_asgi']:.2f}×²",
            "≥ 0.4× and ≥ 2,000/s",
            _goal(single["ratio"] >= 0.4 and single["requests_per_s"] >= 2000),
        ),
        (
            f"readings/s through the batch endpoint (500 per request), "
            f"{batch.get('workers', 1)} worker(s)¹",
            _fmt(batch["gateway"]["readings_per_s"]),
            f"Kafka ProducerPerformance, {batch['record_size_bytes']} B records (200 readings): "
            f"{_fmt(batch['anchor_producer_perf_readings_per_s'])} readings/s",
            f"{batch['ratio']:.2f}×",
            "≥ 20,000/s",
            _goal(batch["gateway"]["readings_per_s"] >= 20_000),
        ),
        (
            f"readings/s the whole pipeline sustains with its backlog under 1 s, "
            f"{sustained['seconds']:.0f} s a run³",
            (
                f"{_fmt(found['readings_per_s'])} held"
                if found["readings_per_s"]
                else "no rate tried held"
            )
            + (
                f"; {_fmt(found['lowest_not_held_readings_per_s'])} not held"
                if found["lowest_not_held_readings_per_s"]
                else ""
            ),
            "<br>".join(
                f"offered {_fmt(r['offered_readings_per_s'])}/s: gateway took "
                f"{_fmt(r['accepted_readings_per_s'])}/s, every consumer got through "
                f"{_fmt(r['processed_readings_per_s'])}/s, backlog up to "
                f"{_fmt(r['max_lag_s'], 1)} s"
                + (
                    f", last upload answered {_fmt(r['gateway_behind_s'], 2)} s after the window"
                    if "gateway_behind_s" in r
                    else ""
                )
                for r in found["runs"]
            ),
            "—",
            "≥ 20,000/s, backlog < 1 s",
            _goal((found["readings_per_s"] or 0) >= 20_000),
        ),
        (
            "error-decoder msgs/s",
            f"{_fmt(decoder['msgs_per_s'])} ({_fmt(decoder['readings_per_s'])} readings/s)"
            + _rounds(decoder.get("rounds_msgs_per_s")),
            "aiokafka consume→produce passthrough"
            + (
                f", producing {decoder['compression']} as the services do"
                if "compression" in decoder
                else ""
            )
            + f": {_fmt(decoder['anchor_passthrough_msgs_per_s'])}/s"
            + _rounds(decoder.get("anchor_rounds_msgs_per_s")),
            f"{decoder['ratio']:.3f}×",
            "≥ 0.5×",
            _goal(decoder["ratio"] >= 0.5),
        ),
        (
            "projection rows/s into PostgreSQL",
            _fmt(projection["rows_per_s"]),
            f"asyncpg copy_records_to_table: {_fmt(projection['anchor_copy_rows_per_s'])}/s",
            f"{projection['ratio']:.2f}×",
            "≥ 0.25×",
            _goal(projection["ratio"] >= 0.25),
        ),
        (
            f"POST 200 → visible in the query API at {_fmt(latency['background_readings_per_s'])}"
            " readings/s",
            f"p50 {_fmt(latency['p50_ms'], 1)} ms, p99 {_fmt(latency['p99_ms'], 1)} ms"
            + _latency_asides(latency),
            f"Kafka produce→consume: p50 {_fmt(latency['anchor_kafka_p50_ms'], 1)} ms, "
            f"p99 {_fmt(latency['anchor_kafka_p99_ms'], 1)} ms",
            "—",
            "p50 ≤ 20 ms, p99 ≤ 100 ms",
            _goal(latency["p50_ms"] <= 20 and latency["p99_ms"] <= 100),
        ),
    ]
    for size, q in f["query"].items():
        endpoint = q["errors_endpoint"]["latency_ms"]
        rows.append(
            (
                f"`GET /batteries/{{id}}/errors` with {_fmt(q['stored_readings'])} readings stored",
                f"p50 {_fmt(endpoint['p50'], 1)} ms, p99 {_fmt(endpoint['p99'], 1)} ms",
                f"primary-key lookup: p50 {_fmt(q['anchor_pk_p50_ms'], 2)} ms, "
                f"p99 {_fmt(q['anchor_pk_p99_ms'], 2)} ms",
                "—",
                "p99 ≤ 25 ms",
                _goal(endpoint["p99"] <= 25),
            )
        )
    memory = sustained["rss_mb"]
    rows.append(
        (
            "resident memory under the offered load (MB)³",
            ", ".join(f"{k} {v:.0f}" for k, v in memory.items()),
            "—",
            "—",
            "≤ 150 MB each",
            _goal(all(v <= 150 for v in memory.values())),
        )
    )

    storm = f.get("storm")
    if storm:
        answers = storm["statuses"]
        rows.append(
            (
                f"reconnect storm: {storm['connections']} uploads of 500 readings at once to "
                f"{storm['workers']} worker, a connection answered 503 waiting out its "
                "Retry-After⁴",
                f"{_fmt(storm['readings_per_s'])} readings/s taken; uploads answered 200: "
                f"{answers.get('200', 0):,}, 503: {answers.get('503', 0):,}, other: "
                f"{sum(n for code, n in answers.items() if code not in ('200', '503')):,} "
                f"(+{storm['errors']} transport errors); answer p99 "
                f"{_fmt(storm['latency_ms']['p99'])} ms; gateway peak "
                f"{storm['gateway_rss_mb_peak']:.0f} MB",
                f"the same worker at 32 connections: "
                f"{_fmt(storm['anchor_batch_readings_per_s'])} readings/s",
                f"{storm['readings_per_s'] / storm['anchor_batch_readings_per_s']:.2f}×",
                "≤ 150 MB resident",
                _goal(storm["gateway_rss_mb_peak"] <= 150),
            )
        )

    lines = [
        "# Benchmarks",
        "",
        f"Measured {result['when']} by `make bench`{' --quick' if result['quick'] else ''} on "
        f"{m['cpus']} CPUs ({m['cpu_model']}), {m['memory_mb']:,} MB, Python {m['python']}. "
        "Load generator, Kafka, PostgreSQL and every service share these CPUs. Raw numbers: "
        "`docs/benchmarks.json`.",
        "",
        "| figure | measured | anchor (same run, same machine) | ratio | goal | |",
        "|---|---|---|---|---|---|",
        *[f"| {' | '.join(row)} |" for row in rows],
        "",
        "¹ The gateway and Kafka alone, as their anchors run: the consumers are stopped while "
        "these are measured (else they take the CPUs to process what the gateway just took) "
        "and caught up after. The sustained figure has everything running.",
        "",
        "² The gateway's two ingest routes are answered as plain ASGI inside its FastAPI "
        "app (no FastAPI routing, request or exception layers on them), so a "
        "hello-world answered as plain ASGI on the same server is the stricter "
        "anchor; the goal's judgement uses the FastAPI-routed one, as every run "
        "before this anchor existed did.",
        "",
        "³ The load is offered at the goal's rate first. A run holds when the backlog "
        "(readings the gateway took and not yet through every consumer) stays under 1 s, "
        "and the gateway answers the last upload due in its window within 1 s of the window's "
        "end (the load generator sends every upload due in the window, however late; what a "
        "gateway that fell further behind took is rated over the time its answers took). "
        "Until a run holds, the next offers 90 % of the least any run got through; then each "
        "offers the middle between the highest rate held and the lowest not held (what the "
        "gateway took in that run), until they are within 10 % or after four more runs, each "
        "from an empty backlog. The memory and CPU figures are of the first run; the latency "
        "row runs at half the highest rate held"
        + (
            f", its probes at random gaps ({latency['probe_gap']}) so they do not fall into "
            "step with the background uploads."
            if "probe_gap" in latency
            else ", its probes 0.2 s apart."
        ),
        *(
            [
                "",
                _storm_note(storm["connections"]),
            ]
            if storm
            else []
        ),
        *(
            [
                "",
                "⁵ A reading is visible in the query API from the commit of the projector's "
                "transaction that stored it (the API reads that table, no cache between): each "
                "probe is dated by that commit (PostgreSQL's track_commit_timestamp), once the "
                "API has shown it. The probe asks the API every "
                f"{_fmt(latency['poll_ms'])} ms, not faster: under load a query took ~15 ms, "
                "so asking every 2 ms kept the API and PostgreSQL busy answering and delayed "
                "the reading measured (see docs/decisions.md). The goal is judged from POST "
                "sent, which includes the gateway's answer; from the 200 on (the issue's "
                '"POST 200 → visible") is given beside it.',
            ]
            if "polled_p50_ms" in latency
            else []
        ),
        "",
        "## How the figures grow",
        "",
        "| gateway workers¹ | single POSTs/s | batch readings/s |",
        "|---|---|---|",
        *[
            f"| {w} | {_fmt(v['single_per_s'])} | {_fmt(v['batch_readings_per_s'])} |"
            for w, v in f["gateway_scaling"].items()
        ],
        "",
        *(
            [
                "Each consumer's instance counts below drain the same "
                f"{_fmt(f['decoder']['records'])} records of the sustained and latency runs "
                f"({_fmt(f['decoder']['records'] * f['decoder']['readings_per_record'])} "
                "readings), copied to topics of their own.",
                "",
            ]
            if "decoder" in f
            else []
        ),
        "| decoder instances (one group) | readings/s |",
        "|---|---|",
        *[f"| {n} | {_fmt(v)} |" for n, v in f["decoder_scaling"].items()],
        "",
        *(
            [
                "| projector instances (one group, a fresh database each) | rows/s |",
                "|---|---|",
                *[f"| {n} | {_fmt(v)} |" for n, v in f["projector_scaling"].items()],
                "",
            ]
            if "projector_scaling" in f
            else []
        ),
        *(
            [
                "| notifier instances (one group, a fresh store each) | readings/s |",
                "|---|---|",
                *[f"| {n} | {_fmt(v)} |" for n, v in f["notifier_scaling"].items()],
                "",
            ]
            if "notifier_scaling" in f
            else []
        ),
        *_stored_section(f),
        *_cpu_section(sustained, m["cpus"]),
        *_latency_section(latency),
    ]
    path.write_text("\n".join(lines) + "\n")


def _rounds(rounds: list[float] | None) -> str:
    """A figure's rounds, where it is their mean: taken in turn with its anchor's."""
    if not rounds:
        return ""
    return "; the mean of rounds " + " / ".join(_fmt(r) for r in rounds)


def _storm_note(connections: int) -> str:
    """The storm row's footnote, with the gateway's own defaults (the bench runs with them)."""
    default = {name: field.default for name, field in GatewaySettings.model_fields.items()}
    retry = default["retry_after_s"]
    return (
        f"⁴ Each worker works on at most {default['upload_slots']} uploads at once and lets "
        f"{default['upload_queue']} more wait, each at most {default['upload_wait_s']:g} s "
        "(`BATTERYHUB_UPLOAD_SLOTS`, `_QUEUE`, `_WAIT_S`); an upload beyond them is answered "
        f"503 with a Retry-After of {retry}–{2 * retry} s before any of its work, and none of "
        f"its readings is stored. The {connections} connections share the fleet's battery "
        "tokens; one answered 503 waits out the Retry-After before its next upload, as "
        "batteries backing off do. Counted from 2 s after the storm begins: 503 answers are "
        "counted, not the readings they carried."
    )


def _stored_section(f: dict[str, Any]) -> list[str]:
    """What the readings already stored do to the projector (the error history at each size
    has its rows in the table above)."""
    at_scale = f.get("projection_at_scale")
    if not at_scale:
        return []
    return [
        "| the projector writes the same readings into | rows/s |",
        "|---|---|",
        f"| a fresh database (the projection row) | {_fmt(f['projection']['rows_per_s'])} |",
        f"| the readings table holding {_fmt(at_scale['stored_readings_before'])} readings "
        f"(the last query row's) | {_fmt(at_scale['rows_per_s'])} |",
        "",
    ]


HOP_NAMES = {
    "answered": "POST → 200 (the gateway's answer, after Kafka's ack)",
    "gateway": "POST sent → the gateway sends the raw record",
    "decoder": "raw record sent → decoded record sent (Kafka's ack, the decoder's batch)",
    "projector": "decoded record sent → visible in the query API (the projector's batch and "
    "transaction, to its commit)",
}


def _latency_asides(latency: dict[str, Any]) -> str:
    """Beside the latency row's figure (from POST sent): from the 200 on, and when a query
    saw the reading; absent from runs before either was measured."""
    asides = []
    if "after_answer_p50_ms" in latency:
        asides.append(
            f"from the 200 on: p50 {_fmt(latency['after_answer_p50_ms'], 1)}, "
            f"p99 {_fmt(latency['after_answer_p99_ms'], 1)}"
        )
    if "polled_p50_ms" in latency:
        asides.append(
            f"seen by a query every {_fmt(latency['poll_ms'])} ms: p50 "
            f"{_fmt(latency['polled_p50_ms'], 1)}, p99 {_fmt(latency['polled_p99_ms'], 1)}"
        )
    return f"⁵ ({'; '.join(asides)})" if asides else ""


def _latency_section(latency: dict[str, Any]) -> list[str]:
    """The latency row's probes, hop by hop: what bounds the figure (see ``bench.hops``)."""
    hops: dict[str, dict[str, float]] | None = latency.get("hops_ms")
    if not hops:
        return []
    return [
        "## Where a probe's latency goes (latency row)",
        "",
        "From the probe battery's records on the topics between the services, as each "
        "producer stamped them (CreateTime, millisecond resolution; every process shares "
        "this machine's clock). The last three hops add up to the latency row's figure.",
        "",
        "| hop | probes | p50 ms | p90 ms | p99 ms |",
        "|---|---|---|---|---|",
        *[
            f"| {HOP_NAMES.get(hop, hop)} | {v['probes']} | {_fmt(v['p50'], 1)} | "
            f"{_fmt(v['p90'], 1)} | {_fmt(v['p99'], 1)} |"
            for hop, v in hops.items()
        ],
        "",
    ]


def _cpu_section(sustained: dict[str, Any], cpus: int) -> list[str]:
    """Where a reading's CPU goes in the sustained run, and the rate the machine could carry
    if the load were spread perfectly: what bounds the pipeline on these CPUs."""
    per_reading: dict[str, float] | None = sustained.get("cpu_us_per_reading")
    if not per_reading:
        return []
    total = sum(per_reading.values())
    ordered = sorted(per_reading.items(), key=lambda kv: -kv[1])
    return [
        "## Where a reading's CPU goes (sustained run)",
        "",
        "CPU time each process used from the start of the load to the end of the drain, per "
        "reading accepted. With every process sharing the machine, the pipeline cannot "
        f"carry more than {cpus} CPUs × 10⁶ µs / {total:,.0f} µs ≈ "
        f"**{cpus * 1e6 / total:,.0f} readings/s** here, however the work is spread.",
        "",
        "| process | CPU µs per reading | share |",
        "|---|---|---|",
        *[f"| {name} | {us:,.1f} | {us / total:.0%} |" for name, us in ordered],
        f"| **total** | **{total:,.1f}** | |",
        "",
    ]
