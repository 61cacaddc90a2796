"""A codec followed by a function of what it decoded: what the codec refuses stays its
refusal, and a failure of the function becomes a refusal too (the dead letters, not a
batch retried for ever)."""

import pytest

from batteryhub_contracts.events import EventDecodeError
from batteryhub_platform.consumer import ReducingCodec


class Digits:
    def decode(self, raw: bytes) -> int:
        if not raw.isdigit():
            raise EventDecodeError(f"not digits: {raw!r}")
        return int(raw)


def test_the_function_gets_what_the_codec_decoded():
    assert ReducingCodec(Digits(), lambda n: n * 2).decode(b"21") == 42


def test_a_refusal_keeps_the_codecs_reason():
    with pytest.raises(EventDecodeError, match="not digits"):
        ReducingCodec(Digits(), lambda n: n).decode(b"x")


def test_a_failing_function_is_a_refusal_with_its_reason():
    with pytest.raises(EventDecodeError, match="decoding failed: ZeroDivisionError"):
        ReducingCodec(Digits(), lambda n: 1 / n).decode(b"0")
