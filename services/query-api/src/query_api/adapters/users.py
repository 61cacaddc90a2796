"""The user store. Passwords are kept only as argon2id hashes, checked in a worker thread."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from batteryhub_platform.tokens import Role, UserPrincipal
from query_api.adapters.tables import users

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


class UsernameTaken(Exception):
    pass


@dataclass(frozen=True)
class NewUser:
    username: str
    password: str
    role: Role
    hub_id: int | None
    accessible_hub_ids: frozenset[int]


def _principal(row: Row[Any]) -> UserPrincipal:
    return UserPrincipal(
        user_id=row.id,
        username=row.username,
        role=row.role,
        hub_id=row.hub_id,
        accessible_hub_ids=frozenset(row.accessible_hub_ids or ()),
    )


class UserStore:
    def __init__(self, engine: AsyncEngine, max_parallel_hashes: int = 2) -> None:
        self._engine = engine
        self._slots = asyncio.Semaphore(max_parallel_hashes)
        self._dummy_hash: str | None = None

    async def _hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(HASHER.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return bool(HASHER.verify(password_hash, password))
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        async with self._slots:
            return await asyncio.to_thread(check)

    async def authenticate(self, username: str, password: str) -> UserPrincipal | None:
        async with self._engine.connect() as c:
            row = (await c.execute(select(users).where(users.c.username == username))).first()
        if row is None:
            # Same work as a real check: response time does not reveal which usernames exist.
            self._dummy_hash = self._dummy_hash or await self._hash("no-such-user")
            await self._verify(self._dummy_hash, password)
            return None
        if not await self._verify(row.password_hash, password):
            return None
        if HASHER.check_needs_rehash(row.password_hash):
            new_hash = await self._hash(password)
            async with self._engine.begin() as c:
                await c.execute(
                    update(users).where(users.c.id == row.id).values(password_hash=new_hash)
                )
        return _principal(row)

    async def create(self, new: NewUser) -> UserPrincipal:
        password_hash = await self._hash(new.password)
        async with self._engine.begin() as c:
            row = (
                await c.execute(
                    insert(users)
                    .values(
                        username=new.username,
                        password_hash=password_hash,
                        role=new.role,
                        hub_id=new.hub_id,
                        accessible_hub_ids=sorted(new.accessible_hub_ids),
                    )
                    .on_conflict_do_nothing(index_elements=["username"])
                    .returning(users)
                )
            ).first()
        if row is None:
            raise UsernameTaken(new.username)
        return _principal(row)

    async def ensure_superadmin(self, username: str, password: str) -> None:
        """Create the superadmin, or reset its password and role to the configured ones."""
        try:
            await self.create(NewUser(username, password, "superadmin", None, frozenset()))
        except UsernameTaken:
            if await self.authenticate(username, password) is None:
                password_hash = await self._hash(password)
                async with self._engine.begin() as c:
                    await c.execute(
                        update(users)
                        .where(users.c.username == username)
                        .values(password_hash=password_hash, role="superadmin")
                    )
