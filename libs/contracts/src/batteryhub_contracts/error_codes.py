"""The device fault-code table (WIRE-FACTS §1) and the decoder of an ``err`` string.

Pure: no I/O, no framework. Every service that needs a code's meaning imports it from here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Severity = Literal["info", "warning", "error"]

MAX_ERR_LENGTH = 255
UNKNOWN_SEVERITY: Severity = "warning"
"""Severity given to a code missing from the table: firmware newer than this table should
still reach a person, so it is not muted as ``info``."""


class DecodedError(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    description: str
    severity: Severity
    known: bool = True


def _known(code: str, name: str, description: str, severity: Severity) -> DecodedError:
    return DecodedError(code=code, name=name, description=description, severity=severity)


ERROR_CODES: dict[str, DecodedError] = {
    e.code: e
    for e in (
        _known("R", "rtcError", "Real-time clock error", "warning"),
        _known("C", "powerSensorChargeError", "Power sensor charge error", "error"),
        _known("U", "powerSensorUsbError", "Power sensor USB error", "warning"),
        _known("T", "tempSensorError", "Temperature sensor error", "warning"),
        _known("B", "batteryMonitorError", "Battery monitor error", "error"),
        _known("G", "gpsError", "GPS error", "warning"),
        _known("S", "sdError", "SD card error", "warning"),
        _known("L", "lteError", "LTE connection error", "error"),
        _known("D", "displayError", "Display error", "info"),
    )
}

# Separators some firmware puts between codes; they carry no meaning of their own.
_IGNORED = frozenset(" \t\r\n,;|")


def decode_code(code: str) -> DecodedError:
    known = ERROR_CODES.get(code)
    if known is not None:
        return known
    return DecodedError(
        code=code,
        name="unknownError",
        description=f"Unknown error code: {code}",
        severity=UNKNOWN_SEVERITY,
        known=False,
    )


def decode_error_string(err: str | None) -> tuple[DecodedError, ...]:
    """Decode ``"TG"`` into (T, G). Order is kept, repeats collapse, unknown codes are kept.

    Codes are case-sensitive single characters, as the firmware sends them: ``"t"`` is an
    unknown code, not ``T``.
    """
    if not err:
        return ()
    seen: set[str] = set()
    decoded: list[DecodedError] = []
    for char in err:
        if char in _IGNORED or char in seen:
            continue
        seen.add(char)
        decoded.append(decode_code(char))
    return tuple(decoded)
