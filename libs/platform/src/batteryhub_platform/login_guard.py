"""Brute-force protection for the two login endpoints (battery and user).

Two limits, both checked before any argon2 work is done:

- **per account** (battery id, username): after ``max_failures`` failed attempts within
  ``window_s`` seconds the account is refused with 429 until the oldest of them leaves the
  window. It applies to unknown accounts exactly as to known ones, so a 429 says nothing
  about whether an account exists.
- **globally**: at most ``max_pending`` secret checks may be waiting or running at once (the
  hashers themselves run two at a time). A flood over that is refused with 429 at once
  instead of queueing argon2 work without bound.

The state is in the memory of one process: with several replicas behind a load balancer the
effective per-account limit is ``max_failures`` x replicas. Per-source limits belong in the
ingress in front of the replicas.

``FailedLogins`` is the pure rule (the clock is passed in); ``LoginGuard`` applies it around a
login with a monotonic clock.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Counter

LOGIN_CHECKS = Counter(
    "login_secret_checks_total", "Login attempts let through to a secret (argon2) check"
)
LOGINS_THROTTLED = Counter(
    "login_throttled_total", "Login attempts refused with 429 before any secret check", ["reason"]
)

BUSY_RETRY_AFTER_S = 1


class TooManyAttempts(Exception):
    """Answered 429 with ``Retry-After: retry_after_s``."""

    def __init__(self, retry_after_s: int, reason: str) -> None:
        super().__init__(f"retry after {retry_after_s} s ({reason})")
        self.retry_after_s = retry_after_s
        self.reason = reason


class FailedLogins:
    """Failed attempts per account in a sliding window. Pure: every call takes ``now``.

    Memory is bounded by ``max_accounts``: past it the account tried least recently is
    forgotten. Evicting a live account would take ``max_accounts`` other accounts tried within
    one window, which the global limit on secret checks makes far slower than the window.
    """

    def __init__(self, max_failures: int, window_s: float, max_accounts: int = 100_000) -> None:
        if max_failures < 1 or window_s <= 0 or max_accounts < 1:
            raise ValueError("max_failures, window_s and max_accounts must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_accounts = max_accounts
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, account: str, now: float) -> int | None:
        """Whole seconds until ``account`` may try again, or ``None`` if it may now."""
        failures = self._recent(account, now)
        if failures is None or len(failures) < self.max_failures:
            return None
        return max(1, math.ceil(failures[0] + self.window_s - now))

    def failed(self, account: str, now: float) -> None:
        failures = self._recent(account, now)
        if failures is None:
            failures = self._failures[account] = deque(maxlen=self.max_failures)
        failures.append(now)
        self._failures.move_to_end(account)
        while len(self._failures) > self.max_accounts:
            self._failures.popitem(last=False)

    def succeeded(self, account: str) -> None:
        self._failures.pop(account, None)

    def __len__(self) -> int:
        return len(self._failures)

    def _recent(self, account: str, now: float) -> deque[float] | None:
        failures = self._failures.get(account)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[account]
            return None
        return failures


@dataclass
class Attempt:
    """Handed to the login inside ``LoginGuard.attempt``; call ``succeeded`` on success."""

    ok: bool = False

    def succeeded(self) -> None:
        self.ok = True


class LoginLimits(Protocol):
    """The settings a service gives its login guard."""

    @property
    def login_max_failures(self) -> int: ...
    @property
    def login_failure_window_s(self) -> float: ...
    @property
    def login_max_pending_checks(self) -> int: ...


class LoginGuard:
    """Wraps one login attempt: refuses it (``TooManyAttempts``) or lets it check the secret.

    The attempt counts as failed from the moment it is let through, so a thousand concurrent
    guesses for one account cannot all slip past the count while the first are still hashing.
    """

    def __init__(
        self,
        failures: FailedLogins,
        max_pending: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be positive")
        self._failures = failures
        self._max_pending = max_pending
        self._clock = clock
        self._pending = 0

    @classmethod
    def from_settings(cls, limits: LoginLimits) -> LoginGuard:
        failures = FailedLogins(limits.login_max_failures, limits.login_failure_window_s)
        return cls(failures, limits.login_max_pending_checks)

    @property
    def pending(self) -> int:
        return self._pending

    @asynccontextmanager
    async def attempt(self, account: str) -> AsyncIterator[Attempt]:
        now = self._clock()
        wait = self._failures.retry_after(account, now)
        if wait is not None:
            LOGINS_THROTTLED.labels("account").inc()
            raise TooManyAttempts(wait, "too many failed attempts for this account")
        if self._pending >= self._max_pending:
            LOGINS_THROTTLED.labels("busy").inc()
            raise TooManyAttempts(BUSY_RETRY_AFTER_S, "too many logins being checked")
        self._failures.failed(account, now)
        self._pending += 1
        LOGIN_CHECKS.inc()
        attempt = Attempt()
        try:
            yield attempt
        finally:
            self._pending -= 1
            if attempt.ok:
                self._failures.succeeded(account)
