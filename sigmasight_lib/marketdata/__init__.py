"""Market data: providers (offline snapshot, yfinance), the price cache and coverage.

All provider and network I/O lives in this package.
"""

from sigmasight_lib.marketdata.base import (
    METADATA_COLUMNS,
    OPTION_QUOTE_COLUMNS,
    PRICE_COLUMNS,
    RATE_COLUMNS,
    MarketDataProvider,
)
from sigmasight_lib.marketdata.registry import get_provider

__all__ = [
    "METADATA_COLUMNS",
    "OPTION_QUOTE_COLUMNS",
    "PRICE_COLUMNS",
    "RATE_COLUMNS",
    "MarketDataProvider",
    "get_provider",
]
