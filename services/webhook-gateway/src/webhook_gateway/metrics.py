"""Gateway metrics beyond the shared HTTP ones."""

from prometheus_client import Counter, Gauge, Histogram

READINGS_ACCEPTED = Counter(
    "gateway_readings_accepted_total", "Readings acknowledged by Kafka and answered 200", ["source"]
)
READINGS_REFUSED = Counter(
    "gateway_readings_refused_total", "Readings refused, by HTTP status", ["status"]
)
PRODUCE_LATENCY = Histogram(
    "gateway_produce_seconds",
    "Time for Kafka to acknowledge a reading",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BROKER_UNAVAILABLE = Counter(
    "gateway_broker_unavailable_total", "Requests answered 503 because Kafka did not acknowledge"
)
UPLOADS_SHED = Counter(
    "gateway_uploads_shed_total",
    "Batch uploads answered 503 before any of their work: no upload slot came free",
)
LOGINS = Counter("gateway_battery_logins_total", "Battery logins, by outcome", ["outcome"])
REGISTRY_SIZE = Gauge("gateway_registry_batteries", "Batteries known to this replica")
