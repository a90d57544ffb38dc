"""The market data providers by name: :func:`get_provider`.

Apart from :mod:`~sigmasight_lib.marketdata.base` (the interface the providers
implement), so that the interface never imports its implementations. A provider
module is imported when first asked for (yfinance is slow to import and needs the
network only when used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sigmasight_lib.exceptions import ConfigError
from sigmasight_lib.marketdata.base import MarketDataProvider

if TYPE_CHECKING:
    from sigmasight_lib.config import Settings


def get_provider(settings: Settings | str) -> MarketDataProvider:
    """The provider named in the settings (or by name).

    Raises
    ------
    ConfigError
        For an unknown provider name.
    """
    name = settings if isinstance(settings, str) else settings.market_data
    if name == "offline":
        from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider

        return OfflineSnapshotProvider()
    if name == "yfinance":
        from sigmasight_lib.marketdata.yfinance_provider import YFinanceProvider

        return YFinanceProvider()
    raise ConfigError(f"unknown market data provider {name!r}; choose offline or yfinance")
