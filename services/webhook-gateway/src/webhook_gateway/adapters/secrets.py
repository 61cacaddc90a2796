"""Battery secrets are stored only as argon2id hashes. Hashing runs in a worker thread so
that a login never stalls the event loop that serves readings."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's argon2id floor: 19 MiB memory, 2 iterations, 1 lane.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


class SecretHasher:
    def __init__(self, hasher: PasswordHasher = HASHER, max_parallel: int = 2) -> None:
        self._hasher = hasher
        # Bounds argon2 work (memory and CPU) however many logins arrive at once.
        self._slots = asyncio.Semaphore(max_parallel)
        self._dummy_hash: str | None = None

    async def hash(self, secret: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, secret)

    async def verify(self, secret_hash: str, secret: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify, secret_hash, secret)

    def _verify(self, secret_hash: str, secret: str) -> bool:
        try:
            return bool(self._hasher.verify(secret_hash, secret))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, secret_hash: str) -> bool:
        """True when ``secret_hash`` was made with other parameters than today's."""
        try:
            return bool(self._hasher.check_needs_rehash(secret_hash))
        except InvalidHashError:
            return False

    async def dummy_verify(self, secret: str) -> None:
        """Same work as a real check, so unknown batteries take as long as wrong secrets."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("no-such-battery")
        await self.verify(self._dummy_hash, secret)
