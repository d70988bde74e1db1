import json

import pytest

from supreme.core.desk import RiskDesk, decision_order
from supreme.core.model import (
    Bar,
    Direction,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    Side,
    Signal,
)
from supreme.core.risk import ENGINE_STRATEGY, RiskConfig, RiskReason, TradingState
from supreme.core.strategies import create_strategy
from supreme.data.simulator import simulate_bars

HOUR = 3_600_000


@pytest.fixture(scope="module")
def bars():
    return simulate_bars(["AAA", "BBB"], 1_200, seed=5)


def warm(desk: RiskDesk, symbol: str = "AAA", n: int = 30, price: float = 100.0) -> Bar:
    """Feed ``n`` calm bars so the desk has a price and a ready ATR; returns the last."""
    bar = None
    for i in range(n):
        p = price * (1 + 0.001 * (i % 3))
        bar = Bar(symbol, 1_700_000_000_000 + i * HOUR, p, p * 1.01, p * 0.99, p, 1_000.0)
        desk.on_bar(bar)
    assert bar is not None
    return bar


def signal(bar: Bar, direction: Direction, strategy: str = "momentum") -> Signal:
    return Signal(bar.symbol, strategy, bar.time_ms, direction, 0.5, bar.close)


def fill_for(order: Order, price: float, time_ms: int, n: int = 1) -> Fill:
    return Fill(
        f"f-{order.client_order_id}-{n}",
        order.client_order_id,
        order.symbol,
        order.side,
        order.quantity,
        price,
        0.0,
        time_ms,
        order.strategy,
    )


def test_halted_desk_denies_new_orders_with_the_reason():
    desk = RiskDesk(initial_cash=100_000.0)
    bar = warm(desk)
    desk.set_trading_state(TradingState.HALTED, "ops")
    decisions = desk.on_signal(signal(bar, Direction.LONG))
    assert len(decisions) == 1
    assert decisions[0].denied and decisions[0].reason_code is RiskReason.HALTED
    denied = decision_order(decisions[0])
    assert denied.status is OrderStatus.DENIED and "HALTED" in denied.reason.upper()
    kinds = [e.kind.value for e in desk.drain_events()]
    assert "STATE_CHANGED" in kinds and "DECISION" in kinds
    assert desk.drain_events() == []


def test_reversal_gives_close_then_open_and_the_open_sees_the_close_as_pending():
    desk = RiskDesk(initial_cash=100_000.0)
    bar = warm(desk)
    (opening,) = desk.on_signal(signal(bar, Direction.LONG))
    assert opening.approved and opening.quantity > 0
    order = decision_order(opening)
    # Pending and unfilled, the order already counts as held: the same target asks nothing.
    assert desk.on_signal(signal(bar, Direction.LONG), [order]) == []
    desk.on_fills([fill_for(order, bar.close, bar.time_ms + HOUR)], bar.time_ms + HOUR)
    assert desk.positions()["AAA"].quantity == pytest.approx(order.quantity)

    seen: list[list[str]] = []
    evaluate = desk.risk.evaluate

    def spy(intent, portfolio, market, now_ms, open_orders=()):
        orders = list(open_orders)
        seen.append([o.client_order_id for o in orders])
        return evaluate(intent, portfolio, market, now_ms, open_orders=orders)

    desk.risk.evaluate = spy  # type: ignore[method-assign]
    later = Bar("AAA", bar.time_ms + HOUR, 100.0, 101.0, 99.0, 100.0, 1_000.0)
    desk.on_bar(later)
    close, open_ = desk.on_signal(signal(later, Direction.SHORT))
    assert close.approved and close.intent.reduce_only and close.intent.side is Side.SELL
    assert close.quantity == pytest.approx(order.quantity)
    assert open_.intent.side is Side.SELL and not open_.intent.reduce_only
    assert seen == [[], [close.client_order_id]]
    assert close.client_order_id != open_.client_order_id


def test_flatten_decisions_at_the_hard_drawdown():
    desk = RiskDesk(
        RiskConfig(max_position_pct=1.0, max_gross_exposure_pct=1.5), initial_cash=100_000.0
    )
    bar = warm(desk)
    intent = OrderIntent("manual-1", "AAA", Side.BUY, quantity=900.0, time_ms=bar.time_ms)
    decision = desk.evaluate(intent)
    assert decision.approved and decision.quantity == pytest.approx(900.0)
    desk.on_fills([fill_for(decision_order(decision), 100.0, bar.time_ms + 1)], bar.time_ms + 1)
    # 900 units lose 25 each: equity 100k -> 77.5k, a 22.5% drawdown.
    crash = Bar("AAA", bar.time_ms + HOUR, 80.0, 80.0, 75.0, 75.0, 1_000.0)
    decisions = desk.on_bar(crash)
    assert desk.state is TradingState.HALTED
    (flatten,) = decisions
    assert flatten.approved and flatten.intent.strategy == ENGINE_STRATEGY
    assert flatten.intent.reduce_only and flatten.intent.side is Side.SELL
    assert flatten.quantity == pytest.approx(900.0)
    assert flatten.client_order_id.startswith("risk-flatten-AAA")
    status = desk.risk_status()
    assert status["drawdown"] == pytest.approx(0.225)
    assert status["equity"] == pytest.approx(77_500.0) and status["state"] == "HALTED"
    # New exposure is refused while halted.
    (denied,) = desk.on_signal(signal(crash, Direction.LONG, "breakout"))
    assert denied.reason_code is RiskReason.HALTED


def test_a_fill_delivered_twice_is_booked_once():
    desk = RiskDesk(initial_cash=10_000.0)
    bar = warm(desk)
    (decision,) = desk.on_signal(signal(bar, Direction.LONG))
    fill = fill_for(decision_order(decision), 100.0, bar.time_ms + 1)
    assert desk.on_fills([fill], bar.time_ms + 1) == [fill]
    assert desk.on_fills([fill], bar.time_ms + 2) == []
    assert desk.portfolio.position("AAA").quantity == pytest.approx(fill.quantity)


def test_on_bars_marks_like_on_bar_and_skips_stale_bars(bars):
    one, many = RiskDesk(initial_cash=1_000.0), RiskDesk(initial_cash=1_000.0)
    for bar in bars:
        one.on_bar(bar)
    many.on_bars(bars.select(slice(0, 1_000)))
    many.on_bars(bars.select(slice(900, None)))  # overlaps: the repeated bars are ignored
    assert many.prices == one.prices and many.atr_values == one.atr_values
    assert many.now_ms == one.now_ms == int(bars.time_ms[-1])


class Driver:
    """A tiny live loop: orders fill at the next bar's open; strategies on every bar."""

    def __init__(self, desk: RiskDesk, symbols):
        self.desk = desk
        self.pending: list[Order] = []
        self.decisions = []
        self.strategies = {
            s: [create_strategy(n, s, {}) for n in ("momentum", "breakout")] for s in symbols
        }

    def step(self, bar: Bar) -> None:
        fills = []
        for order in [o for o in self.pending if o.symbol == bar.symbol]:
            self.pending.remove(order)
            fills.append(fill_for(order, bar.open, bar.time_ms))
        self.desk.on_fills(fills, bar.time_ms)
        self.route(self.desk.on_bar(bar, self.pending))
        for strategy in self.strategies[bar.symbol]:
            sig = strategy.on_bar(bar)
            if sig is not None:
                self.route(self.desk.on_signal(sig, self.pending))

    def route(self, decisions) -> None:
        for decision in decisions:
            self.decisions.append(
                (decision.client_order_id, decision.approved, decision.quantity, decision.reason)
            )
            if decision.approved:
                self.pending.append(decision_order(decision))


def test_snapshot_restore_round_trip_continues_identically(bars):
    config = RiskConfig(max_consecutive_losses=2, take_profit_atr_multiple=3.0)
    straight = Driver(RiskDesk(config, initial_cash=50_000.0), bars.symbols())
    for bar in bars:
        straight.step(bar)
    resumed = Driver(RiskDesk(config, initial_cash=50_000.0), bars.symbols())
    half = len(bars) // 2
    for bar in bars.select(slice(0, half)):
        resumed.step(bar)
    before = resumed.desk.drain_events()  # a snapshot leaves pending events out: drain first
    saved = json.loads(json.dumps(resumed.desk.snapshot(), allow_nan=False))  # strict JSON
    resumed.desk = RiskDesk.restore(saved)
    assert resumed.desk.snapshot() == saved
    for bar in bars.select(slice(half, None)):
        resumed.step(bar)
    assert len(straight.decisions) > 20
    assert resumed.decisions == straight.decisions
    assert resumed.desk.portfolio == straight.desk.portfolio
    after = resumed.desk.drain_events()
    assert [e.to_dict() for e in before + after] == [
        e.to_dict() for e in straight.desk.drain_events()
    ]
    assert resumed.desk.risk_status() == straight.desk.risk_status()
    # The id counter survived: no client order id was issued twice.
    ids = [d[0] for d in resumed.decisions]
    assert len(ids) == len(set(ids))
