"""Telling transient failures (a dependency is away) from failures of the input itself."""

from __future__ import annotations

from batteryhub_platform.kafka import BrokerUnavailable


def default_is_transient(exc: BaseException) -> bool:
    """Failures that say "try again later" rather than "this record is bad". Matched by
    class name so this module needs neither SQLAlchemy nor asyncpg."""
    if isinstance(exc, BrokerUnavailable | OSError | TimeoutError | ConnectionError):
        return True
    for cls in type(exc).__mro__:
        if cls.__name__ in {
            "OperationalError",
            "InterfaceError",
            "PostgresConnectionError",
            "CannotConnectNowError",
            "ConnectionDoesNotExistError",
            "TooManyConnectionsError",
            "AdminShutdownError",
            "InterfaceWarning",
            "QueryCanceledError",
            # A missing table or privilege is an operator's problem, not the record's:
            # wait for the fix instead of dead-lettering every record.
            "ProgrammingError",
            "UndefinedTableError",
            "InsufficientPrivilegeError",
        }:
            return True
    if getattr(exc, "connection_invalidated", False):
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and default_is_transient(cause)
