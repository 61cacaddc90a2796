"""A small fleet of simulated batteries for the local system: ``python -m deploy.local.simulator``.

Registers demo batteries (hubs 1 and 2; BAT001 also behind a relay device id), logs each in,
and posts a realistic reading per battery every few seconds: a few percent carry fault codes,
a few of those unknown codes. It honours 503 + Retry-After like the firmware does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import random
from datetime import UTC, datetime

import httpx

log = logging.getLogger("simulator")
DEMO_BATTERIES = [(n, 1 if n <= 5 else 2) for n in range(1, 11)]
RELAY_DEVICE = "0291f60a-cfaf-462d-9e82-5ce662fb3823"
KNOWN_CODES = "RCUTBGSLD"


def reading(
    battery_id: int, tick: int, rng: random.Random, at: datetime | None = None
) -> dict[str, object]:
    """One realistic direct-format reading, measured ``at`` (default: now) by the device."""
    now = at or datetime.now(UTC)
    soc = 50 + 40 * math.sin(tick / 50 + battery_id)
    err = ""
    roll = rng.random()
    if roll < 0.03:
        err = "".join(rng.sample(KNOWN_CODES, rng.randint(1, 2)))
    elif roll < 0.035:
        err = rng.choice("XYZ")
    return {
        "id": str(battery_id),
        "soc": f"{soc:.1f}",
        "v": round(12 + soc / 50, 2),
        "i": round(rng.uniform(-2, 2), 2),
        "p": round(rng.uniform(-25, 25), 1),
        "t": round(rng.uniform(15, 35), 1),
        "nc": 100 + tick // 100,
        "err": err,
        "lat": 55.62 + battery_id / 1000,
        "lon": -3.52,
        "gs": 8,
        "gf": 1,
        "d": now.strftime("%Y-%m-%d"),
        "tm": now.strftime("%H:%M:%S"),
    }


async def ensure_batteries(gateway: httpx.AsyncClient, admin_token: str) -> dict[int, str]:
    secrets = {}
    for battery_id, hub_id in DEMO_BATTERIES:
        secret = f"demo-secret-{battery_id:03d}"
        body = {
            "battery_id": battery_id,
            "hub_id": hub_id,
            "name": f"BAT{battery_id:03d}",
            "secret": secret,
        }
        if battery_id == 1:
            body["device_id"] = RELAY_DEVICE
        answer = await gateway.post(
            "/admin/batteries", json=body, headers={"Authorization": f"Bearer {admin_token}"}
        )
        if answer.status_code not in (201, 409):
            raise RuntimeError(f"could not register battery {battery_id}: {answer.text}")
        secrets[battery_id] = secret
    return secrets


async def run_battery(
    gateway: httpx.AsyncClient, battery_id: int, secret: str, interval_s: float, seed: int
) -> None:
    rng = random.Random(seed)  # noqa: S311 - simulated data, not secrets
    login = await gateway.post(
        "/auth/battery-login", json={"battery_id": battery_id, "battery_secret": secret}
    )
    login.raise_for_status()
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    tick = 0
    while True:
        body = reading(battery_id, tick, rng)
        if battery_id == 1 and tick % 2:  # BAT001 alternates direct and relay format
            inner = {k: v for k, v in body.items() if k != "id"}
            body = {
                "device_id": RELAY_DEVICE,
                "values": [{"name": "data", "value": json.dumps(inner)}],
            }
        answer = await gateway.post("/webhook/live-data", json=body, headers=headers)
        if answer.status_code == 503:
            await asyncio.sleep(float(answer.headers.get("Retry-After", "5")))
            continue
        if answer.status_code not in (200, 201):
            log.warning("battery %s got %s: %s", battery_id, answer.status_code, answer.text)
        tick += 1
        await asyncio.sleep(interval_s * rng.uniform(0.8, 1.2))


async def main(gateway_url: str, query_url: str, interval_s: float) -> None:
    async with httpx.AsyncClient(base_url=query_url, timeout=10) as query:
        token = await query.post(
            "/auth/token",
            json={
                "username": os.environ.get("BATTERYHUB_ADMIN_USER", "admin"),
                "password": os.environ.get("BATTERYHUB_ADMIN_PASSWORD", "admin-dev-password"),
            },
        )
        token.raise_for_status()
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as gateway:
        secrets = await ensure_batteries(gateway, token.json()["access_token"])
        log.info("simulating %d batteries every %.1f s", len(secrets), interval_s)
        await asyncio.gather(
            *(run_battery(gateway, b, s, interval_s, b) for b, s in secrets.items())
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--query", default="http://127.0.0.1:8001")
    parser.add_argument("--interval", type=float, default=5.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(main(args.gateway, args.query, args.interval))
