"""Stored security layers: build → save → load gives the same figures; a changed
parameter changes the key and forces a rebuild (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import func, select

from sigmasight_lib.db.models import ContractGreeks, SecurityFactorBeta, SecurityLayerRecord
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
from sigmasight_lib.params import load_engine_params
from sigmasight_lib.runs.security_layer import SecurityLayer

AS_OF = dt.date(2017, 3, 29)
FIT_FRAMES = ("betas", "betas_uncapped", "t_stats", "capped")
FIT_SERIES = ("alpha", "r_squared", "observations", "condition_number", "residual_variance")


def _ids(session) -> list[int]:  # noqa: ANN001
    from sigmasight_lib.db import store

    return [p.id for p in store.load_portfolios(session)]


def assert_same_fit(got, want) -> None:  # noqa: ANN001
    for name in FIT_FRAMES:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), obj=name)
    for name in FIT_SERIES:
        pd.testing.assert_series_equal(getattr(got, name), getattr(want, name), obj=name)
    assert got.reasons.tolist() == want.reasons.tolist()
    assert (got.mode, got.factors) == (want.mode, want.factors)
    assert (got.window_start, got.window_end) == (want.window_start, want.window_end)


def test_save_load_gives_the_same_figures(demo_db) -> None:  # noqa: ANN001
    provider, params = OfflineSnapshotProvider(), load_engine_params(demo_db.params_dir)
    with session_scope(demo_db) as session:
        layer = SecurityLayer.build(session, provider, params, AS_OF, _ids(session))
        layer.save(session)
    with session_scope(demo_db) as session:
        stored = SecurityLayer.load(session, layer.key)
        assert stored is not None and stored.covers(layer.underlyings)
        pd.testing.assert_frame_equal(stored.analytics, layer.security_analytics())
        want = layer.contract_greeks()
        assert len(want) > 0
        pd.testing.assert_frame_equal(stored.contract_greeks, want, check_dtype=False)
        assert_same_fit(stored.fit, layer.factor_model().fit)
        assert session.scalar(select(func.count()).select_from(ContractGreeks)) == len(want)


def test_build_or_load_reuses_a_matching_layer_and_rebuilds_on_a_new_key(demo_db) -> None:  # noqa: ANN001
    provider, params = OfflineSnapshotProvider(), load_engine_params(demo_db.params_dir)
    with session_scope(demo_db) as session:
        ids = _ids(session)
        first = SecurityLayer.build_or_load(session, provider, params, AS_OF, ids)
        assert not first.reused
    with session_scope(demo_db) as session:
        again = SecurityLayer.build_or_load(session, provider, params, AS_OF, ids)
        assert again.reused and again.key == first.key
        assert_same_fit(again.factor_model().fit, first.factor_model().fit)
        model, fresh = again.factor_model(), first.factor_model()
        pd.testing.assert_frame_equal(model.factor_returns, fresh.factor_returns)
        assert (model.proxies_used, model.na_reasons) == (fresh.proxies_used, fresh.na_reasons)
        # a subset of the portfolios is covered by the stored layer
        one = SecurityLayer.build_or_load(session, provider, params, AS_OF, ids[:1])
        assert one.reused
        assert list(one.factor_model().fit.betas.index) == one.underlyings
    changed = params.model_copy(
        update={"factors": params.factors.model_copy(update={"cap": params.factors.cap / 2})}
    )
    with session_scope(demo_db) as session:
        other = SecurityLayer.build_or_load(session, provider, changed, AS_OF, ids)
        assert not other.reused and other.key.params_hash != first.key.params_hash
        assert session.scalar(select(func.count()).select_from(SecurityLayerRecord)) == 2
        capped = session.scalars(
            select(SecurityFactorBeta.beta)
            .join(SecurityLayerRecord)
            .where(SecurityLayerRecord.params_hash == other.key.params_hash)
        ).all()
        assert max(abs(b) for b in capped if b is not None) <= changed.factors.cap


def test_save_replaces_a_stored_layer_of_the_same_key(demo_db) -> None:  # noqa: ANN001
    provider, params = OfflineSnapshotProvider(), load_engine_params(demo_db.params_dir)
    with session_scope(demo_db) as session:
        layer = SecurityLayer.build(session, provider, params, AS_OF, _ids(session)[:1])
        layer.save(session)
        layer.save(session)
        assert session.scalar(select(func.count()).select_from(SecurityLayerRecord)) == 1
        rows = session.scalar(select(func.count()).select_from(SecurityFactorBeta))
        fit = layer.factor_model().fit
        assert rows == fit.betas.size


@pytest.mark.parametrize("missing", ["NOPE"])
def test_covers_needs_every_underlying(demo_db, missing: str) -> None:  # noqa: ANN001
    provider, params = OfflineSnapshotProvider(), load_engine_params(demo_db.params_dir)
    with session_scope(demo_db) as session:
        layer = SecurityLayer.build(session, provider, params, AS_OF, _ids(session))
        layer.save(session)
        stored = SecurityLayer.load(session, layer.key)
        assert not stored.covers([*layer.underlyings, missing])
