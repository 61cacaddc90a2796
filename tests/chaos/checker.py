"""The one verdict every fault test shares, read from what the system stored.

- **lost**: a reading answered "accepted" that is missing from the query projection.
- **duplicate**: a reading stored twice (two rows for one battery and device time), or a
  notification stored twice (for one reading and code, or a second unread one for a battery
  and code: nobody reads notifications during these runs).
- **phantom**: a notification with no acknowledged reading behind it, or a stored reading no
  device was told was stored.

Also counted: **missing notifications** (a fault code in an acknowledged reading that never
raised one) and notifications the notifier stored but the query API does not show.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg

from tests.chaos.fleet import Traffic


@dataclass(frozen=True)
class Verdict:
    acknowledged: int
    stored: int
    lost: int
    duplicate_readings: int
    duplicate_notifications: int
    phantom_notifications: int
    unacknowledged_stored: int
    missing_notifications: int
    notifications: int
    notifications_not_projected: int
    examples: tuple[str, ...] = ()

    @property
    def duplicates(self) -> int:
        return self.duplicate_readings + self.duplicate_notifications

    @property
    def phantoms(self) -> int:
        return self.phantom_notifications + self.unacknowledged_stored

    def passed(self) -> bool:
        return not (
            self.lost
            or self.duplicates
            or self.phantoms
            or self.missing_notifications
            or self.notifications_not_projected
        )

    def summary(self) -> dict[str, Any]:
        figures = asdict(self)
        figures["examples"] = list(self.examples)
        return figures

    def __str__(self) -> str:
        return (
            f"acknowledged {self.acknowledged}, stored {self.stored}: lost {self.lost}, "
            f"duplicate {self.duplicates} (readings {self.duplicate_readings}, notifications "
            f"{self.duplicate_notifications}), phantom {self.phantoms} (notifications "
            f"{self.phantom_notifications}, unacknowledged readings "
            f"{self.unacknowledged_stored}), missing notifications "
            f"{self.missing_notifications}, not projected {self.notifications_not_projected}; "
            f"e.g. {list(self.examples)[:5]}"
        )


async def check(dsn: str, traffic: Traffic) -> Verdict:
    """Compare what the devices were told with both projections (query and notifier)."""
    batteries = sorted(traffic.accepted)
    connection = await asyncpg.connect(dsn)
    try:
        readings = await connection.fetch(
            "SELECT battery_id, public_id, reading_id, measured_at FROM query.readings"
            " WHERE battery_id = ANY($1::bigint[])",
            batteries,
        )
        notified = {
            table: await connection.fetch(
                f"SELECT battery_id, code, reading_id, is_read FROM {table}"
                " WHERE battery_id = ANY($1::bigint[])",
                batteries,
            )
            for table in ("notifier.notifications", "query.notifications")
        }
    finally:
        await connection.close()

    examples: list[str] = []
    acknowledged = {(b, public_id) for b, ids in traffic.accepted.items() for public_id in ids}
    stored = Counter((r["battery_id"], r["public_id"]) for r in readings)
    per_device_time = Counter((r["battery_id"], r["measured_at"]) for r in readings)
    lost = acknowledged - stored.keys()
    unacknowledged = stored.keys() - acknowledged
    duplicate_readings = sum(n - 1 for n in stored.values()) + sum(
        n - 1 for n in per_device_time.values()
    )
    examples += [f"lost reading {b}/{p}" for b, p in sorted(lost)[:3]]
    examples += [f"stored but never acknowledged {b}/{p}" for b, p in sorted(unacknowledged)[:3]]

    acknowledged_reading_ids = {
        r["reading_id"] for r in readings if (r["battery_id"], r["public_id"]) in acknowledged
    }
    duplicate_notifications = phantom = 0
    for table, rows in notified.items():
        per_reading = Counter((r["reading_id"], r["code"]) for r in rows)
        unread = Counter((r["battery_id"], r["code"]) for r in rows if not r["is_read"])
        duplicate_notifications += sum(n - 1 for n in per_reading.values())
        duplicate_notifications += sum(n - 1 for n in unread.values())
        examples += [f"{table}: {k} twice" for k, n in unread.items() if n > 1][:3]
        ghosts = [r for r in rows if r["reading_id"] not in acknowledged_reading_ids]
        phantom += len(ghosts)
        examples += [f"{table}: phantom {dict(r)}" for r in ghosts[:3]]
    expected = {(b, code) for b, codes in traffic.codes.items() for code in codes}
    raised = {(r["battery_id"], r["code"]) for r in notified["notifier.notifications"]}
    projected = {(r["reading_id"], r["code"]) for r in notified["query.notifications"]}
    not_projected = [
        r
        for r in notified["notifier.notifications"]
        if (r["reading_id"], r["code"]) not in projected
    ]
    missing = expected - raised
    examples += [f"no notification for battery {b} code {c}" for b, c in sorted(missing)[:3]]
    return Verdict(
        acknowledged=len(acknowledged),
        stored=len(readings),
        lost=len(lost),
        duplicate_readings=duplicate_readings,
        duplicate_notifications=duplicate_notifications,
        phantom_notifications=phantom,
        unacknowledged_stored=len(unacknowledged),
        missing_notifications=len(missing),
        notifications=len(notified["notifier.notifications"]),
        notifications_not_projected=len(not_projected),
        examples=tuple(examples),
    )
