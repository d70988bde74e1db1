import itertools
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supreme.core.model import Direction, Fill, Portfolio, Side
from supreme.core.risk import ClosedTrade, TradeLedger

_ids = itertools.count()


def fill(side, qty, price, fee=0.0, t=0, strategy="s", symbol="X"):
    n = next(_ids)
    return Fill(f"f{n}", f"o{n}", symbol, side, qty, price, fee, t, strategy)


def test_round_trip_with_adds_and_partial_exits_is_one_trade_from_flat_to_flat():
    ledger = TradeLedger()
    assert ledger.on_fill(fill(Side.BUY, 10, 100.0, fee=1.0, t=1)) == []
    assert ledger.on_fill(fill(Side.SELL, 5, 110.0, fee=0.5, t=2)) == []
    assert ledger.on_fill(fill(Side.BUY, 5, 120.0, fee=0.5, t=3)) == []
    assert ledger.position("s", "X") == 10
    (trade,) = ledger.on_fill(fill(Side.SELL, 10, 115.0, fee=1.0, t=4))
    assert trade.direction is Direction.LONG
    assert (trade.entry_time_ms, trade.exit_time_ms) == (1, 4)
    assert trade.quantity == 15
    assert trade.entry_price == pytest.approx((1000 + 600) / 15)
    assert trade.exit_price == pytest.approx((550 + 1150) / 15)
    # average cost: +5 x 10, then avg 110 -> +10 x 5
    assert trade.gross_pnl == pytest.approx(100.0)
    assert trade.fees == pytest.approx(3.0)
    assert trade.pnl == pytest.approx(97.0)
    assert ledger.position("s", "X") == 0.0


def test_flip_closes_one_trade_and_opens_the_next_splitting_the_fee():
    ledger = TradeLedger()
    ledger.on_fill(fill(Side.BUY, 10, 100.0, fee=2.0, t=1))
    (closed,) = ledger.on_fill(fill(Side.SELL, 15, 90.0, fee=3.0, t=2))
    assert closed.direction is Direction.LONG and closed.quantity == 10
    assert closed.gross_pnl == pytest.approx(-100.0)
    assert closed.fees == pytest.approx(2.0 + 3.0 * 10 / 15)  # opening fee + its closing share
    assert ledger.position("s", "X") == -5
    (short,) = ledger.on_fill(fill(Side.BUY, 5, 80.0, fee=1.0, t=3))
    assert short.direction is Direction.SHORT and short.entry_time_ms == 2
    assert short.entry_price == 90.0 and short.exit_price == 80.0
    assert short.gross_pnl == pytest.approx(50.0)
    assert short.fees == pytest.approx(1.0 + 1.0)  # the flip's remaining 1.0 + the close


def test_opening_fees_are_attributed_to_the_trade_even_when_it_wins_gross():
    ledger = TradeLedger()
    ledger.on_fill(fill(Side.BUY, 1, 100.0, fee=5.0))
    (trade,) = ledger.on_fill(fill(Side.SELL, 1, 103.0, fee=0.0))
    assert trade.gross_pnl == pytest.approx(3.0) and trade.pnl == pytest.approx(-2.0)
    assert trade.is_loss and ledger.stats("s").consecutive_losses == 1


def test_strategies_are_attributed_separately_in_the_same_symbol():
    ledger = TradeLedger()
    ledger.on_fill(fill(Side.BUY, 10, 100.0, strategy="a"))
    ledger.on_fill(fill(Side.SELL, 4, 100.0, strategy="b"))
    assert ledger.position("a", "X") == 10 and ledger.position("b", "X") == -4
    assert ledger.positions() == {("a", "X"): 10, ("b", "X"): -4}


def test_allocated_fill_closes_the_holders_positions_first():
    ledger = TradeLedger()
    ledger.on_fill(fill(Side.BUY, 10, 100.0, strategy="a"))
    ledger.on_fill(fill(Side.BUY, 5, 100.0, strategy="b"))
    closed = ledger.on_fill(fill(Side.SELL, 15, 90.0, strategy="risk"), allocate=True)
    assert sorted((t.strategy, t.quantity) for t in closed) == [("a", 10), ("b", 5)]
    assert ledger.positions() == {}
    assert ledger.stats("a").trades == 1 and ledger.stats("risk").trades == 0


def round_trip(ledger, pnl, t):
    ledger.on_fill(fill(Side.BUY, 1, 100.0, t=t))
    return ledger.on_fill(fill(Side.SELL, 1, 100.0 + pnl, t=t + 1))


def test_stats_win_rate_payoff_streak_and_rolling_window():
    ledger = TradeLedger(window=5)
    for i, pnl in enumerate([50, -10, 30, -20, -20]):
        round_trip(ledger, pnl, 10 * i)
    s = ledger.stats("s")
    assert (s.trades, s.wins, s.losses) == (5, 2, 3)
    assert s.win_rate == pytest.approx(0.4)
    assert s.average_win == pytest.approx(40.0) and s.average_loss == pytest.approx(50 / 3)
    assert s.payoff_ratio == pytest.approx(40.0 / (50 / 3))
    assert s.consecutive_losses == 2
    round_trip(ledger, 10, 100)  # pushes the +50 out of the window, ends the streak
    s = ledger.stats("s")
    assert s.trades == 5 and s.wins == 2 and s.average_win == pytest.approx(20.0)
    assert s.consecutive_losses == 0
    assert len(ledger.closed_trades) == 6  # the history keeps everything


def test_stats_without_losses_have_infinite_payoff_rendered_as_none():
    ledger = TradeLedger()
    round_trip(ledger, 5, 0)
    s = ledger.stats("s")
    assert math.isinf(s.payoff_ratio) and s.to_dict()["payoff_ratio"] is None
    assert ledger.stats("nobody").trades == 0 and ledger.stats("nobody").payoff_ratio == 0.0


def test_snapshot_restore_keeps_open_trades_stats_and_history():
    ledger = TradeLedger(window=3)
    round_trip(ledger, -5, 0)
    ledger.on_fill(fill(Side.SELL, 2, 50.0, fee=0.2, t=5))
    data = json.loads(json.dumps(ledger.snapshot(), allow_nan=False))
    restored = TradeLedger.restore(data)
    assert restored.snapshot() == ledger.snapshot()
    assert restored.stats("s") == ledger.stats("s")
    (trade,) = restored.on_fill(fill(Side.BUY, 2, 40.0, t=6))
    assert trade.direction is Direction.SHORT and trade.gross_pnl == pytest.approx(20.0)
    assert trade.fees == pytest.approx(0.2)
    assert ClosedTrade.from_dict(trade.to_dict()) == trade


fills_strategy = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1, 5_000).map(lambda q: q / 100),  # 0.01 .. 50.00
        st.integers(100, 50_000).map(lambda p: p / 100),  # 1.00 .. 500.00
        st.integers(0, 300).map(lambda f: f / 100),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(fills_strategy, st.integers(100, 50_000).map(lambda p: p / 100))
def test_closed_trades_sum_to_portfolio_realized_pnl_when_one_strategy_ends_flat(rows, last):
    ledger = TradeLedger()
    portfolio = Portfolio(cash=0.0)
    trades = []
    for t, (side, qty, price, fee) in enumerate(rows):
        f = fill(side, qty, price, fee, t=t)
        portfolio = portfolio.apply_fill(f)
        trades += ledger.on_fill(f)
        assert ledger.position("s", "X") == pytest.approx(portfolio.position("X").quantity)
    held = portfolio.position("X").quantity
    if not portfolio.position("X").is_flat:
        side = Side.SELL if held > 0 else Side.BUY
        f = fill(side, abs(held), last, 0.0, t=len(rows))
        portfolio = portfolio.apply_fill(f)
        trades += ledger.on_fill(f)
    assert portfolio.position("X").is_flat and ledger.positions() == {}
    assert trades, "ending flat after at least one fill closes at least one trade"
    assert sum(t.gross_pnl for t in trades) == pytest.approx(
        portfolio.realized_pnl, rel=1e-9, abs=1e-6
    )
    assert sum(t.fees for t in trades) == pytest.approx(portfolio.fees, rel=1e-9, abs=1e-9)
    for t in trades:
        sign = 1 if t.direction is Direction.LONG else -1
        assert t.gross_pnl == pytest.approx(
            sign * (t.exit_price - t.entry_price) * t.quantity, rel=1e-6, abs=1e-6
        )
