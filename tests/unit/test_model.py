import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supreme.core.model import (
    Bar,
    BarBatch,
    Direction,
    Fill,
    Instrument,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Portfolio,
    Position,
    Side,
    Signal,
)


def good_bar(**changes):
    fields = dict(
        symbol="BTC",
        time_ms=1_700_000_000_000,
        open=10.0,
        high=12.0,
        low=9.0,
        close=11.0,
        volume=5.0,
    )
    fields.update(changes)
    return Bar(**fields)


@pytest.mark.parametrize(
    ("changes", "field_named"),
    [
        ({"symbol": ""}, "symbol"),
        ({"symbol": "   "}, "symbol"),
        ({"time_ms": -1}, "time_ms"),
        ({"time_ms": 1.5}, "time_ms"),
        ({"open": float("nan")}, "open"),
        ({"high": float("inf"), "open": 10.0}, "high"),
        ({"low": 0.0}, "low"),
        ({"close": -1.0}, "close"),
        ({"volume": -0.5}, "volume"),
        ({"volume": float("nan")}, "volume"),
        ({"low": 13.0}, "low"),
        ({"open": 12.5}, "open"),
        ({"close": 8.0}, "close"),
    ],
)
def test_bar_rejects_bad_values_naming_the_field(changes, field_named):
    with pytest.raises(ValueError, match=field_named):
        good_bar(**changes)


def test_bar_is_immutable():
    bar = good_bar()
    with pytest.raises(dataclasses.FrozenInstanceError):
        bar.close = 1.0  # type: ignore[misc]


def test_bar_batch_round_trips_bars_and_frames():
    bars = [good_bar(time_ms=t, symbol=s) for t in range(3) for s in ("A", "B")]
    batch = BarBatch.from_bars(bars)
    assert len(batch) == 6
    assert list(batch) == bars
    assert batch[3] == bars[3]
    again = BarBatch.from_frame(batch.to_frame())
    assert list(again) == bars
    assert batch.symbols() == ["A", "B"]
    assert list(batch.for_symbol("B")) == [b for b in bars if b.symbol == "B"]


def test_bar_batch_arrays_are_read_only():
    batch = BarBatch.from_bars([good_bar()])
    with pytest.raises(ValueError):
        batch.close[0] = 1.0


def test_bar_batch_validation_names_row_and_field():
    with pytest.raises(ValueError, match=r"row 1 .*high"):
        BarBatch(["A", "A"], [0, 1], [10, 10], [12, float("nan")], [9, 9], [11, 11], [1, 1])
    with pytest.raises(ValueError, match="same length"):
        BarBatch(["A"], [0, 1], [10, 10], [12, 12], [9, 9], [11, 11])


def test_bar_batch_invalid_rows_reports_every_bad_row_without_raising():
    batch = BarBatch(
        ["A", "", "A", "A"],
        [0, 1, 2, 3],
        [10, 10, 10, 10],
        [12, 12, 8, 12],
        [9, 9, 9, 9],
        [11, 11, 11, 11],
        [1, 1, 1, -1],
        validate=False,
    )
    bad = batch.invalid_rows()
    assert set(bad) == {1, 2, 3}
    assert "symbol" in bad[1]
    assert "low must be <= high" in bad[2]
    assert "volume" in bad[3]


_ODD_FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 1e308])


@settings(max_examples=300, deadline=None)
@given(
    rows=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    spoil=st.lists(
        st.tuples(
            st.integers(0, 39),
            st.sampled_from(["open", "high", "low", "close", "volume", "time_ms", "symbol"]),
            _ODD_FLOATS,
        ),
        max_size=3,
    ),
)
def test_bar_batch_quick_screen_agrees_with_the_detailed_reasons(rows, seed, spoil):
    # invalid_rows() first screens a batch (plain Python up to 32 rows, numpy above); the
    # screen must say "all valid" exactly when the row-by-row reasons are empty.
    rng = np.random.default_rng(seed)
    low = rng.uniform(1, 100, rows)
    high = low * rng.uniform(1.0, 1.1, rows)
    columns = {
        "symbol": np.array(["S"] * rows, dtype=object),
        "time_ms": np.arange(rows, dtype=np.int64),
        "open": low + (high - low) * rng.uniform(0, 1, rows),
        "high": high,
        "low": low,
        "close": low + (high - low) * rng.uniform(0, 1, rows),
        "volume": rng.uniform(0, 10, rows),
    }
    for row, name, value in spoil:
        if row >= rows:
            continue
        if name == "symbol":
            columns[name][row] = " " if math.isnan(value) else ""
        elif name == "time_ms":
            columns[name][row] = -1 if math.isnan(value) else 2**62  # before 1970 / after 2200
        else:
            columns[name][row] = value
    batch = BarBatch(*columns.values(), validate=False)
    assert batch._all_valid() == (not batch._reasons())
    assert batch.invalid_rows() == batch._reasons()


def test_bar_batch_from_frame_requires_columns():
    with pytest.raises(ValueError, match="missing column"):
        BarBatch.from_frame(pd.DataFrame({"open": [1.0]}), symbol="A")


def test_signal_validates_strength_and_direction():
    Signal("A", "momentum", 0, Direction.LONG, 0.5, 10.0)
    with pytest.raises(ValueError, match="strength"):
        Signal("A", "momentum", 0, Direction.LONG, 1.5, 10.0)
    with pytest.raises(ValueError, match="direction"):
        Signal("A", "momentum", 0, 1, 0.5, 10.0)  # type: ignore[arg-type]


def test_order_intent_requires_prices_for_limit_and_stop():
    with pytest.raises(ValueError, match="limit_price"):
        OrderIntent("c1", "A", Side.BUY, 1.0, OrderType.LIMIT)
    with pytest.raises(ValueError, match="stop_price"):
        OrderIntent("c1", "A", Side.BUY, 1.0, OrderType.STOP)
    with pytest.raises(ValueError, match="quantity"):
        OrderIntent("c1", "A", Side.BUY, -1.0)
    assert OrderIntent("c1", "A", Side.BUY).quantity is None


def test_order_remaining_quantity_and_overfill_guard():
    order = Order("c1", "A", Side.BUY, 1.0, filled_quantity=0.25)
    assert order.remaining_quantity == pytest.approx(0.75)
    with pytest.raises(ValueError, match="filled_quantity"):
        Order("c1", "A", Side.BUY, 1.0, filled_quantity=1.5)
    assert OrderStatus.FILLED.is_terminal and not OrderStatus.SUBMITTED.is_terminal


def test_instrument_rounds_quantity_down_and_price_to_tick():
    inst = Instrument("A", price_increment=0.01, quantity_increment=0.1)
    assert inst.round_quantity(0.3) == pytest.approx(0.3)
    assert inst.round_quantity(0.39) == pytest.approx(0.3)
    assert inst.round_price(10.006) == pytest.approx(10.01)
    assert inst.is_on_price_tick(10.01) and not inst.is_on_price_tick(10.005)


def test_position_average_cost_realizes_on_reduce_and_flip():
    pos, realized = Position("A").apply(2.0, 10.0)
    assert (pos.quantity, pos.average_price, realized) == (2.0, 10.0, 0.0)
    pos, realized = pos.apply(2.0, 12.0)
    assert pos.average_price == pytest.approx(11.0)
    pos, realized = pos.apply(-1.0, 13.0)
    assert realized == pytest.approx(2.0) and pos.average_price == pytest.approx(11.0)
    pos, realized = pos.apply(-5.0, 9.0)  # flips to short 2 at 9
    assert realized == pytest.approx(-6.0)
    assert pos.quantity == pytest.approx(-2.0) and pos.average_price == 9.0
    assert pos.direction is Direction.SHORT
    assert pos.unrealized_pnl(8.0) == pytest.approx(2.0)


def _fill(n, side, qty, price, fee=0.0, symbol="A"):
    return Fill(f"f{n}", f"o{n}", symbol, side, qty, price, fee, n)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([Side.BUY, Side.SELL]),
            st.floats(0.01, 100, allow_nan=False),
            st.floats(1, 1000, allow_nan=False),
            st.floats(0, 5, allow_nan=False),
            st.sampled_from(["A", "B"]),
        ),
        min_size=1,
        max_size=30,
    ),
    st.floats(1, 1000, allow_nan=False),
)
def test_portfolio_accounting_identity_holds_for_any_fill_sequence(fills, mark):
    portfolio = Portfolio(cash=10_000.0)
    for n, (side, qty, price, fee, symbol) in enumerate(fills):
        portfolio = portfolio.apply_fill(_fill(n, side, qty, price, fee, symbol))
    prices = {"A": mark, "B": mark * 1.5}
    expected = 10_000.0 + portfolio.realized_pnl - portfolio.fees + portfolio.unrealized_pnl(prices)
    assert math.isclose(portfolio.equity(prices), expected, rel_tol=1e-9, abs_tol=1e-6)
    assert portfolio.fees == pytest.approx(sum(f[3] for f in fills))


def test_portfolio_is_immutable_and_round_trips_through_dict():
    portfolio = Portfolio(1000.0).apply_fill(_fill(1, Side.BUY, 2, 10, 0.5))
    with pytest.raises(TypeError):
        portfolio.positions["B"] = Position("B")  # type: ignore[index]
    assert Portfolio.from_dict(portfolio.to_dict()) == portfolio
    assert portfolio.gross_exposure({"A": 11.0}) == pytest.approx(22.0)


def test_bar_batch_iteration_is_equivalent_to_indexing():
    rng = np.random.default_rng(1)
    close = 100 + rng.standard_normal(50).cumsum()
    batch = BarBatch("X", np.arange(50), close, close + 1, close - 1, close, np.ones(50))
    assert [batch[i] for i in range(50)] == list(batch)
