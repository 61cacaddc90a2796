import pytest

from batteryhub_contracts.error_codes import ERROR_CODES, decode_error_string


def codes(err: str | None) -> list[str]:
    return [e.code for e in decode_error_string(err)]


@pytest.mark.parametrize(
    ("err", "expected_codes", "unknown"),
    [
        ("TG", ["T", "G"], []),
        ("L", ["L"], []),
        ("CBL", ["C", "B", "L"], []),
        ("X", ["X"], ["X"]),
        ("TXYZ", ["T", "X", "Y", "Z"], ["X", "Y", "Z"]),
        ("", [], []),
    ],
)
def test_accepted_scenarios_of_the_old_system_decode_as_before(err, expected_codes, unknown):
    decoded = decode_error_string(err)
    assert [e.code for e in decoded] == expected_codes
    assert [e.code for e in decoded if not e.known] == unknown


def test_unknown_code_is_kept_with_a_description_that_names_it():
    (error,) = decode_error_string("X")
    assert error.description == "Unknown error code: X"
    assert error.known is False


def test_known_code_carries_name_description_and_severity_from_the_table():
    (error,) = decode_error_string("T")
    assert (error.name, error.description, error.severity) == (
        "tempSensorError",
        "Temperature sensor error",
        "warning",
    )


def test_repeated_codes_in_one_string_collapse_and_keep_first_order():
    assert codes("GTTGG") == ["G", "T"]


def test_missing_err_decodes_to_nothing():
    assert decode_error_string(None) == ()


def test_separators_between_codes_are_ignored():
    assert codes("T, G") == ["T", "G"]


def test_codes_are_case_sensitive():
    assert codes("t") == ["t"]
    assert decode_error_string("t")[0].known is False


def test_table_has_the_nine_codes_of_the_wire_facts():
    assert sorted(ERROR_CODES) == sorted("RCUTBGSLD")
    assert {c: e.severity for c, e in ERROR_CODES.items()} == {
        "R": "warning",
        "C": "error",
        "U": "warning",
        "T": "warning",
        "B": "error",
        "G": "warning",
        "S": "warning",
        "L": "error",
        "D": "info",
    }
