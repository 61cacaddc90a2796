"""Runtime plumbing shared by the services: logging, HTTP edges, Kafka clients, metrics.

No business rules live here; those are in each service's core and in ``batteryhub_contracts``.
"""
