"""Where Strimzi's Topic Operator manages topics, the chart renders KafkaTopic resources."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.chart import rendered


def test_strimzi_topics_are_rendered_with_compaction_for_the_registry(tmp_path: Path) -> None:
    values = tmp_path / "strimzi.yaml"
    values.write_text(
        "topics:\n  create: false\n  prefix: fleet.\n  partitions: 12\n  replication: 3\n"
        "  strimzi:\n    enabled: true\n    clusterName: my-cluster\n"
    )
    topics = {m["spec"]["topicName"]: m for m in rendered(values) if m["kind"] == "KafkaTopic"}
    assert set(topics) == {
        "fleet.readings.raw",
        "fleet.readings.decoded",
        "fleet.notifications",
        "fleet.registry",
        "fleet.dead-letters",
    }
    registry = topics["fleet.registry"]
    assert registry["metadata"]["labels"]["strimzi.io/cluster"] == "my-cluster"
    assert registry["spec"]["config"]["cleanup.policy"] == "compact"
    assert {t["spec"]["partitions"] for t in topics.values()} == {12}
    assert not [
        m for m in rendered(values) if m["kind"] == "Job" and "topics" in m["metadata"]["name"]
    ]


def test_no_kafka_topics_are_rendered_by_default() -> None:
    assert not [m for m in rendered() if m["kind"] == "KafkaTopic"]
