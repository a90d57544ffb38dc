"""One base exception; specific subclasses also inherit the matching built-in.

The CLI turns every :class:`SigmaSightError` into one clear line and a
non-zero exit status.
"""

from __future__ import annotations


class SigmaSightError(Exception):
    """Base class of every error SigmaSight raises on purpose."""


class ConfigError(SigmaSightError, ValueError):
    """A setting (environment variable, params file) is missing or invalid."""


class MarketDataError(SigmaSightError, RuntimeError):
    """A market data provider could not deliver what was asked."""


class ProviderUnavailableError(MarketDataError, ConnectionError):
    """The provider cannot be reached (offline, timeout, HTTP failure) after retries."""


class UnknownSymbolError(MarketDataError, LookupError):
    """The provider does not know a symbol."""


class ImportValidationError(SigmaSightError, ValueError):
    """A portfolio import failed validation; ``issues`` holds one entry per bad row/field."""

    def __init__(self, message: str, issues: list | None = None) -> None:
        super().__init__(message)
        self.issues = list(issues or [])


class NotFoundError(SigmaSightError, LookupError):
    """A portfolio, position or other named record does not exist."""


class DatabaseError(SigmaSightError, RuntimeError):
    """The database is unreachable or not at the expected schema revision."""


class AsOfDateError(SigmaSightError, ValueError):
    """An as-of date that is no NYSE session, lies past the calendar or past the cached data."""


class DatabaseLockedError(DatabaseError):
    """Another process held the database lock past the busy timeout (worth a retry)."""
