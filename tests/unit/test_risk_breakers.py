"""Risk engine over time: breakers, drawdown control, in-trade exits, fills, persistence."""

import itertools
import json

import pytest

from supreme.core.model import Fill, OrderIntent, OrderType, Portfolio, Position, Side
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
DAY = 86_400_000


def intent(symbol="X", side=Side.BUY, quantity=None, cid=None, **kw) -> OrderIntent:
    return OrderIntent(cid or f"c{next(_ids)}", symbol, side, quantity, **kw)


def market(prices=None, atr=None) -> MarketState:
    if isinstance(prices, int | float):
        prices = {"X": float(prices)}
    return MarketState(prices=prices or {"X": 100.0}, atr=atr or {})


def engine(**changes) -> RiskEngine:
    return RiskEngine(RiskConfig().with_updates(**changes), starting_equity=EQUITY)


def long_x(quantity=1000.0, price=100.0) -> Portfolio:
    """Worth 100,000 at ``price``: ``quantity`` of X bought at ``price``."""
    return Portfolio(
        cash=EQUITY - quantity * price, positions={"X": Position("X", quantity, price)}
    )


def execute(eng, pf, decision, price, t):
    """Fill an approved decision completely at ``price``; returns the new portfolio."""
    assert decision.approved, decision.reason
    i = decision.intent
    fill = Fill(
        f"f-{i.client_order_id}",
        i.client_order_id,
        i.symbol,
        i.side,
        decision.quantity,
        price,
        0.0,
        t,
        i.strategy,
    )
    pf = pf.apply_fill(fill)
    eng.on_fill(fill, pf, t)
    return pf


def round_trip(eng, pf, pnl, t, strategy="s"):
    """Buy 1 X at 100 and sell it at 100 + pnl through the engine."""
    m = market()
    pf = execute(eng, pf, eng.evaluate(intent(quantity=1, strategy=strategy), pf, m, t), 100, t)
    sell = intent(side=Side.SELL, quantity=1, strategy=strategy, reduce_only=True)
    return execute(eng, pf, eng.evaluate(sell, pf, m, t + 1), 100 + pnl, t + 1)


def kinds(events):
    return [(e.kind, e.reason_code) for e in events]


# -- daily loss ------------------------------------------------------------------------------


def test_daily_loss_5_percent_trips_halt_with_unrealized_included():
    eng = engine()
    pf = long_x()
    eng.on_mark(pf, market(96.0), 1)
    assert eng.state is TradingState.ACTIVE  # 4% down
    eng.on_mark(pf, market(95.0), 2)  # 5% down, all of it unrealized
    assert eng.state is TradingState.HALTED
    tripped = [e for e in eng.drain_events() if e.kind is EventKind.BREAKER_TRIPPED]
    assert [e.reason_code for e in tripped] == [RiskReason.DAILY_LOSS]
    assert "5.00%" in tripped[0].message
    assert eng.evaluate(intent(quantity=1), pf, market(95.0), 3).reason_code is RiskReason.HALTED


def test_daily_loss_adds_realized_and_unrealized():
    # 3,000 realized loss earlier today, then 100 X bought at 100.
    pf = Portfolio(cash=87_000.0, positions={"X": Position("X", 100, 100.0)}, realized_pnl=-3e3)
    eng = engine()
    eng.on_mark(pf, market(81.0), 1)  # -3,000 - 1,900 = 4.9%
    assert eng.state is TradingState.ACTIVE
    eng.on_mark(pf, market(80.0), 2)  # -3,000 - 2,000 = 5%
    assert eng.state is TradingState.HALTED


def test_daily_loss_halt_persists_into_the_next_day_until_reset():
    eng = engine()
    pf = long_x()
    eng.on_mark(pf, market(94.0), 10)
    eng.on_mark(pf, market(94.0), DAY + 10)  # new UTC day: baseline 94,000
    assert eng.state is TradingState.HALTED
    assert eng.day_start_equity == pytest.approx(94_000.0)
    assert EventKind.DAY_STARTED in [e.kind for e in eng.drain_events()]
    assert eng.reset_breakers(DAY + 11, ["daily_loss"]) == ["daily_loss"]
    assert eng.state is TradingState.ACTIVE
    eng.on_mark(pf, market(91.0), DAY + 12)  # 3.2% below the re-based 94,000
    assert eng.state is TradingState.ACTIVE


# -- consecutive losses, resets, error bursts -----------------------------------------------


def test_three_consecutive_losses_give_reducing_until_cooldown_ends():
    eng = engine(daily_loss_pct=0.5)
    pf = Portfolio(cash=EQUITY)
    for i, pnl in enumerate([-1, -1, +1, -1, -1]):  # a win breaks the streak
        pf = round_trip(eng, pf, pnl, 10 * i)
    assert eng.state is TradingState.ACTIVE
    pf = round_trip(eng, pf, -1, 100)
    assert eng.state is TradingState.REDUCING
    events = eng.drain_events()
    (trip,) = [e for e in events if e.kind is EventKind.BREAKER_TRIPPED]
    assert trip.reason_code is RiskReason.CONSECUTIVE_LOSSES and "3 consecutive" in trip.message
    until = 101 + 3_600_000  # tripped by the fill at t=101
    assert trip.details["until_ms"] == until
    d = eng.evaluate(intent(quantity=1), pf, market(), until - 1)
    assert d.reason_code is RiskReason.REDUCING_ONLY
    d = eng.evaluate(intent(quantity=1), pf, market(), until)
    assert d.approved and eng.state is TradingState.ACTIVE
    assert (EventKind.BREAKER_RESET, RiskReason.COOLDOWN_EXPIRED) in kinds(eng.drain_events())


def test_explicit_reset_clears_breaker():
    eng = engine(consecutive_loss_cooldown_ms=None)
    pf = Portfolio(cash=EQUITY)
    for i in range(3):
        pf = round_trip(eng, pf, -1, 10 * i)
    assert eng.state is TradingState.REDUCING
    eng.on_mark(pf, market(), 10 * DAY)  # no cool-down configured: stays
    assert eng.state is TradingState.REDUCING
    eng.drain_events()
    assert eng.reset_breakers(10 * DAY + 1) == ["consecutive_losses"]
    assert eng.state is TradingState.ACTIVE
    events = eng.drain_events()
    assert (EventKind.BREAKER_RESET, RiskReason.MANUAL) in kinds(events)
    assert (EventKind.STATE_CHANGED, RiskReason.OK) in kinds(events)
    round_trip(eng, pf, -1, 10 * DAY + 2)  # the streak restarted from zero
    assert eng.state is TradingState.ACTIVE


def test_error_burst_halts():
    eng = engine()
    for t in (0, 20_000, 40_000, 60_000, 80_000):  # never 5 within 60 s
        eng.record_venue_error(t, "rejected: insufficient margin")
    assert eng.state is TradingState.ACTIVE
    for t in range(200_000, 200_004):
        eng.record_venue_error(t, "timeout")
    assert eng.state is TradingState.ACTIVE
    events = eng.record_venue_error(200_004, "timeout")  # the 5th within 60 s
    assert eng.state is TradingState.HALTED
    assert (EventKind.BREAKER_TRIPPED, RiskReason.ERROR_BURST) in kinds(events)
    d = eng.evaluate(intent(quantity=1), Portfolio(cash=EQUITY), market(), 200_006)
    assert d.reason_code is RiskReason.HALTED and "error_burst" in d.reason
    eng.on_mark(Portfolio(cash=EQUITY), market(), 100 * DAY)  # no cool-down by default
    assert eng.state is TradingState.HALTED


# -- reconciliation with a live venue -------------------------------------------------------------


EXTERNAL = {
    "client_order_id": "by-hand",
    "venue_order_id": "42",
    "symbol": "X",
    "side": "BUY",
    "quantity": 2.0,
}


def test_external_orders_are_warnings_not_a_reason_to_reduce():
    eng = engine()
    events = eng.record_reconciliation(1_000, {"venue": "binance", "external": [EXTERNAL]})
    assert eng.state is TradingState.ACTIVE
    assert kinds(events) == [
        (EventKind.RECONCILIATION, RiskReason.EXTERNAL_ORDER),
        (EventKind.RECONCILIATION, RiskReason.RECONCILED),
    ]
    assert events[0].outcome == "WARNING" and "'by-hand'" in events[0].message
    assert "42" in events[0].message


def test_mismatch_reduces_until_reset_and_survives_a_restart():
    eng = engine()
    mismatch = {"asset": "BTC", "venue": 0.5, "expected": 0.0, "difference": 0.5}
    events = eng.record_reconciliation(1_000, {"venue": "binance", "mismatches": [mismatch]})
    assert eng.state is TradingState.REDUCING
    assert (EventKind.BREAKER_TRIPPED, RiskReason.RECONCILIATION_MISMATCH) in kinds(events)
    assert "BTC: venue 0.5, journal expects 0" in events[0].message
    d = eng.evaluate(intent(quantity=1), Portfolio(cash=EQUITY), market(), 2_000)
    assert d.reason_code is RiskReason.REDUCING_ONLY
    restored = RiskEngine.restore(json.loads(json.dumps(eng.snapshot())))
    eng.on_mark(Portfolio(cash=EQUITY), market(), 100 * DAY)  # no cool-down
    for e in (eng, restored):
        assert e.state is TradingState.REDUCING
        assert e.reset_breakers(100 * DAY, ["reconciliation"]) == ["reconciliation"]
        assert e.state is TradingState.ACTIVE


def test_an_order_the_venue_lost_also_reduces():
    eng = engine()
    eng.record_reconciliation(1_000, {"venue": "binance", "vanished": ["c-7"]})
    assert eng.state is TradingState.REDUCING
    assert "'c-7'" in eng.status()["breakers"]["reconciliation"]["reason"]


def test_snapshot_from_before_the_reconciliation_breaker_restores():
    snap = engine().snapshot()
    del snap["breakers"]["reconciliation"]
    restored = RiskEngine.restore(snap)
    assert restored.state is TradingState.ACTIVE
    assert not restored.breakers["reconciliation"].tripped


# -- drawdown ---------------------------------------------------------------------------------


def test_drawdown_at_10_percent_reduces_and_scales_sizes():
    eng = engine(daily_loss_pct=0.5)
    pf = long_x()
    m = MarketState(prices={"X": 90.0, "Y": 20.0}, atr={"Y": 2.5})
    eng.on_mark(pf, m, 1)  # equity 90,000: 10% below the 100,000 peak
    assert eng.state is TradingState.REDUCING
    (trip,) = [e for e in eng.drain_events() if e.kind is EventKind.BREAKER_TRIPPED]
    assert trip.reason_code is RiskReason.DRAWDOWN_SOFT
    assert eng.evaluate(intent("Y"), pf, m, 2).reason_code is RiskReason.REDUCING_ONLY
    assert eng.evaluate(intent(side=Side.SELL, quantity=500), pf, m, 2).approved
    # Acknowledge and trade on: new sizes are scaled while drawdown stays >= 10%.
    eng.reset_breakers(3, ["drawdown"])
    eng.on_mark(pf, m, 4)
    assert eng.state is TradingState.ACTIVE and eng.status()["size_scale"] == 0.5
    d = eng.evaluate(intent("Y"), pf, m, 5)
    assert d.quantity == pytest.approx(90.0)  # 90,000 x 1% / (2 x 2.5) = 180, x 0.5
    m95 = MarketState(prices={"X": 95.0, "Y": 20.0}, atr={"Y": 2.5})
    eng.on_mark(pf, m95, 6)
    assert eng.evaluate(intent("Y"), pf, m95, 7).quantity == pytest.approx(190.0)
    eng.on_mark(pf, market(89.0), 8)  # crossed again after recovering: trips again
    assert eng.state is TradingState.REDUCING


def test_soft_drawdown_clears_by_itself_on_recovery():
    eng = engine(daily_loss_pct=0.5)
    pf = long_x()
    eng.on_mark(pf, market(89.0), 1)
    assert eng.state is TradingState.REDUCING
    eng.on_mark(pf, market(95.0), 2)
    assert eng.state is TradingState.ACTIVE
    assert (EventKind.BREAKER_RESET, RiskReason.RECOVERED) in kinds(eng.drain_events())


def test_drawdown_at_20_percent_halts_and_produces_flattening_intents():
    eng = engine(daily_loss_pct=0.5)
    pf = Portfolio(
        cash=5_000.0,
        positions={"X": Position("X", 1000, 100.0), "Y": Position("Y", -100, 50.0)},
    )
    m = MarketState(prices={"X": 80.0, "Y": 50.0})
    eng.on_mark(pf, MarketState(prices={"X": 100.0, "Y": 50.0}), 1)
    intents = eng.on_mark(pf, m, 2)  # 80,000: 20% below the peak
    assert eng.state is TradingState.HALTED
    by_symbol = {i.symbol: i for i in intents}
    assert set(by_symbol) == {"X", "Y"}
    assert by_symbol["X"].side is Side.SELL and by_symbol["X"].quantity == 1000
    assert by_symbol["Y"].side is Side.BUY and by_symbol["Y"].quantity == 100
    for i in intents:
        assert i.reduce_only and i.order_type is OrderType.MARKET and i.strategy == "risk"
        assert i.client_order_id.startswith(f"risk-flatten-{i.symbol}-")
        d = eng.evaluate(i, pf, m, 3)
        assert d.approved and d.quantity == i.quantity  # even though HALTED
    forged = intent(side=Side.SELL, quantity=1000, cid="risk-flatten-X-9", reduce_only=True)
    assert eng.evaluate(forged, pf, m, 3).reason_code is RiskReason.HALTED
    assert eng.on_mark(pf, MarketState(prices={"X": 79.0, "Y": 50.0}), 4) == []  # once
    codes = kinds(eng.drain_events())
    assert (EventKind.BREAKER_TRIPPED, RiskReason.DRAWDOWN_HARD) in codes
    # Only an explicit reset ends it; it starts a new high-water mark.
    eng.reset_breakers(5, ["drawdown"])
    assert eng.state is TradingState.ACTIVE and eng.peak_equity == pytest.approx(79_000.0)


# -- in-trade: stop-loss and take-profit ------------------------------------------------------


def test_stop_loss_produces_one_exit_intent():
    eng = engine()
    pf = Portfolio(cash=EQUITY)
    d = eng.evaluate(intent(quantity=10, stop_loss=95.0, take_profit=110.0), pf, market(), 1)
    pf = execute(eng, pf, d, 100.0, 2)
    assert eng.protection("X")["stop_loss"] == 95.0
    assert eng.on_mark(pf, market(96.0), 3) == []
    (exit_,) = eng.on_mark(pf, market(95.0), 4)
    assert exit_.side is Side.SELL and exit_.quantity == 10 and exit_.reduce_only
    assert exit_.client_order_id.startswith("risk-sl-X-")
    assert eng.on_mark(pf, market(94.0), 5) == []  # once
    (stop,) = [e for e in eng.drain_events() if e.kind is EventKind.STOP_TRIGGERED]
    assert stop.reason_code is RiskReason.STOP_LOSS
    pf = execute(eng, pf, eng.evaluate(exit_, pf, market(94.0), 6), 94.0, 7)
    assert eng.protection("X") is None
    (trade,) = eng.ledger.closed_trades
    assert trade.strategy == "manual" and trade.gross_pnl == pytest.approx(-60.0)


def test_take_profit_on_a_short_produces_one_exit_intent():
    eng = engine()
    pf = Portfolio(cash=EQUITY)
    sell = intent(side=Side.SELL, quantity=10, stop_loss=105.0, take_profit=90.0)
    pf = execute(eng, pf, eng.evaluate(sell, pf, market(), 1), 100.0, 2)
    assert eng.on_mark(pf, market(91.0), 3) == []
    (exit_,) = eng.on_mark(pf, market(90.0), 4)
    assert exit_.side is Side.BUY and exit_.quantity == 10
    assert exit_.client_order_id.startswith("risk-tp-X-")
    assert eng.on_mark(pf, market(89.0), 5) == []


def test_fixed_fractional_sizing_sets_a_default_atr_stop_and_take_profit():
    eng = engine(take_profit_atr_multiple=3.0)
    pf = Portfolio(cash=EQUITY)
    m = MarketState(prices={"X": 20.0}, atr={"X": 2.5})
    pf = execute(eng, pf, eng.evaluate(intent(), pf, m, 1), 20.0, 2)
    protection = eng.protection("X")
    assert protection["stop_loss"] == pytest.approx(15.0)  # 20 - 2 x 2.5
    assert protection["take_profit"] == pytest.approx(27.5)  # 20 + 3 x 2.5
    (exit_,) = eng.on_mark(pf, market(27.5), 3)
    assert exit_.quantity == 200 and exit_.side is Side.SELL


# -- post-trade fill checks ------------------------------------------------------------------


def test_fill_for_unknown_symbol_or_beyond_the_order_is_flagged():
    eng = engine()
    pf = Portfolio(cash=EQUITY)
    d = eng.evaluate(intent(quantity=10, cid="o1"), pf, market(), 1)
    first = Fill("f1", "o1", "X", Side.BUY, 6, 100.0, 0.0, 2)
    pf = pf.apply_fill(first)
    (check,) = [e for e in eng.on_fill(first, pf, 2) if e.kind is EventKind.FILL_CHECK]
    assert d.approved and check.outcome == "OK"
    second = Fill("f2", "o1", "X", Side.BUY, 6, 100.0, 0.0, 3)
    pf = pf.apply_fill(second)
    (check,) = [e for e in eng.on_fill(second, pf, 3) if e.kind is EventKind.FILL_CHECK]
    assert check.outcome == "FLAGGED" and check.reason_code is RiskReason.OVERFILL
    stray = Fill("f3", "nobody", "QQQ", Side.SELL, 1, 10.0, 0.0, 4)
    pf = pf.apply_fill(stray)
    (check,) = [e for e in eng.on_fill(stray, pf, 4) if e.kind is EventKind.FILL_CHECK]
    assert check.outcome == "FLAGGED"
    assert check.details["flags"] == ["UNKNOWN_ORDER", "UNKNOWN_SYMBOL"]
    assert eng.ledger.position("manual", "QQQ") == -1  # flagged, but booked


def test_engine_exit_fills_close_the_strategies_attributed_positions():
    eng = engine()
    pf = Portfolio(cash=EQUITY)
    d = eng.evaluate(intent(quantity=10, strategy="a", stop_loss=90.0), pf, market(), 1)
    pf = execute(eng, pf, d, 100.0, 2)
    (exit_,) = eng.on_mark(pf, market(90.0), 3)
    execute(eng, pf, eng.evaluate(exit_, pf, market(90.0), 4), 90.0, 5)
    assert eng.ledger.position("a", "X") == 0 and eng.ledger.positions() == {}
    assert [t.strategy for t in eng.ledger.closed_trades] == ["a"]


# -- audit and persistence -------------------------------------------------------------------


def test_all_event_kinds_are_json_serialisable():
    eng = engine(error_burst_threshold=1, take_profit_atr_multiple=2.0)
    pf = Portfolio(cash=EQUITY)
    pf = round_trip(eng, pf, -1, 1)
    eng.update_limits(2, max_orders_per_minute=60)
    pf = execute(
        eng, pf, eng.evaluate(intent(stop_loss=99.0), pf, market(atr={"X": 1}), 3), 100.0, 4
    )
    eng.on_mark(pf, market(98.0), 5)
    eng.record_venue_error(DAY + 6, "boom")
    eng.reset_breakers(DAY + 7)
    eng.on_mark(pf, market(98.0), DAY + 8)
    events = eng.drain_events()
    seen = {e.kind for e in events}
    assert seen >= {
        EventKind.DECISION,
        EventKind.FILL_CHECK,
        EventKind.TRADE_CLOSED,
        EventKind.LIMITS_CHANGED,
        EventKind.STOP_TRIGGERED,
        EventKind.BREAKER_TRIPPED,
        EventKind.BREAKER_RESET,
        EventKind.STATE_CHANGED,
        EventKind.DAY_STARTED,
    }
    for e in events:
        json.dumps(e.to_dict(), allow_nan=False)
    json.dumps(eng.status(), allow_nan=False)


def test_events_are_bounded_and_drops_are_counted():
    eng = engine(max_events=3)
    for t in range(5):
        eng.check_cancel(f"c{t}", t)
    assert len(eng.drain_events()) == 3 and eng.status()["dropped_events"] == 2


def test_snapshot_restore_round_trip_preserves_state_and_behaviour():
    eng = engine(daily_loss_pct=0.5)
    pf = Portfolio(cash=EQUITY)
    for i in range(3):  # three losses: REDUCING with a cool-down
        pf = round_trip(eng, pf, -1, 10 * i)
    eng.reset_breakers(31)  # clear it to open a position the engine protects with a stop
    d = eng.evaluate(intent(quantity=10, cid="keep", stop_loss=90.0), pf, market(), 32)
    pf = execute(eng, pf, d, 100.0, 33)
    pf = round_trip(eng, pf, -1, 40)
    pf = round_trip(eng, pf, -1, 50)
    pf = round_trip(eng, pf, -1, 60)
    assert eng.state is TradingState.REDUCING
    eng.drain_events()

    data = json.loads(json.dumps(eng.snapshot(), allow_nan=False))
    twin = RiskEngine.restore(data)
    assert twin.snapshot() == eng.snapshot()
    assert twin.status() == eng.status()

    def script(e: RiskEngine):
        out = [e.state]
        d = e.evaluate(intent(quantity=1, cid="keep"), pf, market(), 70)
        out.append((d.approved, d.reason_code))
        d = e.evaluate(intent(quantity=1, cid="new-1"), pf, market(), 71)
        out.append((d.approved, d.reason_code))
        out.append([(i.client_order_id, i.quantity) for i in e.on_mark(pf, market(90.0), 72)])
        out.append(
            e.evaluate(intent(cid="new-2"), pf, market(90.0, {"X": 1}), 61 + 3_600_000).reason_code
        )
        out.append(e.state)
        return out

    assert script(twin) == script(eng)
    assert script(RiskEngine.restore(data))[1:4] == [
        (False, RiskReason.DUPLICATE_CLIENT_ORDER_ID),
        (False, RiskReason.REDUCING_ONLY),
        [("risk-sl-X-72", 10.0)],
    ]
