"""``python -m batteryhub_platform.topics_cli --partitions N --replication R``: create the
missing topics (idempotent). The Helm chart's topic job runs it; the connection and the topic
prefix come from the ``BATTERYHUB_*`` environment through ``ServiceSettings``."""

from __future__ import annotations

import argparse
import asyncio
import json

from batteryhub_platform.settings import ServiceSettings
from batteryhub_platform.topics_admin import ensure_topics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--partitions", type=int, default=6, help="partitions per topic")
    parser.add_argument("--replication", type=int, default=1, help="replication factor")
    args = parser.parse_args(argv)
    if args.partitions < 1 or args.replication < 1:
        parser.error("--partitions and --replication must be at least 1")
    settings = ServiceSettings()
    created = asyncio.run(
        ensure_topics(settings.kafka, settings.topic_prefix, args.partitions, args.replication)
    )
    print(json.dumps({"created": created, "prefix": settings.topic_prefix}))


if __name__ == "__main__":
    main()
