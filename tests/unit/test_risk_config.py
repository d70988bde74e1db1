import json
import math

import pytest

from supreme.core.errors import InvalidArgument
from supreme.core.risk import RiskConfig


def test_defaults_are_the_design_doc_limits():
    c = RiskConfig()
    assert c.daily_loss_pct == 0.05
    assert c.max_consecutive_losses == 3
    assert (c.drawdown_soft_pct, c.drawdown_hard_pct) == (0.10, 0.20)
    assert c.kelly_fraction == 0.5 and c.kelly_min_trades == 20 and c.kelly_window == 100
    assert c.max_position_pct == 0.10 and c.max_risk_per_trade_pct == 0.02
    assert c.fixed_fractional_risk_pct == 0.01 and c.atr_stop_multiple == 2.0
    assert c.price_band_pct == 0.10 and c.max_orders_per_minute == 120
    assert c.max_order_notional == 1_000_000.0 and c.max_gross_exposure_pct == 1.5
    assert c.consecutive_loss_cooldown_ms == 3_600_000
    assert c.error_burst_threshold == 5 and c.error_burst_window_ms == 60_000
    assert c.take_profit_atr_multiple is None


def test_from_mapping_rejects_unknown_keys_naming_them():
    with pytest.raises(InvalidArgument, match="max_leverage"):
        RiskConfig.from_mapping({"max_leverage": 3.0, "daily_loss_pct": 0.02})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"daily_loss_pct": 0.0}, "daily_loss_pct"),
        ({"daily_loss_pct": 1.5}, "daily_loss_pct"),
        ({"max_order_notional": -1.0}, "max_order_notional"),
        ({"max_order_notional": math.nan}, "max_order_notional"),
        ({"price_band_pct": math.inf}, "price_band_pct"),
        ({"max_orders_per_minute": 0}, "max_orders_per_minute"),
        ({"max_orders_per_minute": 2.5}, "max_orders_per_minute"),
        ({"max_consecutive_losses": True}, "max_consecutive_losses"),
        ({"kelly_fraction": 1.5}, "kelly_fraction"),
        ({"drawdown_size_scale": 0.0}, "drawdown_size_scale"),
        ({"drawdown_soft_pct": 0.25}, "drawdown_soft_pct"),  # >= hard (0.20)
        ({"drawdown_hard_pct": 0.05}, "drawdown_soft_pct"),  # soft 0.10 >= hard
        ({"kelly_window": 10}, "kelly_window"),  # < kelly_min_trades
        ({"take_profit_atr_multiple": -1.0}, "take_profit_atr_multiple"),
        ({"atr_stop_multiple": None}, "atr_stop_multiple"),
        ({"consecutive_loss_cooldown_ms": -5}, "consecutive_loss_cooldown_ms"),
        ({"max_position_pct": 2.0}, "max_position_pct"),  # > gross exposure 1.5
    ],
)
def test_bad_values_are_refused_naming_the_field(changes, field):
    with pytest.raises(InvalidArgument, match=field):
        RiskConfig.from_mapping(changes)
    with pytest.raises(InvalidArgument, match=field):
        RiskConfig().with_updates(**changes)


def test_with_updates_returns_a_new_validated_config_and_to_dict_round_trips():
    base = RiskConfig()
    updated = base.with_updates(max_order_notional=500, consecutive_loss_cooldown_ms=None)
    assert base.max_order_notional == 1_000_000.0  # the original is untouched
    assert updated.max_order_notional == 500.0 and isinstance(updated.max_order_notional, float)
    assert updated.consecutive_loss_cooldown_ms is None
    data = json.loads(json.dumps(updated.to_dict()))
    assert RiskConfig.from_mapping(data) == updated
    with pytest.raises(InvalidArgument, match="nope"):
        base.with_updates(nope=1)


def test_from_mapping_accepts_integral_floats_for_integer_fields():
    c = RiskConfig.from_mapping({"max_orders_per_minute": 30.0, "kelly_min_trades": 10.0})
    assert c.max_orders_per_minute == 30 and isinstance(c.max_orders_per_minute, int)
    with pytest.raises(InvalidArgument, match="max_orders_per_minute"):
        RiskConfig.from_mapping({"max_orders_per_minute": 30.5})


def test_buffer_sizes_have_an_upper_bound_and_a_refused_change_changes_nothing():
    from supreme.core.errors import InvalidArgument
    from supreme.core.risk import RiskEngine

    engine = RiskEngine(RiskConfig(), starting_equity=100_000.0)
    before = engine.config
    with pytest.raises(InvalidArgument, match=r"max_events must lie in \[1, 10000000\]"):
        engine.update_limits(1_000, max_events=2**63)  # found by the gRPC fuzz test
    assert engine.config == before
    assert engine.update_limits(1_000, max_events=500).max_events == 500
