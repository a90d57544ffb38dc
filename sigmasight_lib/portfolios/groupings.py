"""``portfolio show --group-by``: positions grouped with the exposure engine's own code."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from sigmasight_lib.config import Settings
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.engines.exposures import (
    exposure_by_sector,
    exposure_by_strategy,
    exposure_by_tag,
    exposure_by_type,
    exposure_by_underlying,
)
from sigmasight_lib.exceptions import ConfigError

GROUPINGS = {
    "type": exposure_by_type,
    "strategy": exposure_by_strategy,
    "tag": exposure_by_tag,
    "underlying": exposure_by_underlying,
    "sector": exposure_by_sector,
}
GROUP_COLUMNS = ("position_count", "net_liquidation_value_usd", "gross_market_value_usd",
                 "net_exposure_usd", "gross_exposure_usd", "delta_adjusted_exposure_usd")  # fmt: skip


def group_positions(
    settings: Settings, portfolio: str | int, by: str, as_of: dt.date | None = None
) -> tuple[pd.DataFrame, dt.date]:
    """Per-group count, net liquidation and gross market value, exposure and
    delta-adjusted exposure (USD).

    Groups sum to the portfolio totals except ``tag``, where a position counts
    in each of its tags.
    """
    from sigmasight_lib.marketdata import get_provider
    from sigmasight_lib.params import load_engine_params
    from sigmasight_lib.runs.portfolio import load_position_analytics

    if by not in GROUPINGS:
        raise ConfigError(f"--group-by {by!r}: choose one of {', '.join(GROUPINGS)}")
    with session_scope(settings) as session:
        pa = load_position_analytics(
            session,
            get_provider(settings),
            load_engine_params(settings.params_dir),
            portfolio,
            as_of,
        )
    table = GROUPINGS[by](pa.joined())[list(GROUP_COLUMNS)]
    return table.rename_axis(by).reset_index(), pa.as_of
