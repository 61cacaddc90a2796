# The types of the compiled module (src/lib.rs); maturin ships this file with py.typed.

class BatchCodec:
    def __init__(
        self,
        *,
        metrics: list[tuple[str, str, float, float, float | None, float | None]],
        namespace: bytes,
        contract: dict[str, str | int],
    ) -> None: ...
    def accept(
        self,
        body: bytes,
        battery_id: int,
        battery_fields: str,
        received_us: int,
        received_iso: str,
        received_naive: str,
    ) -> tuple[list[tuple[str, bytes]], bytes, int] | None: ...

class RowCodec:
    def __init__(
        self,
        *,
        columns: list[tuple[str, str]],
        metric_keys: list[str],
        column_metrics: list[str],
        contract: dict[str, str | int | list[str]],
    ) -> None: ...
    def rows(self, raw: bytes) -> tuple[list[str], list[bytes], int | None] | None: ...

class FaultScan:
    def __init__(
        self, *, metric_keys: list[str], contract: dict[str, str | int | list[str]]
    ) -> None: ...
    def faults(self, raw: bytes) -> list[tuple[int, int]] | None: ...
