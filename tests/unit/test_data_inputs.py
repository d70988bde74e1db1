import numpy as np
import pandas as pd
import pytest

from supreme.core.model import Direction, Side, Signal
from supreme.core.trading import ClientOrderIds, intents_for_signal
from supreme.data.files import frame_to_batch, read_bars
from supreme.data.simulator import SimulatorConfig, simulate_bars


def test_simulator_is_reproducible_and_valid():
    a = simulate_bars(["A", "B"], 2_000, seed=5)
    b = simulate_bars(["A", "B"], 2_000, seed=5)
    c = simulate_bars(["A", "B"], 2_000, seed=6)
    assert len(a) == 4_000
    np.testing.assert_array_equal(a.close, b.close)
    assert not np.array_equal(a.close, c.close)
    assert a.invalid_rows() == {}
    # Rows are time-ordered with every symbol at each instant.
    assert np.all(np.diff(a.time_ms) >= 0)
    assert a.symbol[:4].tolist() == ["A", "B", "A", "B"]


def test_simulator_has_volatility_regimes():
    config = SimulatorConfig(volatilities=(0.002, 0.04), regime_switch_probability=0.005)
    close = simulate_bars("A", 20_000, seed=1, config=config).close
    returns = np.diff(np.log(close))
    rolling = pd.Series(returns).rolling(100).std().dropna()
    # Calm and turbulent stretches both exist, an order of magnitude apart.
    assert rolling.quantile(0.05) < 0.004 < 0.02 < rolling.quantile(0.95)


def test_simulator_rejects_bad_arguments():
    with pytest.raises(ValueError, match="symbols"):
        simulate_bars([], 10)
    with pytest.raises(ValueError, match="volatilities"):
        SimulatorConfig(volatilities=())


def test_read_bars_from_csv_and_parquet_with_dates(tmp_path):
    frame = pd.DataFrame(
        {
            "Date": ["2024-01-02 00:00", "2024-01-01 00:00"],
            "Open": [10.0, 11.0],
            "High": [12.0, 12.0],
            "Low": [9.0, 9.0],
            "Close": [11.0, 10.0],
            "Volume": [5.0, 6.0],
        }
    )
    frame.to_csv(tmp_path / "AAPL.csv", index=False)
    frame.to_parquet(tmp_path / "AAPL.parquet")
    for name in ("AAPL.csv", "AAPL.parquet"):
        batch = read_bars(tmp_path / name)
        assert batch.symbol.tolist() == ["AAPL", "AAPL"]
        assert batch.time_ms.tolist() == [1_704_067_200_000, 1_704_153_600_000]
        assert batch.close.tolist() == [10.0, 11.0]  # sorted by time


def test_frame_to_batch_filters_symbol_and_reports_bad_rows():
    bars = simulate_bars(["A", "B"], 10, seed=1).to_frame()
    only_b = frame_to_batch(bars, symbol="B")
    assert set(only_b.symbol.tolist()) == {"B"} and len(only_b) == 10
    broken = bars.copy()
    broken.loc[3, "high"] = broken.loc[3, "low"] / 2
    with pytest.raises(ValueError, match="row"):
        frame_to_batch(broken)
    with pytest.raises(ValueError, match="time"):
        frame_to_batch(bars.drop(columns=["time_ms"]))


def _signal(direction):
    return Signal("A", "momentum", 1_000, direction, 0.5, 10.0)


@pytest.mark.parametrize(
    ("held", "target", "expected"),
    [
        (0.0, Direction.LONG, [(Side.BUY, None, False)]),
        (0.0, Direction.SHORT, [(Side.SELL, None, False)]),
        (0.0, Direction.FLAT, []),
        (2.0, Direction.LONG, []),
        (2.0, Direction.FLAT, [(Side.SELL, 2.0, True)]),
        (2.0, Direction.SHORT, [(Side.SELL, 2.0, True), (Side.SELL, None, False)]),
        (-3.0, Direction.LONG, [(Side.BUY, 3.0, True), (Side.BUY, None, False)]),
        (-3.0, Direction.FLAT, [(Side.BUY, 3.0, True)]),
    ],
)
def test_intents_move_a_strategy_from_what_it_holds_to_its_target(held, target, expected):
    intents = intents_for_signal(_signal(target), held, ClientOrderIds("t"))
    assert [(i.side, i.quantity, i.reduce_only) for i in intents] == expected
    assert len({i.client_order_id for i in intents}) == len(intents)
    assert all(i.strategy == "momentum" and i.symbol == "A" for i in intents)
