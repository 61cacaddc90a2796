"""Fast decoding of the reading topics: msgspec twins of the event models, derived from them.

Validating a reading event with pydantic costs about 8 µs a reading, most of what a consumer
spends on it at tens of thousands of readings a second. msgspec validates the same JSON in
about a third of that. The twins are *derived* from the models when this module is imported
(field names, types, defaults, length and bound constraints, ``extra="forbid"``), so the
models stay the one definition of the events; a model feature the derivation does not know
(a validator, an alias, a type it has no rule for) fails the import instead of being skipped.

A twin is never more lenient than its model and is stricter than pydantic's lax mode (no
``"5"`` or ``5.0`` for an int, no Unix time for a datetime). Whatever a twin refuses goes to
the model, which gives the verdict and its reason, or accepts what lax mode accepts. So a
record is accepted or refused exactly as the model would, and what a twin accepts has the
model's values; ``tests/test_fast.py`` holds the twins to that with a differential property
test. A decoded event is then either a twin or a model: both have the same attributes, and
the code that reads them uses only those, telling events apart by ``type`` rather than by
class (``each_reading``, ``DECODED_READING_TYPES``).
"""

from __future__ import annotations

import functools
import operator
import types
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import annotated_types
import msgspec
from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo

from batteryhub_contracts.error_codes import Severity
from batteryhub_contracts.events import (
    MAX_READINGS_PER_RECORD,
    UPCASTERS,
    DecodedReadingEvent,
    EventCodec,
    RawReadingEvent,
    ReadingDecoded,
    ReadingFields,
    ReadingsDecoded,
    ReadingSource,
    TimeSource,
)
from batteryhub_contracts.ids import PUBLIC_ID_BITS, TIME_ORDERED_VERSION
from batteryhub_contracts.payload import METRIC_FIELDS, has_unicode_escape

_BOUNDS: dict[type, str] = {
    annotated_types.Gt: "gt",
    annotated_types.Ge: "ge",
    annotated_types.Lt: "lt",
    annotated_types.Le: "le",
    annotated_types.MinLen: "min_length",
    annotated_types.MaxLen: "max_length",
}
_SCALARS = (int, float, str, bool, uuid.UUID, type(None))
_AWARE = Annotated[datetime, msgspec.Meta(tz=True)]
_TAG = "type"

KnownKeys = frozenset[tuple[type[BaseModel], str, tuple[str, ...]]]
"""Maps whose keys are known in advance: (model, ``dict[str, X]`` field, its usual keys in
the order they usually come, which msgspec matches fastest)."""

GATEWAY_METRICS: KnownKeys = frozenset({(ReadingFields, "metrics", tuple(METRIC_FIELDS))})
"""The metric keys the gateway writes (a payload's other keys are counted, not kept), in
the order of the payload's table."""

_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= c <= 0x39 else c for c in range(256))
_MORE_THAN_MICROSECONDS = b"0:00.0000000"
"""A time of day with more than six digits of fraction (digits read as 0): pydantic
truncates them, msgspec rounds, so such a record is left to the model. Outside a string a
JSON number never follows a digit and a colon, so numbers do not match. (A C-speed scan:
about a sixth of a regular expression's time.)"""
# A ``\uXXXX`` escape (``has_unicode_escape``) can spell a time's digits, colon or dot past
# that scan (``00:00\u002e9999999Z``), so a record with one is left to the model too. This
# system's writers escape only control characters; such records are rare.


def _meta(metadata: list[Any]) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    for item in metadata:
        name = _BOUNDS.get(type(item))
        if name is None:
            raise TypeError(f"no msgspec twin for the constraint {item!r}")
        bounds[name] = getattr(item, name)
    return bounds


def _constrained(field_type: Any, bounds: dict[str, Any]) -> Any:
    """``field_type`` with ``bounds``; on an optional type they bound the value, not None
    (as pydantic applies them)."""
    if not bounds:
        return field_type
    if get_origin(field_type) in (Union, types.UnionType):
        return _union(
            a if a is type(None) else _constrained(a, bounds) for a in get_args(field_type)
        )
    return Annotated[field_type, msgspec.Meta(**bounds)]


def _union(members: Iterable[Any]) -> Any:
    """``A | B | ...`` over members known only at run time."""
    return functools.reduce(operator.or_, members)


def _twin_type(annotation: Any, known: KnownKeys = frozenset()) -> Any:
    """The msgspec type that accepts a subset of what ``annotation`` accepts, with the same
    values (but for the maps in ``known``, see ``twin``)."""
    if annotation is AwareDatetime:
        return _AWARE
    if annotation in _SCALARS:
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return twin(annotation, known)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal and all(type(a) in (str, int) for a in args):
        return annotation
    if origin in (Union, types.UnionType):
        return _union(_twin_type(a, known) for a in args)
    # Generic types built at run time from the twins' types: types.GenericAlias is what
    # ``dict[str, X]`` evaluates to, written out because X is a value here.
    if origin is dict and args[0] is str:
        return types.GenericAlias(dict, (str, _twin_type(args[1], known)))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return types.GenericAlias(tuple, (_twin_type(args[0], known), Ellipsis))
    if origin is Annotated:
        inner, *metadata = args
        bounds: list[Any] = []
        for item in metadata:
            if isinstance(item, FieldInfo):
                # A discriminated union: the twins of its members are tagged by ``type``.
                if item.discriminator != _TAG or item.metadata:
                    raise TypeError(f"no msgspec twin for {item!r}")
            else:
                bounds.append(item)
        return _constrained(_twin_type(inner, known), _meta(bounds))
    raise TypeError(f"no msgspec twin for the type {annotation!r}")


def _keyed_map(model: type[BaseModel], name: str, keys: tuple[str, ...], known: KnownKeys) -> Any:
    """``model.name``, a ``dict[str, X]``, as a struct of ``keys`` (each optional, of X's
    twin type) that refuses any other key: it accepts a subset of what the dict accepts. A
    struct matches its keys without building a string and a dict entry for each: the
    bench's 26 metrics validate in about half the time (~1.7 against ~3.4 µs a reading).
    msgspec expects a struct's keys in their declared order; in another order it matches
    them slower (reversed, ~1.3 µs a reading more than the map)."""
    info = model.model_fields[name]
    origin, args = get_origin(info.annotation), get_args(info.annotation)
    if origin is not dict or args[0] is not str or info.metadata:
        raise TypeError(f"{model.__name__}.{name} is not a plain dict[str, X]")
    value = _twin_type(args[1], known)
    return msgspec.defstruct(
        f"{model.__name__}_{name}",
        [(key, value, None) for key in keys],
        kw_only=True,
        forbid_unknown_fields=True,
        omit_defaults=True,  # written out, it holds the keys it was given (in its own order)
        module=__name__,
    )


@functools.cache
def twin(model: type[BaseModel], known: KnownKeys = frozenset()) -> type[msgspec.Struct]:
    """The msgspec struct with ``model``'s fields. A model whose ``type`` is a one-value
    literal becomes a struct tagged by it (and keeps ``type`` as a class attribute, so the
    twin reads like the model).

    A map named in ``known`` becomes a struct of its known keys (``_keyed_map``): such a
    twin accepts fewer records than the plain one, and its value there is not a dict, so it
    is only for a reader that never reads that map or reads it in either form (see
    ``FastEventCodec``)."""
    keyed = {(owner, field): keys for owner, field, keys in known}
    decorators = model.__pydantic_decorators__
    if any(
        getattr(decorators, kind)
        for kind in ("validators", "field_validators", "root_validators", "model_validators")
    ):
        raise TypeError(f"{model.__name__} has validators: a twin would skip them")
    extra = model.model_config.get("extra") or "ignore"
    if extra not in ("ignore", "forbid"):
        raise TypeError(f"{model.__name__} keeps extra fields: a twin would drop them")
    tag: str | None = None
    fields: list[Any] = []
    for name, info in model.model_fields.items():
        if info.alias or info.validation_alias:
            raise TypeError(f"{model.__name__}.{name} has an alias")
        literal = get_args(info.annotation) if get_origin(info.annotation) is Literal else ()
        if name == _TAG and len(literal) == 1 and info.default == literal[0]:
            tag = literal[0]
            continue
        keys = keyed.get((model, name))
        if keys is not None:
            field_type = _keyed_map(model, name, keys, known)
        else:
            field_type = _constrained(_twin_type(info.annotation, known), _meta(info.metadata))
        if info.default_factory is not None:
            raise TypeError(f"{model.__name__}.{name} has a default factory")
        if info.is_required():
            fields.append((name, field_type))
        else:
            fields.append((name, field_type, info.default))
    return msgspec.defstruct(
        model.__name__,
        fields,
        kw_only=True,
        frozen=bool(model.model_config.get("frozen")),
        forbid_unknown_fields=extra == "forbid",
        tag_field=_TAG if tag is not None else None,
        tag=tag,
        namespace={_TAG: tag} if tag is not None else {},
        module=__name__,
    )


class FastEventCodec:
    """Decodes one topic's bytes into the twin of its event (or, when the twin refuses them,
    into the model, which decides: an ``EventDecodeError`` or the lax-mode event).

    ``exact_times=False`` is for a reader that takes no time of day from the event it gets
    (the decoder writes the times on as they came): the scan for times pydantic would
    truncate is skipped, as it decides only values, never whether the bytes are accepted.

    ``known`` is for a reader that never reads the maps it names (the decoder writes the
    readings' metrics on as they came, the notifier ignores them) or reads both forms (the
    projector's ``_metrics``): a record whose maps hold only the known keys is
    decoded with those maps as structs (``twin``), any other by the plain twin, so the
    verdict is the model's all the same."""

    def __init__(
        self, event_type: Any, *, exact_times: bool = True, known: KnownKeys = frozenset()
    ) -> None:
        self.model_codec: EventCodec[Any] = EventCodec(event_type)
        twins = [_twin_type(event_type, known)] if known else []
        twins.append(_twin_type(event_type))
        self._decoders = tuple(msgspec.json.Decoder(t) for t in twins)
        self._exact_times = exact_times

    def decode(self, raw: bytes) -> Any:
        if UPCASTERS or (
            self._exact_times
            and (
                _MORE_THAN_MICROSECONDS in raw.translate(_DIGITS_AS_ZERO) or has_unicode_escape(raw)
            )
        ):
            return self.model_codec.decode(raw)
        for decoder in self._decoders:
            try:
                return decoder.decode(raw)
            except (msgspec.MsgspecError, ValueError):  # invalid UTF-8: UnicodeDecodeError
                continue
        return self.model_codec.decode(raw)


M = TypeVar("M", bound=BaseModel)


def as_model(value: Any, model: type[M]) -> M:
    """A decoded event as its model: itself, or its twin validated by the model from the
    twin's JSON (the same values: what a twin accepts, the model accepts alike). For the few
    events a consumer hands on to code written for the models."""
    if isinstance(value, model):
        return value
    return model.model_validate_json(encode_fast(value))


def _model_fields(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.__dict__  # a validated model's fields, by name, in the model's order
    raise NotImplementedError(f"cannot write {type(value).__name__} as JSON")


_ENCODER = msgspec.json.Encoder(enc_hook=_model_fields)


def encode_fast(data: Any) -> bytes:
    """An event's JSON data that may hold decoded events (twins or models) as a record's
    bytes: twins are written by msgspec as they are, models by their fields, each in its
    model's field order (NaN and infinities as null, as the models write them)."""
    return _ENCODER.encode(data)


READING_RECEIVED_FAST = FastEventCodec(RawReadingEvent)
READING_DECODED_FAST = FastEventCodec(DecodedReadingEvent)
READING_DECODED_KEYED = FastEventCodec(DecodedReadingEvent, known=GATEWAY_METRICS)
"""The decoded topic's codec for its consumers (the notifier and the projector): a reading
whose metrics hold only the gateway's keys has them as a struct of those keys (about 2 µs a
reading less than the map), with None for a key it lacks (a metric's value never is None);
any other reading has the map."""


def decoded_record_contract() -> dict[str, Any]:
    """What the compiled readers of the decoded topic (``libs/native``: the projector's rows,
    the notifier's fault scan) check a record against, from the models: the event types,
    the literals, the limits (and the metrics' keys in ``GATEWAY_METRICS``' order, handed
    over beside). They read only the shape the decoder writes and leave any other record to
    these twins and models."""
    (err_limit,) = (
        m.max_length
        for m in ReadingFields.model_fields["err"].metadata
        if isinstance(m, annotated_types.MaxLen)
    )
    return {
        "reading_type": ReadingDecoded.model_fields[_TAG].default,
        "readings_type": ReadingsDecoded.model_fields[_TAG].default,
        "max_per_record": MAX_READINGS_PER_RECORD,
        "max_err_length": err_limit,
        "public_id_bits": PUBLIC_ID_BITS,
        "time_ordered_version": TIME_ORDERED_VERSION,
        "time_sources": list(get_args(TimeSource)),
        "sources": list(get_args(ReadingSource)),
        "severities": list(get_args(Severity)),
    }
