"""Which hubs a user may see (WIRE-FACTS §6). ``None`` means every hub."""

from __future__ import annotations

from batteryhub_platform.tokens import UserPrincipal


def visible_hubs(user: UserPrincipal) -> frozenset[int] | None:
    if user.role == "superadmin":
        return None
    hubs = set(user.accessible_hub_ids) if user.role == "data_admin" else set()
    if user.hub_id is not None:
        hubs.add(user.hub_id)
    return frozenset(hubs)
