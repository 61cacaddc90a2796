"""Properties of the ``err`` decoder over arbitrary strings."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from batteryhub_contracts.error_codes import ERROR_CODES, decode_error_string

SEPARATORS = " \t\r\n,;|"
err_strings = st.text(
    alphabet=st.sampled_from(sorted(ERROR_CODES)) | st.sampled_from(SEPARATORS) | st.characters(),
    max_size=255,
)
SETTINGS = settings(max_examples=300, deadline=None)


@SETTINGS
@given(err_strings)
def test_no_code_is_decoded_twice(err: str) -> None:
    codes = [e.code for e in decode_error_string(err)]
    assert len(codes) == len(set(codes))


@SETTINGS
@given(err_strings)
def test_codes_come_in_the_order_of_their_first_occurrence(err: str) -> None:
    codes = [e.code for e in decode_error_string(err)]
    assert codes == sorted(codes, key=err.index)


@SETTINGS
@given(err_strings)
def test_every_character_but_separators_is_represented_by_exactly_one_code(err: str) -> None:
    decoded = decode_error_string(err)
    assert {e.code for e in decoded} == set(err) - set(SEPARATORS)
    assert all(len(e.code) == 1 for e in decoded)


@SETTINGS
@given(err_strings)
def test_known_codes_decode_to_the_table_and_unknown_ones_are_kept_as_warnings(err: str) -> None:
    for error in decode_error_string(err):
        if error.code in ERROR_CODES:
            assert error == ERROR_CODES[error.code]
        else:
            assert not error.known
            assert error.severity == "warning"
            assert error.code in error.description


@SETTINGS
@given(err_strings, st.text(alphabet=SEPARATORS, max_size=3))
def test_separators_and_repeats_change_nothing(err: str, separator: str) -> None:
    spread = separator.join(err) + err
    assert decode_error_string(spread) == decode_error_string(err)
