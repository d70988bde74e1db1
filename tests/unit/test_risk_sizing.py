import math

import pytest

from supreme.core.errors import InvalidArgument
from supreme.core.risk import (
    RiskConfig,
    RiskReason,
    SizingMethod,
    StrategyStats,
    fixed_fractional_quantity,
    kelly_fraction,
    size_order,
)


def stats(trades: int, win_rate: float, payoff: float) -> StrategyStats:
    return StrategyStats("s", trades=trades, win_rate=win_rate, payoff_ratio=payoff)


def test_kelly_fraction_is_w_minus_one_minus_w_over_r():
    assert kelly_fraction(0.6, 2.0) == pytest.approx(0.4)
    assert kelly_fraction(0.55, 1.0) == pytest.approx(0.1)
    assert kelly_fraction(0.3, 1.0) == pytest.approx(-0.4)  # no edge
    assert kelly_fraction(0.5, 1.0) == pytest.approx(0.0)
    assert kelly_fraction(0.7, math.inf) == 0.7  # no losses: the win rate
    assert kelly_fraction(0.0, 0.0) == -1.0  # no wins: clamped, finite
    with pytest.raises(InvalidArgument):
        kelly_fraction(1.2, 1.0)
    with pytest.raises(InvalidArgument):
        kelly_fraction(0.5, -1.0)


def test_fixed_fractional_quantity_risks_the_fraction_over_the_stop():
    assert fixed_fractional_quantity(100_000.0, 0.01, 5.0) == pytest.approx(200.0)
    assert fixed_fractional_quantity(50_000.0, 0.02, 1.6) == pytest.approx(625.0)
    with pytest.raises(InvalidArgument):
        fixed_fractional_quantity(100_000.0, 0.01, 0.0)


def test_size_order_fixed_fractional_below_min_trades():
    # 1% of 100,000 = 1,000 at risk over 2 x ATR 2.5 = 5.0 -> 200; notional 4,000 < 10% cap.
    result = size_order(
        equity=100_000.0, price=20.0, config=RiskConfig(), stats=stats(19, 0.9, 5.0), atr=2.5
    )
    assert result.method is SizingMethod.FIXED_FRACTIONAL
    assert result.quantity == pytest.approx(200.0)
    assert result.stop_distance == pytest.approx(5.0) and result.stop_from_atr


def test_size_order_kelly_uncapped_capped_by_position_and_by_risk():
    cfg = RiskConfig()
    # W=0.55, R=1: f*=0.1, half Kelly 5% of 100,000 at 100 -> 50 (caps: 100 and 1,000)
    r = size_order(equity=100_000.0, price=100.0, config=cfg, stats=stats(20, 0.55, 1.0), atr=1)
    assert r.method is SizingMethod.KELLY and r.quantity == pytest.approx(50.0)
    assert r.edge == pytest.approx(0.1) and r.capped_by == ()
    # W=0.6, R=2: f*=0.4, half 20% -> 200, capped at 10% of equity = 100
    r = size_order(equity=100_000.0, price=100.0, config=cfg, stats=stats(20, 0.6, 2.0), atr=1)
    assert r.quantity == pytest.approx(100.0) and r.capped_by == ("max_position_pct",)
    # Same edge, ATR 25 -> stop 50: 2% of equity at risk = 2,000 / 50 = 40
    r = size_order(equity=100_000.0, price=100.0, config=cfg, stats=stats(20, 0.6, 2.0), atr=25)
    assert r.quantity == pytest.approx(40.0)
    assert r.capped_by[-1] == "max_risk_per_trade_pct"


def test_size_order_denials_and_drawdown_scale():
    cfg = RiskConfig()
    r = size_order(equity=1e5, price=100.0, config=cfg, stats=stats(30, 0.3, 1.0), atr=1.0)
    assert r.denial is RiskReason.NO_EDGE and r.quantity == 0.0
    r = size_order(equity=1e5, price=100.0, config=cfg, stats=stats(3, 0.3, 1.0), atr=None)
    assert r.denial is RiskReason.SIZING_UNAVAILABLE
    # A stop-loss on the intent gives the stop distance when there is no ATR.
    r = size_order(equity=1e5, price=20.0, config=cfg, atr=None, stop_loss=16.0)
    assert r.quantity == pytest.approx(250.0) and not r.stop_from_atr
    # ... and the caps still apply: 250 x 100 = 25,000 > 10% of equity -> 100
    r = size_order(equity=1e5, price=100.0, config=cfg, atr=None, stop_loss=96.0)
    assert r.quantity == pytest.approx(100.0) and r.capped_by == ("max_position_pct",)
    r = size_order(equity=1e5, price=20.0, config=cfg, atr=2.5, scale=0.5)
    assert r.quantity == pytest.approx(100.0)
