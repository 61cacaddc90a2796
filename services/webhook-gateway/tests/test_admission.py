import asyncio

import pytest

from webhook_gateway.admission import Admission, Busy


async def _hold(admission: Admission, entered: list[int], n: int, release: asyncio.Event) -> None:
    async with admission.slot():
        entered.append(n)
        await release.wait()


async def test_uploads_beyond_the_slots_wait_in_arrival_order() -> None:
    admission = Admission(slots=2, queue=3, wait_s=5)
    entered: list[int] = []
    release = [asyncio.Event() for _ in range(5)]
    tasks = [asyncio.create_task(_hold(admission, entered, n, release[n])) for n in range(5)]
    await asyncio.sleep(0)
    assert (entered, admission.working, admission.waiting) == ([0, 1], 2, 3)
    release[1].set()
    await asyncio.sleep(0.01)
    assert entered == [0, 1, 2]
    release[0].set()
    await asyncio.sleep(0.01)
    assert entered == [0, 1, 2, 3]
    for event in release:
        event.set()
    await asyncio.gather(*tasks)
    assert (entered, admission.working, admission.waiting) == ([0, 1, 2, 3, 4], 0, 0)


async def test_an_upload_is_refused_at_once_when_slots_and_queue_are_full() -> None:
    admission = Admission(slots=1, queue=1, wait_s=5)
    release = asyncio.Event()
    entered: list[int] = []
    tasks = [asyncio.create_task(_hold(admission, entered, n, release)) for n in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(Busy, match="1 uploads are being stored and 1 wait"):
        async with admission.slot():
            pytest.fail("a third upload must not get in")
    release.set()
    await asyncio.gather(*tasks)
    async with admission.slot():  # free again
        assert admission.working == 1


async def test_a_slot_is_given_back_when_the_upload_fails_or_its_wait_is_cancelled() -> None:
    admission = Admission(slots=1, queue=1, wait_s=5)
    with pytest.raises(RuntimeError):
        async with admission.slot():
            raise RuntimeError("Kafka away")
    assert admission.working == 0
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(admission, [], 0, release))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(_hold(admission, [], 1, release))
    await asyncio.sleep(0)
    assert admission.waiting == 1
    waiter.cancel()  # the client went away while waiting
    await asyncio.gather(waiter, return_exceptions=True)
    assert admission.waiting == 0
    release.set()
    await holder
    async with admission.slot():
        assert (admission.working, admission.waiting) == (1, 0)


async def test_an_upload_that_waits_too_long_is_refused_and_leaves_the_queue() -> None:
    """As while Kafka is away: the upload in the slot waits out the produce timeout."""
    admission = Admission(slots=1, queue=4, wait_s=0.05)
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(admission, [], 0, release))
    await asyncio.sleep(0)
    with pytest.raises(Busy, match=r"no upload slot came free within 0\.05 s"):
        async with admission.slot():
            pytest.fail("the slot was never free")
    assert (admission.working, admission.waiting) == (1, 0)
    release.set()
    await holder
    async with admission.slot():
        assert admission.working == 1


def test_an_admission_needs_a_slot_and_a_wait() -> None:
    with pytest.raises(ValueError):
        Admission(slots=0, queue=4, wait_s=5)
    with pytest.raises(ValueError):
        Admission(slots=1, queue=4, wait_s=0)
