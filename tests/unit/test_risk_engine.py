"""Pre-trade rules of the risk engine: states, sizing, order checks and limits."""

import itertools
import json

import pytest

from supreme.core.errors import InvalidArgument
from supreme.core.model import (
    Fill,
    Instrument,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Portfolio,
    Position,
    Side,
)
from supreme.core.risk import (
    EventKind,
    MarketState,
    RiskConfig,
    RiskEngine,
    RiskReason,
    TradingState,
)

_ids = itertools.count()
EQUITY = 100_000.0


def intent(symbol="X", side=Side.BUY, quantity=None, cid=None, **kw) -> OrderIntent:
    return OrderIntent(cid or f"c{next(_ids)}", symbol, side, quantity, **kw)


def market(prices=None, atr=None, instruments=None) -> MarketState:
    return MarketState(
        prices={"X": 100.0} if prices is None else prices,
        atr={} if atr is None else atr,
        instruments={} if instruments is None else instruments,
    )


def holding(quantity, symbol="X", price=100.0, equity=EQUITY) -> Portfolio:
    """A portfolio worth ``equity`` at ``price`` holding ``quantity`` of ``symbol``."""
    return Portfolio(
        cash=equity - quantity * price, positions={symbol: Position(symbol, quantity, price)}
    )


def flat(equity=EQUITY) -> Portfolio:
    return Portfolio(cash=equity)


def engine(**changes) -> RiskEngine:
    return RiskEngine(RiskConfig().with_updates(**changes), starting_equity=EQUITY)


def feed_trades(eng: RiskEngine, pnls, strategy="s"):
    """Closed round trips of one unit of Z (entry 1,000) with the given pnls."""
    for i, pnl in enumerate(pnls):
        eng.ledger.on_fill(Fill(f"b{i}", f"ob{i}", "Z", Side.BUY, 1, 1000.0, 0.0, i, strategy))
        eng.ledger.on_fill(
            Fill(f"s{i}", f"os{i}", "Z", Side.SELL, 1, 1000.0 + pnl, 0.0, i, strategy)
        )


# -- trading states --------------------------------------------------------------------------


def test_halted_state_denies_new_orders_but_allows_cancels():
    eng = engine()
    eng.set_trading_state(TradingState.HALTED, "operator", 0)
    pf = holding(50)
    for i in (
        intent(quantity=10),
        intent(side=Side.SELL, quantity=10),  # would reduce: still denied
        intent(side=Side.SELL, quantity=10, reduce_only=True),
    ):
        d = eng.evaluate(i, pf, market(), 1)
        assert not d.approved and d.reason_code is RiskReason.HALTED and d.quantity == 0.0
        assert "HALTED" in d.reason and "operator" in d.reason
    cancel = eng.check_cancel("c-open", 2)
    assert cancel.approved and cancel.reason_code is RiskReason.CANCEL
    assert cancel.event.kind is EventKind.DECISION and cancel.event.details["action"] == "cancel"


def test_reducing_allows_only_exposure_reducing_orders():
    eng = engine()
    eng.set_trading_state(TradingState.REDUCING, "risk review", 0)
    pf = holding(100)
    d = eng.evaluate(intent(quantity=10), pf, market(), 1)
    assert d.reason_code is RiskReason.REDUCING_ONLY and "100" in d.reason
    d = eng.evaluate(intent(side=Side.SELL), pf, market(), 1)  # to be sized: opening
    assert d.reason_code is RiskReason.REDUCING_ONLY
    d = eng.evaluate(intent(side=Side.SELL, quantity=40), pf, market(), 1)
    assert d.approved and d.quantity == 40 and d.reason_code is RiskReason.OK
    # A flip is capped at the position size.
    d = eng.evaluate(intent(side=Side.SELL, quantity=150), pf, market(), 1)
    assert d.approved and d.resized and d.quantity == 100
    # Open orders already working against the position count: only 20 are left to reduce.
    working = [Order("w1", "X", Side.SELL, 80, status=OrderStatus.SUBMITTED)]
    d = eng.evaluate(
        intent(side=Side.SELL, quantity=50, reduce_only=True), pf, market(), 1, open_orders=working
    )
    assert d.approved and d.quantity == 20 and d.resized
    d = eng.evaluate(
        intent(side=Side.SELL, quantity=30),
        pf,
        market(),
        1,
        open_orders=[*working, Order("w2", "X", Side.SELL, 20)],
    )
    assert d.reason_code is RiskReason.REDUCING_ONLY


def test_reduce_only_with_nothing_to_reduce_is_denied():
    eng = engine()
    d = eng.evaluate(intent(side=Side.SELL, quantity=5, reduce_only=True), flat(), market(), 1)
    assert d.reason_code is RiskReason.NOTHING_TO_REDUCE
    d = eng.evaluate(intent(side=Side.BUY, quantity=5, reduce_only=True), holding(5), market(), 1)
    assert d.reason_code is RiskReason.NOTHING_TO_REDUCE


def test_reduce_only_closing_own_attributed_position_passes_when_net_is_flat_and_active():
    eng = engine()
    eng.ledger.on_fill(Fill("f1", "o1", "X", Side.BUY, 10, 100.0, 0.0, 0, "a"))
    eng.ledger.on_fill(Fill("f2", "o2", "X", Side.SELL, 10, 100.0, 0.0, 0, "b"))
    close_a = intent(side=Side.SELL, quantity=10, reduce_only=True, strategy="a")
    d = eng.evaluate(close_a, flat(), market(), 1)
    assert d.approved and d.quantity == 10
    eng.set_trading_state(TradingState.REDUCING, "x", 2)
    d = eng.evaluate(
        intent(side=Side.SELL, quantity=10, reduce_only=True, strategy="a"), flat(), market(), 3
    )
    assert d.reason_code is RiskReason.NOTHING_TO_REDUCE


def test_manual_active_does_not_override_a_tripped_breaker():
    eng = engine(error_burst_threshold=1)
    eng.record_venue_error(0, "rejected")
    eng.set_trading_state(TradingState.ACTIVE, "try to override", 1)
    assert eng.state is TradingState.HALTED
    eng.set_trading_state(TradingState.REDUCING, "review", 2)
    eng.reset_breakers(3)
    assert eng.state is TradingState.REDUCING  # the manual state remains


# -- sizing ----------------------------------------------------------------------------------


def test_fixed_fractional_sizing_below_20_trades():
    eng = engine()
    feed_trades(eng, [100.0] * 19)  # 19 wins: still fixed-fractional
    m = market({"X": 20.0}, atr={"X": 2.5})
    d = eng.evaluate(intent(strategy="s"), flat(), m, 1)
    # 1% of 100,000 = 1,000 at risk; stop = 2.0 x ATR 2.5 = 5.0; 1,000 / 5 = 200
    assert d.approved and d.quantity == pytest.approx(200.0)
    assert d.event.details["sizing_method"] == "FIXED_FRACTIONAL"
    # With a lot of 1: 50,000 x 1% / (2 x 0.8) = 312.5 -> 312
    lot = {"X": Instrument("X", quantity_increment=1.0)}
    m = market({"X": 10.0}, atr={"X": 0.8}, instruments=lot)
    d = RiskEngine(starting_equity=50_000.0).evaluate(intent(), flat(50_000.0), m, 1)
    assert d.quantity == 312.0


def test_kelly_sizing_after_20_trades():
    # 11 wins of +100 and 9 losses of -100: W = 0.55, R = 1, f* = 0.1, half Kelly = 5%.
    eng = engine()
    feed_trades(eng, [100.0, -100.0] * 9 + [100.0, 100.0])
    d = eng.evaluate(intent(strategy="s"), flat(), market(atr={"X": 1.0}), 1)
    assert d.event.details["sizing_method"] == "KELLY"
    assert d.event.details["win_rate"] == pytest.approx(0.55)
    assert d.event.details["payoff_ratio"] == pytest.approx(1.0)
    assert d.quantity == pytest.approx(50.0)  # 5% of 100,000 at 100


def test_kelly_sizing_capped_at_10_percent_position_and_2_percent_risk():
    # 12 wins of +200, 8 losses of -100: W = 0.6, R = 2, f* = 0.4, half = 20% -> 200 units.
    eng = engine()
    feed_trades(eng, [200.0, -100.0] * 8 + [200.0] * 4)
    d = eng.evaluate(intent(strategy="s"), flat(), market(atr={"X": 1.0}), 1)
    assert d.quantity == pytest.approx(100.0)  # 10% of equity / 100
    assert "max_position_pct" in d.event.details["sizing_capped_by"]
    # ATR 20 -> stop 40: 2% of equity (2,000) at risk / 40 = 50 units.
    d = eng.evaluate(intent(strategy="s"), flat(), market(atr={"X": 20.0}), 2)
    assert d.quantity == pytest.approx(50.0)
    assert d.event.details["sizing_capped_by"][-1] == "max_risk_per_trade_pct"


def test_negative_kelly_edge_denies():
    eng = engine()
    feed_trades(eng, [100.0, -100.0, -100.0] * 7)  # W = 1/3, R = 1: f* = -1/3
    d = eng.evaluate(intent(strategy="s"), flat(), market(atr={"X": 1.0}), 1)
    assert not d.approved and d.reason_code is RiskReason.NO_EDGE
    assert "no edge" in d.reason
    # Another strategy without a record is still sized fixed-fractionally.
    assert eng.evaluate(intent(strategy="other"), flat(), market(atr={"X": 1.0}), 1).approved


def test_sizing_without_atr_is_unavailable():
    d = engine().evaluate(intent(), flat(), market(), 1)
    assert d.reason_code is RiskReason.SIZING_UNAVAILABLE and "ATR" in d.reason


def test_sized_to_less_than_a_lot_is_zero_quantity():
    lot = {"X": Instrument("X", quantity_increment=1000.0)}
    d = engine().evaluate(intent(), flat(), market(atr={"X": 1.0}, instruments=lot), 1)
    assert d.reason_code is RiskReason.ZERO_QUANTITY


# -- the order itself ------------------------------------------------------------------------


def test_precision_quantity_rounded_down_to_lot_prices_must_be_on_tick_and_minimums():
    eng = engine()
    inst = {"X": Instrument("X", 0.5, 0.01, min_quantity=0.05, min_notional=10.0)}
    m = market(instruments=inst)
    d = eng.evaluate(intent(quantity=1.237), flat(), m, 1)
    assert d.approved and d.resized and d.quantity == pytest.approx(1.23)
    assert "lot" in d.reason
    d = eng.evaluate(intent(quantity=1.23), flat(), m, 1)
    assert d.approved and not d.resized and d.quantity == 1.23
    limit = intent(quantity=1, order_type=OrderType.LIMIT, limit_price=100.3)
    d = eng.evaluate(limit, flat(), m, 1)
    assert d.reason_code is RiskReason.PRECISION and "100.5" in d.reason
    d = eng.evaluate(intent(quantity=0.004), flat(), m, 1)
    assert d.reason_code is RiskReason.PRECISION
    d = eng.evaluate(intent(quantity=0.03), flat(), m, 1)
    assert d.reason_code is RiskReason.MIN_QUANTITY
    d = eng.evaluate(intent(quantity=0.09), flat(), m, 1)  # 9.0 < 10 notional
    assert d.reason_code is RiskReason.MIN_NOTIONAL and "10" in d.reason


def test_fat_finger_price_band_and_missing_price():
    eng = engine()
    far = intent(quantity=1, order_type=OrderType.LIMIT, limit_price=111.0)
    d = eng.evaluate(far, flat(), market(), 1)
    assert d.reason_code is RiskReason.PRICE_BAND and "11.00%" in d.reason
    near = intent(quantity=1, order_type=OrderType.LIMIT, limit_price=109.0)
    assert eng.evaluate(near, flat(), market(), 1).approved
    stop = intent(side=Side.SELL, quantity=1, order_type=OrderType.STOP, stop_price=89.0)
    assert eng.evaluate(stop, flat(), market(), 1).reason_code is RiskReason.PRICE_BAND
    d = eng.evaluate(intent(quantity=1), flat(), market({"Y": 5.0}), 1)
    assert d.reason_code is RiskReason.NO_PRICE


def test_stop_loss_on_the_wrong_side_is_invalid():
    d = engine().evaluate(intent(quantity=1, stop_loss=101.0), flat(), market(), 1)
    assert d.reason_code is RiskReason.INVALID_ORDER and "below" in d.reason


def test_duplicate_client_order_id_is_denied():
    eng = engine()
    assert eng.evaluate(intent(quantity=1, cid="dup"), flat(), market(), 1).approved
    d = eng.evaluate(intent(quantity=1, cid="dup"), flat(), market(), 2)
    assert d.reason_code is RiskReason.DUPLICATE_CLIENT_ORDER_ID
    # A denied id was never used: it may be sent again.
    bad = intent(quantity=1, cid="again", order_type=OrderType.LIMIT, limit_price=150.0)
    assert not eng.evaluate(bad, flat(), market(), 3).approved
    assert eng.evaluate(intent(quantity=1, cid="again"), flat(), market(), 4).approved
    # An id already working at the venue (for example from before a restart) is a duplicate.
    working = [Order("venue-1", "X", Side.BUY, 1, status=OrderStatus.SUBMITTED)]
    d = eng.evaluate(intent(quantity=1, cid="venue-1"), flat(), market(), 5, working)
    assert d.reason_code is RiskReason.DUPLICATE_CLIENT_ORDER_ID


# -- limits ----------------------------------------------------------------------------------


def test_max_notional_resizes_an_explicit_quantity():
    eng = engine(max_order_notional=5_000.0)
    d = eng.evaluate(intent(quantity=80), flat(), market(), 1)
    assert d.approved and d.resized and d.reason_code is RiskReason.RESIZED
    assert d.quantity == pytest.approx(50.0) and "max_order_notional" in d.reason
    assert d.event.outcome == "RESIZED"
    limit = intent(quantity=80, order_type=OrderType.LIMIT, limit_price=105.0)
    assert eng.evaluate(limit, flat(), market(), 2).quantity == pytest.approx(5_000 / 105)


def test_position_limit_counts_the_position_and_open_orders():
    eng = engine()
    pf = holding(80)  # 8,000 of a 10,000 cap
    d = eng.evaluate(intent(quantity=50), pf, market(), 1)
    assert d.resized and d.quantity == pytest.approx(20.0)
    working = [Order("w", "X", Side.BUY, 20, status=OrderStatus.SUBMITTED)]
    d = eng.evaluate(intent(quantity=5), pf, market(), 2, working)
    assert not d.approved and d.reason_code is RiskReason.POSITION_LIMIT


def test_gross_exposure_includes_other_positions_open_orders_and_the_new_order():
    eng = engine(max_position_pct=1.0)
    # equity 100,000 with 120,000 of Y: 30,000 headroom under 150%
    pf = holding(1200, symbol="Y")
    m = market({"X": 100.0, "Y": 100.0, "Z": 100.0})
    d = eng.evaluate(intent(quantity=500), pf, m, 1)
    assert d.resized and d.quantity == pytest.approx(300.0) and "gross" in d.reason
    working = [Order("wz", "Z", Side.BUY, 100, status=OrderStatus.SUBMITTED)]
    d = eng.evaluate(intent(quantity=500), pf, m, 2, working)
    assert d.quantity == pytest.approx(200.0)
    full = holding(1500, symbol="Y")
    d = eng.evaluate(intent(quantity=1), full, m, 3)
    assert d.reason_code is RiskReason.GROSS_EXPOSURE


def test_order_rate_counts_approvals_per_rolling_minute():
    eng = engine(max_orders_per_minute=3)
    for t in range(3):
        assert eng.evaluate(intent(quantity=1), flat(), market(), t).approved
    d = eng.evaluate(intent(quantity=1), flat(), market(), 59_999)
    assert d.reason_code is RiskReason.ORDER_RATE
    assert eng.evaluate(intent(quantity=1), flat(), market(), 60_000).approved  # t=0 left


def test_update_limits_applies_at_once_and_is_audited():
    eng = engine()
    assert eng.evaluate(intent(quantity=50), flat(), market(), 1).quantity == 50
    eng.update_limits(2, max_order_notional=1_000.0)
    d = eng.evaluate(intent(quantity=50), flat(), market(), 3)
    assert d.quantity == pytest.approx(10.0)
    (changed,) = [e for e in eng.drain_events() if e.kind is EventKind.LIMITS_CHANGED]
    assert changed.details["changes"]["max_order_notional"] == {"old": 1e6, "new": 1_000.0}
    with pytest.raises(InvalidArgument, match="bogus"):
        eng.update_limits(4, bogus=1)


# -- events ----------------------------------------------------------------------------------


def test_every_decision_yields_a_json_serialisable_event():
    eng = engine()
    m = market(atr={"X": 1.0})
    decisions = [
        eng.evaluate(intent(), flat(), m, 1),
        eng.evaluate(intent(quantity=1e9), flat(), m, 2),
        eng.evaluate(intent(order_type=OrderType.LIMIT, limit_price=500.0), flat(), m, 3),
        eng.check_cancel("x", 4),
    ]
    events = eng.drain_events()
    assert [d.event for d in decisions] == [e for e in events if e.kind is EventKind.DECISION]
    assert [e.outcome for e in events] == ["APPROVED", "RESIZED", "DENIED", "APPROVED"]
    for e in events:
        data = json.loads(json.dumps(e.to_dict(), allow_nan=False))
        assert data["reason_code"] == e.reason_code.value and data["message"]
        assert data["time_ms"] == e.time_ms
    first = decisions[0].event.details
    assert first["client_order_id"] == decisions[0].intent.client_order_id
    assert first["approved_quantity"] == decisions[0].quantity and first["equity"] == EQUITY
    assert eng.drain_events() == []


def test_programming_errors_raise_invalid_argument():
    with pytest.raises(InvalidArgument):
        RiskEngine(starting_equity=0.0)
    eng = engine()
    with pytest.raises(InvalidArgument):
        eng.evaluate(intent(quantity=1), flat(), market(), -1)
    with pytest.raises(InvalidArgument):
        eng.evaluate("not an intent", flat(), market(), 1)
    with pytest.raises(InvalidArgument, match="nope"):
        eng.reset_breakers(1, ["nope"])
