"""The one way to run a consumer: a FastStream batch subscriber with at-least-once delivery.

- Offsets are committed only after the batch's effects are durable and its outgoing events
  acknowledged; a failure seeks back and redelivers. Commits are not waited for: the next
  batch is handled meanwhile (one commit in flight, in order, the offsets of the batches
  done meanwhile in the next; ``stop`` waits for them).
- A handler whose effects are visible before they are durable (the projector commits
  asynchronously) gives a ``Durability``: offsets are committed once it confirms the effects
  durable, and if it cannot, the batches since the last commit are taken again.
- Two batches are worked on at once, in two stages: the next batch is fetched and decoded
  while this one's effects run (its handler, its outgoing events' acknowledgements), so the
  processor decodes while the database or the broker does its part. Effects run one batch
  at a time, in log order; a failed batch is sought back and the one taken past it too.
- Bytes that are not a valid event go to the dead-letter topic with topic, partition, offset
  and reason in headers; the consumer carries on.
- A transient failure (broker or database away) is retried after a growing pause, so an
  outage does not spin. Any other failure of a batch is retried record by record, and the
  record that still fails is dead-lettered with its reason instead of blocking its partition.
- A watchdog restarts the Kafka consumer when, with the broker answering, the group has
  records to take and none was handed to the handler for ``stall_after_s`` (aiokafka has been
  seen to stop fetching for good after a broker crash). The stacks of the client's tasks go
  to the log first, so the cause can be found.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import IllegalStateError
from aiokafka.helpers import create_ssl_context
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from prometheus_client import Counter, Gauge, Histogram

from batteryhub_contracts.events import Codec, EventDecodeError
from batteryhub_contracts.topics import (
    HEADER_CORRELATION_ID,
    HEADER_DLQ_CONSUMER,
    HEADER_DLQ_OFFSET,
    HEADER_DLQ_PARTITION,
    HEADER_DLQ_REASON,
    HEADER_DLQ_TOPIC,
)
from batteryhub_platform.errors import default_is_transient
from batteryhub_platform.kafka import (
    PRODUCER_BATCH_BYTES,
    EventPublisher,
    KafkaConnection,
    Outgoing,
    RawOutgoing,
)
from batteryhub_platform.offsets import Positions, group_positions

log = logging.getLogger(__name__)

E = TypeVar("E")

MESSAGES = Counter(
    "consumer_messages_total", "Records consumed, by outcome", ["group", "topic", "outcome"]
)
DEAD_LETTERS = Counter("dead_letters_total", "Records sent to the dead-letter topic", ["group"])
BATCH_SECONDS = Histogram(
    "consumer_batch_seconds",
    "Time to process one batch, effects and acknowledgements included",
    ["group"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RETRIES = Counter("consumer_retries_total", "Batches retried after a failure", ["group", "kind"])
LAG = Gauge(
    "consumer_lag",
    "Records not yet committed by the group, on every partition of its topics (each replica "
    "of a group reports all of them: aggregate with max by partition, not sum)",
    ["group", "topic", "partition"],
)
RESTARTS = Counter(
    "consumer_restarts_total",
    "Times the watchdog restarted a consumer that had records to take and took none",
    ["group"],
)


POLL_TIMEOUT_MS = 200
"""How long one poll waits for records (it returns with the first); also how long a stop
may wait for the poll in progress."""

FETCH_BYTES = 2 * PRODUCER_BATCH_BYTES
"""What one fetch brings at most, from one partition or all of them. A partition's limit
below the producers' record batches (it was 256 KB against 512 KB batches) stalls the
consumer: the broker returns a batch over the partition's limit only when that partition
comes first in the response, so a fetch whose first partition was empty or drained brought
nothing usable from the others and the broker held it for ``fetch_max_wait_ms`` (500 ms).
Draining 1,200 decoded records of ~120 KB with a 110 ms handler, one fetch in five waited
~390 ms that way: the projector sat idle for half its drain."""


@dataclass(frozen=True)
class Incoming(Generic[E]):
    event: E
    topic: str
    partition: int
    offset: int
    correlation_id: str | None


BatchHandler = Callable[[list[Incoming[Any]]], Awaitable[Sequence[Outgoing | RawOutgoing]]]


def pause_after_unconfirmed(in_a_row: int) -> float:
    """Seconds to wait before batches are taken again after ``in_a_row`` confirms failed:
    none after the first (a database restart: take them again at once), then from 0.2 s,
    doubling, to at most 5 s (a confirm that cannot succeed, as when a grant is missing)."""
    return 0.0 if in_a_row < 2 else min(0.2 * 2 ** (in_a_row - 2), 5.0)


class Durability(Protocol):
    """Tells when a handler's effects, visible once it returns, are durable too: for a
    handler that does not wait for its writes to reach the disk (PostgreSQL's asynchronous
    commit, ``batteryhub_platform.db.FlushWitness``).

    ``watch`` begins a watch; it is called before the first batch, and again before batches
    are taken again, and never raises. ``confirm`` returns once every effect that ended
    since the watch began is durable, and raises when it cannot tell (the server went away,
    maybe with them); the runner then takes again every batch since its last commit, under
    a new watch. ``close`` ends the watch when the runner stops."""

    async def watch(self) -> None: ...

    async def confirm(self) -> None: ...

    async def close(self) -> None: ...


T = TypeVar("T")


class ReducingCodec(Generic[T]):
    """A topic's codec followed by a pure function of what it decoded, run on each record as
    the runner reads it: the handler gets what the consumer keeps of a record (the decoder's
    output bytes, the notifier's faulty readings), and a record's decoded objects are dropped
    before the next is read instead of a fetch's worth living until the handler is done.

    A record the codec refuses is its ``EventDecodeError``; one that ``reduce`` fails on is
    turned into one (the function is pure, so it would fail on every redelivery), and either
    goes to the dead letters with its reason."""

    def __init__(self, codec: Codec, reduce: Callable[[Any], T]) -> None:
        self._codec = codec
        self._reduce = reduce

    def decode(self, raw: bytes) -> T:
        event = self._codec.decode(raw)
        try:
            return self._reduce(event)
        except Exception as exc:
            raise EventDecodeError(f"decoding failed: {type(exc).__name__}: {exc}") from exc


def _text(value: bytes | None) -> str | None:
    return value.decode("utf-8", "replace") if value is not None else None


async def _total_headers(msg: Any, original_parser: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream's parser decodes every header value as UTF-8; a None or binary header from
    a foreign producer would make it drop the record silently. Make headers decodable first."""

    def clean(record: ConsumerRecord) -> ConsumerRecord:
        if all(v is not None and v.isascii() for _, v in record.headers):
            return record  # what this system's producers write: decodable as it is
        headers = [(k, (v or b"").decode("utf-8", "replace").encode()) for k, v in record.headers]
        return dataclasses.replace(record, headers=headers)

    if isinstance(msg, tuple):
        return await original_parser(tuple(clean(r) for r in msg))
    return await original_parser(clean(msg))


def faststream_security(connection: KafkaConnection) -> BaseSecurity | None:
    """The same TLS / SASL settings the producers use, in FastStream's terms."""
    tls = connection.security_protocol in ("SSL", "SASL_SSL")
    context = create_ssl_context() if tls else None
    if connection.security_protocol.startswith("SASL"):
        mechanism = {
            "PLAIN": SASLPlaintext,
            "SCRAM-SHA-256": SASLScram256,
            "SCRAM-SHA-512": SASLScram512,
        }.get((connection.sasl_mechanism or "PLAIN").upper())
        if mechanism is None:
            raise ValueError(f"unsupported SASL mechanism {connection.sasl_mechanism!r}")
        return mechanism(
            connection.sasl_username or "",
            connection.sasl_password or "",
            ssl_context=context,
            use_ssl=tls,
        )
    return BaseSecurity(ssl_context=context, use_ssl=True) if tls else None


def _quiet_logger(group_id: str) -> logging.Logger:
    # Not under "faststream": that logger has FastStream's own (non-JSON) handler.
    logger = logging.getLogger(f"batteryhub.consumer.{group_id}")
    logger.setLevel(logging.WARNING)
    return logger


STOP_WAIT_S = 10.0
"""How long ``stop`` lets a batch's effects in progress end before it cancels them (a batch
takes well under a second; the chart gives a pod 30 s from SIGTERM to stop)."""

BATCH_BYTES = 4 * FETCH_BYTES
"""What the record values of one batch hold at most, about, as the handler gets them: 4 MiB,
~31 upload records of ~135 KB (~6,000 readings). Each record is reduced as it is read
(``ReducingCodec``), so a batch holds what the handler keeps of it, not its decoded events
(when it did, a batch of 500 upload records made the projector pass 300 MB). A consumer
that falls behind catches up in batches this big: at 1 MiB (~8 upload records) it paid a
transaction, a produce and a commit for every few records, and with 18,000 readings/s
offered the pipeline got ~12,000/s through. 4 MiB and 8 MiB carried 20,000/s alike, at the
same CPU a reading, and at 8 MiB the projector passed 150 MB catching up (179 MB, against
135 at 4 MiB; docs/decisions.md). A reading behind such a batch waits for all of it.
A fetch's limit counts the bytes Kafka holds, compressed (zstd, ~10x): a 1 MiB fetch
brings ~75 upload records."""

_UPLOAD_RECORD_BYTES = 128 * 1024
"""What a batch assumes of its records' size until it has seen one: an upload record's."""


class _TakeBatch:
    """The subscriber's poll: the next batch, as soon as the fetcher has one, of at most as
    many records as ``BATCH_BYTES`` holds of the largest seen lately.

    FastStream's own ``get_msg`` waits ``batch_timeout_ms`` for records and, finding none,
    sleeps as long again before its next wait; a record that arrives during the sleep waits
    for it, at every hop of the pipeline (~5 ms on average at 10 ms, the median POST →
    stored went from 42.8 to 33.9 ms without it). Here an empty wait returns at once: the
    consume loop calls again, and the next wait returns when a record arrives.

    The size a batch may take is learnt from the records: the largest value of each batch,
    or the one remembered, shrunk by a tenth a batch so that small records (single readings)
    get full batches back soon after the last upload's. Until a record is seen, a batch
    takes as many as BATCH_BYTES holds of upload records."""

    def __init__(self, max_records: int) -> None:
        self._max_records = max_records
        self._largest: float = _UPLOAD_RECORD_BYTES

    @property
    def limit(self) -> int:
        return max(1, min(self._max_records, int(BATCH_BYTES / self._largest)))

    async def __call__(self, consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord, ...]:
        batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=self.limit)
        records = tuple(record for records in batches.values() for record in records)
        if records:
            seen = max(len(record.value or b"") for record in records)
            self._largest = max(seen, self._largest * 0.9, 1.0)
        return records


@dataclass
class _Decoded:
    """A batch's records as the handler gets them, and the dead letters of those that are
    no event."""

    good: list[Incoming[Any]]
    dead: list[RawOutgoing]


Rewound = dict[TopicPartition, int]
"""Where a failed batch's partitions were sought back to: its first record on each."""


def _rewind(
    consumer: Any, records: Sequence[ConsumerRecord], failed: Rewound | None = None
) -> Rewound:
    """Seek each partition of ``records`` back to its first record there, or to where a
    ``failed`` batch before it was sought, if that is earlier, so that the consumer takes
    them again; records it had fetched past that are dropped. (This batch may have been
    taken past the failed one, or be the failed one taken again after its seek: either
    way, each partition begins at the failed batch's first record, or this batch's.)

    A partition no longer assigned is left to its new owner, which begins at the group's
    committed offset. Returns where each partition of ``records`` was sought."""
    earliest: Rewound = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        earliest[tp] = min(earliest.get(tp, record.offset), record.offset)
    for tp, offset in earliest.items():
        earliest[tp] = min(offset, (failed or {}).get(tp, offset))
        try:
            consumer.seek(tp, earliest[tp])
        except IllegalStateError:
            log.info("partition no longer assigned: not sought back", extra={"tp": str(tp)})
        except Exception as exc:  # a consumer stopped meanwhile: its successor begins at
            # the committed offset, which is before these records
            log.warning("not sought back", extra={"tp": str(tp), "error": repr(exc)})
    return earliest


async def _no_body(_: Any) -> None:
    """Bodies are decoded by our codecs, record by record, so one bad record is isolated."""
    return None


class ConsumerRunner:
    def __init__(
        self,
        *,
        connection: KafkaConnection,
        group_id: str,
        codecs: Mapping[str, Codec],
        handler: BatchHandler,
        publisher: EventPublisher,
        dead_letter_topic: str,
        max_records: int = 500,
        is_transient: Callable[[BaseException], bool] = default_is_transient,
        fetch_bytes: int = FETCH_BYTES,
        stall_after_s: float = 30.0,
        watch_every_s: float = 5.0,
        durability: Durability | None = None,
    ) -> None:
        self.group_id = group_id
        self._connection = connection
        self._stall_after_s = stall_after_s
        self._watch_every_s = watch_every_s
        self._batches = 0
        """Batches handed to the handler so far (successful or not): the watchdog's pulse."""
        self._consuming = False
        self._watch_clients: tuple[AIOKafkaAdminClient, AIOKafkaConsumer] | None = None
        self._codecs = dict(codecs)
        self._handler = handler
        self._publisher = publisher
        self._dead_letter_topic = dead_letter_topic
        self._is_transient = is_transient
        self._backoff_s = 0.0
        self._watch_task: asyncio.Task[None] | None = None
        self._commit_task: asyncio.Task[None] | None = None
        self._to_commit: dict[TopicPartition, int] = {}
        """Offsets of batches done and not yet in a commit."""
        self._commit_client: Any = None
        self._durability = durability
        self._redo = False
        """Set when ``durability`` could not confirm effects: until the consumer is sought
        back to the group's committed offsets, nothing is committed."""
        self._unconfirmed = 0
        """Confirms failed in a row: from the second, batches are taken again only after a
        pause, so a confirm that cannot succeed (a grant missing) is not a tight loop."""
        self._effects_task: asyncio.Task[Rewound | None] | None = None
        self._stopping = False
        """Set by ``stop``: a batch handed over after it is not begun."""
        self.broker = KafkaBroker(
            connection.bootstrap_servers,
            security=faststream_security(connection),
            allow_auto_create_topics=False,
            client_id=group_id,
            # FastStream logs every message at INFO; at thousands per second that is the
            # bottleneck, so its logger reports warnings and errors only.
            logger=_quiet_logger(group_id),
        )
        self.subscriber = self.broker.subscriber(
            *self._codecs,
            group_id=group_id,
            batch=True,
            max_records=max_records,
            # A batch-upload record carries up to 200 readings (~130 KB): bounding each fetch
            # by bytes, not only by records, keeps what the client holds small (1 MB *per
            # partition* let the projector hold ~10,000 decoded readings at once and pass
            # 150 MB). The bound is on the whole fetch; a partition may fill it, see
            # FETCH_BYTES. It counts compressed bytes: a batch's own bound is the poll's
            # (``_TakeBatch``, BATCH_BYTES).
            fetch_max_bytes=fetch_bytes,
            max_partition_fetch_bytes=fetch_bytes,
            auto_offset_reset="earliest",
            # Offsets are committed here (``_commit_after``), not by FastStream.
            ack_policy=AckPolicy.MANUAL,
            decoder=_no_body,
            parser=_total_headers,
        )
        # FastStream starts a subscriber's consume loop only once it has a handler; this
        # one is what FastStream's own pipeline calls (see ``_consume`` for the loop's).
        self.subscriber(self._on_batch)
        # FastStream has no option or hook for how its batch subscriber polls or hands a
        # batch on, and builds the subscriber itself (no subclass can be given): its consume
        # loop's two steps are replaced on the instance (mypy refuses any assignment to a
        # method; the replacements keep the methods' signatures).
        self.subscriber.get_msg = _TakeBatch(max_records)  # type: ignore[method-assign]
        self.subscriber.consume_one = self._consume  # type: ignore[method-assign]

    async def start(self) -> None:
        self._stopping = False
        if self._durability is not None:
            await self._durability.watch()
        await self.broker.start()
        self._consuming = True
        self._watch_task = asyncio.create_task(self._watch(), name=f"{self.group_id}-watch")

    async def stop(self) -> None:
        """Let the batch whose effects are running end and commit it, then stop. A batch
        handed over from now on is not begun: its outgoing records would be written and its
        offsets not committed, so the next consumer would write them again."""
        self._stopping = True
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
        await self._close_watch_clients()
        await self._finish_effects(STOP_WAIT_S)
        try:
            async with asyncio.timeout(STOP_WAIT_S):
                await self._committed()
        except TimeoutError:  # the next consumer of the group takes those records again
            log.warning("offsets not committed in time; left", extra={"wait_s": STOP_WAIT_S})
            await self._abandon_commit()
        if self._durability is not None:
            await self._durability.close()
        await self.broker.stop()

    async def _consume(self, msg: tuple[ConsumerRecord, ...]) -> None:
        """The consume loop's batch, straight from the poll to ``_take``. FastStream's own
        step puts each batch through its message pipeline (context scopes, middlewares, a
        parse of every record's headers, the handler's dependency injection) only for the
        handler to take the records back out: ~1 ms a batch on an idle system; under load
        it took ~3 ms off the median of a reading's hop through the decoder
        (docs/decisions.md).

        Whatever escaped ``_take`` would have ended the consume loop (FastStream's step
        logged it and dropped the batch, whose offsets the next batch's commit then passed):
        it is logged and the batch is taken again, after the pause a failed batch waits."""
        consumer = self.subscriber.consumer
        try:
            await self._take(msg, consumer)
        except Exception as exc:
            log.exception("a batch failed outside its effects; taken again")
            await self._pause_before_retry(exc)
            _rewind(consumer, msg)

    async def _on_batch(self, _: None, msg: KafkaMessage) -> None:
        await self._take(msg.raw_message, msg.consumer)

    async def _take(self, records: tuple[ConsumerRecord, ...], consumer: Any) -> None:
        """Decode this batch while the batch before's effects run; once those are done,
        start this batch's effects and return, so that the consume loop fetches and decodes
        the next batch while they run. Effects stay in log order, one batch's at a time, so
        a read event never reaches the database before its notification does, whatever
        batches they came in.

        If the batch before failed, its partitions were sought back to it, and this batch
        is not handled: its own partitions are sought back too (``_rewind``), and both come
        again."""
        self._batches += 1
        started = time.perf_counter()
        failure: Exception | None = None
        try:
            decoded = self._decode_all(records)
        except Exception as exc:  # a codec that broke its contract: treated as a failed batch
            decoded, failure = _Decoded([], []), exc
        decoding_s = time.perf_counter() - started
        failed_before = await self._settled()
        if self._redo and not self._stopping:
            await self._take_again_from_committed(consumer)
            return
        if failed_before is not None:
            _rewind(consumer, records, failed_before)
            return
        if self._stopping:  # its commit could not land: the group's next consumer takes it
            return
        if failure is not None:
            await self._pause_before_retry(failure)
            _rewind(consumer, records)
            return
        self._effects_task = asyncio.create_task(
            self._apply(decoded, records, consumer, decoding_s),
            name=f"{self.group_id}-effects",
        )
        # Let the effects begin (send their first statement or records) before the next
        # batch is fetched and decoded: a poll that finds records waiting returns without
        # yielding, and this batch's effects would wait for the next batch's decoding.
        await asyncio.sleep(0)

    async def _apply(
        self,
        decoded: _Decoded,
        records: tuple[ConsumerRecord, ...],
        consumer: Any,
        decoding_s: float,
    ) -> Rewound | None:
        """A batch's effects, then its commit (not waited for). On failure, after a pause,
        the batch's partitions are sought back to it, so that it is delivered again, and
        where is returned; None when the batch is done."""
        started = time.perf_counter()
        try:
            await self._process(decoded, records)
        except Exception as exc:
            await self._pause_before_retry(exc)
            return _rewind(consumer, records)
        self._backoff_s = 0.0
        BATCH_SECONDS.labels(self.group_id).observe(decoding_s + time.perf_counter() - started)
        self._commit_after(consumer, records)
        return None

    async def _settled(self) -> Rewound | None:
        """Wait for the effects in progress, if any: where their batch was sought back to if
        they failed, else None. Shielded: when the consume loop is cancelled (the broker
        stopping, a restart), the effects it waits for go on, and ``stop`` waits for them."""
        task = self._effects_task
        if task is None:
            return None
        failed = await asyncio.shield(task)
        if self._effects_task is task:
            self._effects_task = None
        return failed

    async def _finish_effects(self, timeout_s: float) -> None:
        """Let the effects in progress end, for at most ``timeout_s``, then cancel them: their
        batch is not committed, and whoever consumes next takes it again."""
        task = self._effects_task
        if task is None:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await self._settled()
        except TimeoutError:
            log.warning("a batch's effects did not end; cancelled", extra={"wait_s": timeout_s})
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._effects_task is task:
            self._effects_task = None

    def _commit_after(self, consumer: Any, records: Sequence[ConsumerRecord]) -> None:
        """Commit past ``records`` without waiting: the next batch is handled meanwhile. One
        commit is in flight at most; the batches done while it is take the next one
        together, so a later commit never lands before an earlier one. A commit that fails
        (a rebalance, the broker away) is covered by the next, which names later offsets;
        lost for good, it means only that those records are delivered again, as any
        at-least-once consumer allows."""
        if self._redo:  # these records are taken again: nothing past them is committed
            return
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            self._to_commit[tp] = max(self._to_commit.get(tp, 0), record.offset + 1)
        self._commit_client = consumer
        if self._commit_task is None or self._commit_task.done():
            self._commit_task = asyncio.create_task(
                self._commit_pending(), name=f"{self.group_id}-commit"
            )

    async def _commit_pending(self) -> None:
        """Commit what is done, in turns, until nothing is left; with a ``Durability``,
        each turn once it confirms the effects durable."""
        while self._to_commit and not self._redo:
            offsets, self._to_commit = self._to_commit, {}
            if self._durability is not None:
                try:
                    await self._durability.confirm()
                    self._unconfirmed = 0
                except Exception as exc:
                    self._unconfirmed += 1
                    log.warning(
                        "effects not confirmed durable; taking again every batch since the "
                        "last commit",
                        extra={"error": f"{type(exc).__name__}: {exc}"[:500]},
                    )
                    RETRIES.labels(self.group_id, "not_durable").inc()
                    self._redo, self._to_commit = True, {}
                    return
            await self._commit(self._commit_client, offsets)

    async def _commit(self, consumer: Any, offsets: dict[TopicPartition, int]) -> None:
        try:
            await consumer.commit(offsets)
        except Exception as exc:
            log.info("offset commit failed; a later one covers it", extra={"error": repr(exc)})

    async def _committed(self) -> None:
        """Wait until what is done is committed (or given up, see ``_commit_pending``)."""
        while (task := self._commit_task) is not None and not task.done():
            await task

    async def _abandon_commit(self) -> None:
        """Cancel the commit in flight. A stopped Kafka consumer's commit may never end
        (aiokafka's closing coordinator retries it as a retriable error), and while it runs
        no other commit begins; what it held is taken again by the group's next consumer."""
        task, self._commit_task = self._commit_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _take_again_from_committed(self, consumer: Any) -> None:
        """Effects since the last commit may be lost (``Durability.confirm`` failed): under
        a new watch, seek every partition this consumer holds back to the group's committed
        offset (or to the beginning, with none: ``auto_offset_reset``), so that each batch
        since is taken again. The batch in hand is dropped: it comes again too. Should the
        broker not answer, the next batch tries again."""
        assert self._durability is not None  # only a confirm can ask for this
        if pause_s := pause_after_unconfirmed(self._unconfirmed):
            await asyncio.sleep(pause_s)
        await self._durability.watch()
        try:
            for tp in consumer.assignment():
                offset = await consumer.committed(tp)
                if offset is None:
                    await consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, offset)
        except Exception as exc:
            await self._pause_before_retry(exc)
            return
        self._redo = False

    def _decode_all(self, records: Sequence[ConsumerRecord]) -> _Decoded:
        decoded = _Decoded([], [])
        for record in records:
            try:
                decoded.good.append(self._decode(record))
            except EventDecodeError as exc:
                decoded.dead.append(self._dead_letter(record, f"undecodable event: {exc}"))
        return decoded

    async def _process(self, decoded: _Decoded, records: Sequence[ConsumerRecord]) -> None:
        good, dead = decoded.good, decoded.dead
        if dead:
            await self._publisher.publish_many(dead)
            self._count_dead(dead)
        if not good:
            return
        try:
            outgoing = await self._handler(good)
        except Exception as exc:
            if self._is_transient(exc):
                raise
            log.warning("batch failed; retrying record by record", exc_info=exc)
            RETRIES.labels(self.group_id, "isolate").inc()
            outgoing = await self._one_by_one(good, records)
        if outgoing:
            await self._publisher.publish_many(outgoing)
        for topic, count in collections.Counter(item.topic for item in good).items():
            MESSAGES.labels(self.group_id, topic, "processed").inc(count)

    async def _one_by_one(
        self,
        items: list[Incoming[Any]],
        records: Sequence[ConsumerRecord],
    ) -> list[Outgoing | RawOutgoing]:
        by_position = {(r.topic, r.partition, r.offset): r for r in records}
        outgoing: list[Outgoing | RawOutgoing] = []
        for item in items:
            try:
                outgoing.extend(await self._handler([item]))
            except Exception as exc:
                if self._is_transient(exc):
                    raise
                record = by_position[(item.topic, item.partition, item.offset)]
                letter = self._dead_letter(
                    record, f"processing failed: {type(exc).__name__}: {exc}"
                )
                await self._publisher.publish_many([letter])
                self._count_dead([letter])
        return outgoing

    def _decode(self, record: ConsumerRecord) -> Incoming[Any]:
        if record.value is None:
            raise EventDecodeError("empty record")
        event = self._codecs[record.topic].decode(record.value)
        cid = _text(dict(record.headers).get(HEADER_CORRELATION_ID))
        return Incoming(event, record.topic, record.partition, record.offset, cid)

    def _dead_letter(self, record: ConsumerRecord, reason: str) -> RawOutgoing:
        log.error(
            "dead-lettering a record",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "reason": reason[:300],
            },
        )
        headers = [
            *[(k, v) for k, v in record.headers if not k.startswith("dlq-")],
            (HEADER_DLQ_TOPIC, record.topic.encode()),
            (HEADER_DLQ_PARTITION, str(record.partition).encode()),
            (HEADER_DLQ_OFFSET, str(record.offset).encode()),
            (HEADER_DLQ_REASON, reason[:1000].encode()),
            (HEADER_DLQ_CONSUMER, self.group_id.encode()),
        ]
        return RawOutgoing(self._dead_letter_topic, record.key, record.value, headers)

    def _count_dead(self, letters: list[RawOutgoing]) -> None:
        DEAD_LETTERS.labels(self.group_id).inc(len(letters))
        for letter in letters:
            topic = dict(letter.headers).get(HEADER_DLQ_TOPIC, b"").decode()
            MESSAGES.labels(self.group_id, topic, "dead_letter").inc()

    async def _pause_before_retry(self, exc: Exception) -> None:
        kind = "transient" if self._is_transient(exc) else "error"
        RETRIES.labels(self.group_id, kind).inc()
        self._backoff_s = min(max(self._backoff_s * 2, 0.2), 5.0)
        log.warning(
            "batch failed; will be redelivered",
            extra={"error": f"{type(exc).__name__}: {exc}"[:500], "pause_s": self._backoff_s},
        )
        await asyncio.sleep(self._backoff_s)

    # --- the watchdog -----------------------------------------------------------------

    async def _watch(self) -> None:
        """Every ``watch_every_s``: publish the lag, and restart this consumer when it is
        stuck: for ``stall_after_s`` it handed no batch to the handler while partitions it
        holds (or, holding none, every partition with lag) had records to take and no
        commit moved them. Partitions another replica is working through do not count, so a
        replica idle beside a busy one is not restarted. A broker that does not answer stops
        the clock (waiting out an outage is no stall); a restart that could not start the
        consumer again is retried at the next tick."""
        quiet_since: float | None = None
        at_start: dict[TopicPartition, int] = {}
        pulse = self._batches
        while True:
            await asyncio.sleep(self._watch_every_s)
            try:
                async with asyncio.timeout(max(self._watch_every_s * 2, 10)):
                    positions = await self._positions()
            except Exception as exc:  # the broker is away or was restarted: judge nothing
                log.debug("lag not measured", extra={"error": repr(exc)})
                await self._close_watch_clients()
                quiet_since = None
                continue
            if not self._consuming:
                await self.restart("the last restart did not start the consumer")
                continue
            took = self._batches != pulse
            pulse = self._batches
            lagging = {tp for tp, (done, end) in positions.items() if end > done}
            if took or not lagging:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
                at_start = {tp: done for tp, (done, _) in positions.items()}
            elif time.monotonic() - quiet_since >= self._stall_after_s:
                quiet_since = None
                stuck = {tp for tp in lagging if positions[tp][0] == at_start.get(tp)}
                held = self._held()
                if (held & stuck) or (not held and stuck == lagging):
                    behind = sum(positions[tp][1] - positions[tp][0] for tp in stuck)
                    await self.restart(
                        f"{behind} records on {len(stuck)} partitions to take, none taken "
                        f"for {self._stall_after_s:g} s"
                    )

    def _held(self) -> set[TopicPartition]:
        """The partitions this consumer holds now (its own view: no broker call)."""
        consumer = self.subscriber.consumer
        return set(consumer.assignment()) if consumer is not None else set()

    async def restart(self, reason: str) -> None:
        """Stop the Kafka consumer and start a new one. Offsets are committed only after a
        batch's effects, so the new consumer goes on from the first record not done."""
        log.error(
            "consumer stalled; restarting it",
            extra={"group": self.group_id, "reason": reason, "stacks": _client_stacks()},
        )
        RESTARTS.labels(self.group_id).inc()
        self._consuming = False
        try:
            async with asyncio.timeout(30):
                await self.broker.stop()
        except Exception as exc:  # a wedged client may not close cleanly; it is replaced
            log.warning("stopping the stalled consumer failed", extra={"error": repr(exc)})
        await self._finish_effects(0)  # stuck, maybe: the new consumer takes their batch again
        await self._abandon_commit()
        # The new consumer begins at the group's committed offsets: what was done and not
        # committed yet is taken again, so its offsets are not committed.
        self._to_commit, self._redo = {}, False
        try:
            async with asyncio.timeout(60):
                if self._durability is not None:
                    await self._durability.watch()
                await self.broker.start()
        except Exception as exc:
            log.warning("restarting the consumer failed; retrying", extra={"error": repr(exc)})
            return
        self._consuming = True

    async def update_lag(self) -> int:
        """Records on the subscribed topics not yet committed by the group."""
        return sum(end - done for done, end in (await self._positions()).values())

    async def _positions(self) -> Positions:
        """The group's positions on its topics, measured with clients of its own (not the
        consumer's, which may be the one that is stuck); publishes ``consumer_lag``."""
        admin, consumer = await self._clients()
        positions = await group_positions(admin, consumer, self.group_id, self._codecs)
        if not positions:
            raise RuntimeError("no partitions described")
        for tp, (done, end) in positions.items():
            LAG.labels(self.group_id, tp.topic, str(tp.partition)).set(end - done)
        return positions

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._watch_clients is None:
            kwargs = self._connection.client_kwargs()
            admin = AIOKafkaAdminClient(client_id=f"{self.group_id}-watch", **kwargs)
            # No topics and no group: it only asks for end offsets, it never fetches.
            consumer = AIOKafkaConsumer(client_id=f"{self.group_id}-watch", **kwargs)
            try:
                await admin.start()
                await consumer.start()
            except BaseException:
                await _close(admin, consumer)
                raise
            self._watch_clients = (admin, consumer)
        return self._watch_clients

    async def _close_watch_clients(self) -> None:
        if self._watch_clients is not None:
            clients, self._watch_clients = self._watch_clients, None
            await _close(*clients)


async def _close(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> None:
    for close in (consumer.stop, admin.close):
        try:
            async with asyncio.timeout(10):
                await close()
        except Exception as exc:  # a client of a dead connection may fail to close
            log.debug("closing a watch client failed", extra={"error": repr(exc)})


def _client_stacks() -> str:
    """Where each Kafka client task is waiting (aiokafka's fetcher and coordinator, the
    FastStream consume loop): what to read when a consumer stalled."""
    stacks = []
    for task in asyncio.all_tasks():
        frames = task.get_stack()
        where = " <- ".join(
            f"{'/'.join(f.f_code.co_filename.rsplit('/', 2)[-2:])}:{f.f_lineno} {f.f_code.co_name}"
            for f in frames
        )
        if "aiokafka" in where or "faststream" in where or "consumer" in where:
            stacks.append(f"{task.get_name()}: {where}")
    return "\n".join(stacks)[:8000]
