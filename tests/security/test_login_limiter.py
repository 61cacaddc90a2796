"""The brute-force rule of the login endpoints, with the clock in the test's hand."""

from __future__ import annotations

import asyncio

import pytest

from batteryhub_platform.login_guard import FailedLogins, LoginGuard, TooManyAttempts


def test_an_account_may_fail_up_to_the_limit_and_is_then_refused() -> None:
    failures = FailedLogins(max_failures=3, window_s=300)
    for second in range(3):
        assert failures.retry_after("battery:1", now=second) is None
        failures.failed("battery:1", now=second)
    assert failures.retry_after("battery:1", now=3) == 297


def test_the_refusal_lasts_until_the_oldest_failure_leaves_the_window() -> None:
    failures = FailedLogins(max_failures=2, window_s=10)
    failures.failed("a", now=0)
    failures.failed("a", now=5)
    assert failures.retry_after("a", now=9.5) == 1
    assert failures.retry_after("a", now=10) is None
    failures.failed("a", now=10)
    assert failures.retry_after("a", now=11) == 4


def test_other_accounts_are_not_affected_by_one_being_refused() -> None:
    failures = FailedLogins(max_failures=1, window_s=60)
    failures.failed("battery:1", now=0)
    assert failures.retry_after("battery:1", now=1) is not None
    assert failures.retry_after("battery:2", now=1) is None


def test_a_success_forgets_the_failures_of_that_account() -> None:
    failures = FailedLogins(max_failures=2, window_s=60)
    failures.failed("a", now=0)
    failures.succeeded("a")
    failures.failed("a", now=1)
    assert failures.retry_after("a", now=2) is None


def test_accounts_whose_failures_expired_are_dropped() -> None:
    failures = FailedLogins(max_failures=5, window_s=10)
    failures.failed("a", now=0)
    assert failures.retry_after("a", now=10) is None
    assert len(failures) == 0


def test_memory_is_bounded_by_forgetting_the_account_tried_least_recently() -> None:
    failures = FailedLogins(max_failures=1, window_s=60, max_accounts=3)
    for n, account in enumerate("abcd"):
        failures.failed(account, now=n)
    assert len(failures) == 3
    assert failures.retry_after("a", now=5) is None
    assert failures.retry_after("d", now=5) is not None


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        FailedLogins(max_failures=0, window_s=1)
    with pytest.raises(ValueError):
        LoginGuard(FailedLogins(1, 1), max_pending=0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _fail(guard: LoginGuard, account: str) -> None:
    async with guard.attempt(account):
        pass  # no call to succeeded(): a wrong secret


async def test_the_guard_refuses_an_account_after_its_failures_before_checking_anything() -> None:
    clock = Clock()
    guard = LoginGuard(FailedLogins(max_failures=2, window_s=60), max_pending=4, clock=clock)
    await _fail(guard, "a")
    await _fail(guard, "a")
    checked = False
    with pytest.raises(TooManyAttempts) as refused:
        async with guard.attempt("a"):
            checked = True
    assert not checked
    assert refused.value.retry_after_s == 60
    clock.now += 60
    async with guard.attempt("a") as attempt:
        attempt.succeeded()


async def test_concurrent_guesses_for_one_account_cannot_slip_past_the_count() -> None:
    guard = LoginGuard(FailedLogins(max_failures=3, window_s=60), max_pending=100, clock=Clock())
    checks = 0

    async def guess() -> str:
        nonlocal checks
        try:
            async with guard.attempt("a"):
                checks += 1
                await asyncio.sleep(0.01)  # the argon2 check
        except TooManyAttempts:
            return "429"
        return "401"

    answers = await asyncio.gather(*(guess() for _ in range(50)))
    assert checks == 3
    assert answers.count("429") == 47


async def test_the_guard_refuses_any_login_while_too_many_checks_are_pending() -> None:
    guard = LoginGuard(FailedLogins(max_failures=10, window_s=60), max_pending=2, clock=Clock())
    release = asyncio.Event()

    async def slow(account: str) -> None:
        async with guard.attempt(account):
            await release.wait()

    running = [asyncio.create_task(slow(a)) for a in ("a", "b")]
    await asyncio.sleep(0)
    assert guard.pending == 2
    with pytest.raises(TooManyAttempts) as refused:
        async with guard.attempt("c"):
            pass
    assert refused.value.retry_after_s == 1
    release.set()
    await asyncio.gather(*running)
    assert guard.pending == 0
    async with guard.attempt("c") as attempt:  # refused for load, "c" was not charged
        attempt.succeeded()
