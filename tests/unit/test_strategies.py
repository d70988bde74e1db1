"""Strategies: the rules, incremental == batch, warm-up, checkpoints, params and the registry."""

from __future__ import annotations

import itertools
import json
import logging
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _data import bars_from_closes, walk_batch

from supreme.core.errors import AlreadyExists, InvalidArgument, NotFound
from supreme.core.model import Bar, BarBatch, Direction, Signal
from supreme.core.strategies import (
    BaseStrategy,
    Breakout,
    MeanReversion,
    Momentum,
    Param,
    Strategy,
    breakout_step,
    breakout_strength,
    create_strategy,
    generate_signals,
    get_strategy,
    list_strategies,
    mean_reversion_step,
    mean_reversion_strength,
    momentum_step,
    momentum_strength,
    register,
    restore_strategy,
    unregister,
    validate_params,
)
from supreme.core.strategies import registry as registry_module

LONG, FLAT, SHORT = Direction.LONG, Direction.FLAT, Direction.SHORT
NAN = math.nan
SYMBOL = "BTC-USD"

PARAM_SETS = {
    "momentum": [None, {"fast": 5, "slow": 13, "signal": 4, "rsi_period": 7, "rsi_upper": 80}],
    "mean_reversion": [None, {"period": 10, "k": 1.5}],
    "breakout": [None, {"channel": 10, "exit_channel": 30, "atr_period": 5, "atr_mult": 0.0}],
}
RUNS = [(name, params) for name, sets in PARAM_SETS.items() for params in sets]
RUN_IDS = [f"{name}-{'default' if p is None else 'custom'}" for name, p in RUNS]


@pytest.fixture(scope="module")
def batch() -> BarBatch:
    return walk_batch(SYMBOL, n=5000, seed=21)


@pytest.fixture(scope="module")
def bars(batch: BarBatch) -> list[Bar]:
    return list(batch)


def run(strategy: Strategy, bars: list[Bar]) -> list[Signal]:
    return [s for s in map(strategy.on_bar, bars) if s is not None]


def key(signal: Signal) -> tuple:
    return (signal.symbol, signal.strategy, signal.time_ms, signal.direction, signal.price)


def assert_same_signals(actual: list[Signal], expected: list[Signal]) -> None:
    assert [key(s) for s in actual] == [key(s) for s in expected]
    for a, e in zip(actual, expected, strict=True):
        assert a.strength == pytest.approx(e.strength, abs=1e-9)


# -- momentum rules ------------------------------------------------------------------------------

CROSS_UP = (-1.0, 0.0, 1.0, 0.0)  # macd_prev, signal_prev, macd, signal
CROSS_DOWN = (1.0, 0.0, -1.0, 0.0)
NO_CROSS = (1.0, 0.0, 2.0, 0.0)


@pytest.mark.parametrize("state", [FLAT, SHORT, LONG])
def test_momentum_confirmed_cross_up_targets_long_from_any_state(state: Direction) -> None:
    assert momentum_step(state, *CROSS_UP, 60.0, 70.0, 30.0) is LONG


@pytest.mark.parametrize("state", [FLAT, SHORT, LONG])
def test_momentum_confirmed_cross_down_targets_short_from_any_state(state: Direction) -> None:
    assert momentum_step(state, *CROSS_DOWN, 40.0, 70.0, 30.0) is SHORT


@pytest.mark.parametrize("rsi", [50.0, 45.0, 70.0, 85.0])
def test_momentum_unconfirmed_cross_up_only_closes_a_short(rsi: float) -> None:
    assert momentum_step(SHORT, *CROSS_UP, rsi, 70.0, 30.0) is FLAT
    assert momentum_step(FLAT, *CROSS_UP, rsi, 70.0, 30.0) is FLAT
    assert momentum_step(LONG, *CROSS_UP, rsi, 70.0, 30.0) is LONG


@pytest.mark.parametrize("rsi", [50.0, 55.0, 30.0, 10.0])
def test_momentum_unconfirmed_cross_down_only_closes_a_long(rsi: float) -> None:
    assert momentum_step(LONG, *CROSS_DOWN, rsi, 70.0, 30.0) is FLAT
    assert momentum_step(FLAT, *CROSS_DOWN, rsi, 70.0, 30.0) is FLAT
    assert momentum_step(SHORT, *CROSS_DOWN, rsi, 70.0, 30.0) is SHORT


def test_momentum_cross_definition_counts_touch_before_but_not_touch_after() -> None:
    # macd[i-1] <= sig[i-1] and macd[i] > sig[i]: a touch on the previous bar counts.
    assert momentum_step(FLAT, 0.0, 0.0, 1.0, 0.0, 60.0, 70.0, 30.0) is LONG
    assert momentum_step(FLAT, 0.0, 0.0, -1.0, 0.0, 40.0, 70.0, 30.0) is SHORT
    # Ending on a touch is not a cross.
    assert momentum_step(FLAT, -1.0, 0.0, 0.0, 0.0, 60.0, 70.0, 30.0) is FLAT
    assert momentum_step(SHORT, -1.0, 0.0, 0.0, 0.0, 60.0, 70.0, 30.0) is SHORT


@pytest.mark.parametrize("state", [FLAT, SHORT, LONG])
def test_momentum_without_a_cross_keeps_the_target(state: Direction) -> None:
    assert momentum_step(state, *NO_CROSS, 60.0, 70.0, 30.0) is state


@pytest.mark.parametrize("nan_at", range(5))
def test_momentum_any_nan_input_keeps_the_target(nan_at: int) -> None:
    values = [*CROSS_UP, 60.0]
    values[nan_at] = NAN
    assert momentum_step(SHORT, *values, 70.0, 30.0) is SHORT


def test_momentum_strength_scales_rsi_distance_to_the_confirming_band() -> None:
    assert momentum_strength(LONG, 60.0, 70.0, 30.0) == pytest.approx(0.5)
    assert momentum_strength(SHORT, 35.0, 70.0, 30.0) == pytest.approx(0.75)
    assert momentum_strength(FLAT, 50.0, 70.0, 30.0) == 1.0
    assert momentum_strength(LONG, 60.0, 50.0, 30.0) == 1.0  # degenerate band: no division


# -- mean reversion rules ------------------------------------------------------------------------

BANDS = (110.0, 100.0, 90.0)  # upper, middle, lower


def test_mean_reversion_from_flat_below_lower_goes_long_and_above_upper_goes_short() -> None:
    assert mean_reversion_step(FLAT, 89.0, *BANDS) is LONG
    assert mean_reversion_step(FLAT, 111.0, *BANDS) is SHORT
    assert mean_reversion_step(FLAT, 90.0, *BANDS) is FLAT  # on the band is not outside it
    assert mean_reversion_step(FLAT, 110.0, *BANDS) is FLAT


def test_mean_reversion_long_exits_at_the_middle_band() -> None:
    assert mean_reversion_step(LONG, 99.9, *BANDS) is LONG
    assert mean_reversion_step(LONG, 100.0, *BANDS) is FLAT
    assert mean_reversion_step(LONG, 85.0, *BANDS) is LONG  # deeper below: still LONG


def test_mean_reversion_short_exits_at_the_middle_band() -> None:
    assert mean_reversion_step(SHORT, 100.1, *BANDS) is SHORT
    assert mean_reversion_step(SHORT, 100.0, *BANDS) is FLAT


def test_mean_reversion_never_reverses_directly() -> None:
    assert mean_reversion_step(LONG, 120.0, *BANDS) is FLAT
    assert mean_reversion_step(SHORT, 80.0, *BANDS) is FLAT


@pytest.mark.parametrize("nan_at", range(4))
def test_mean_reversion_any_nan_input_keeps_the_target(nan_at: int) -> None:
    values = [80.0, *BANDS]
    values[nan_at] = NAN
    assert mean_reversion_step(FLAT, *values) is FLAT
    assert mean_reversion_step(LONG, *values) is LONG


def test_mean_reversion_strength_is_the_excess_beyond_the_band_in_sigmas() -> None:
    # k = 2 and middle - lower = 10, so sigma = 5.
    assert mean_reversion_strength(LONG, 87.5, *BANDS, 2.0) == pytest.approx(0.5)
    assert mean_reversion_strength(SHORT, 120.0, *BANDS, 2.0) == 1.0  # clipped
    assert mean_reversion_strength(FLAT, 100.0, *BANDS, 2.0) == 1.0
    assert mean_reversion_strength(LONG, 99.0, 100.0, 100.0, 100.0, 2.0) == 1.0  # zero width


# -- breakout rules ------------------------------------------------------------------------------

# hi, lo, exit_hi, exit_lo, atr, atr_mult
CHANNELS = (110.0, 90.0, 105.0, 95.0, 4.0, 0.5)


def test_breakout_entries_need_to_clear_the_channel_by_atr_mult_atrs() -> None:
    assert breakout_step(FLAT, 112.1, *CHANNELS) is LONG
    assert breakout_step(FLAT, 112.0, *CHANNELS) is FLAT  # exactly hi + 0.5 * ATR: no
    assert breakout_step(FLAT, 87.9, *CHANNELS) is SHORT
    assert breakout_step(FLAT, 88.0, *CHANNELS) is FLAT


def test_breakout_exits_on_the_exit_channel() -> None:
    assert breakout_step(LONG, 94.9, *CHANNELS) is FLAT
    assert breakout_step(LONG, 95.0, *CHANNELS) is LONG
    assert breakout_step(SHORT, 105.1, *CHANNELS) is FLAT
    assert breakout_step(SHORT, 105.0, *CHANNELS) is SHORT


def test_breakout_opposite_entry_wins_over_an_exit_on_the_same_bar() -> None:
    assert breakout_step(LONG, 80.0, *CHANNELS) is SHORT
    assert breakout_step(SHORT, 120.0, *CHANNELS) is LONG


def test_breakout_entry_while_already_in_that_direction_changes_nothing() -> None:
    assert breakout_step(LONG, 120.0, *CHANNELS) is LONG
    assert breakout_step(SHORT, 80.0, *CHANNELS) is SHORT


@pytest.mark.parametrize("nan_at", range(6))
def test_breakout_any_nan_input_keeps_the_target(nan_at: int) -> None:
    values = [120.0, *CHANNELS[:5]]
    values[nan_at] = NAN
    assert breakout_step(SHORT, *values, 0.5) is SHORT


def test_breakout_strength_is_the_excess_over_the_channel_in_atrs() -> None:
    assert breakout_strength(LONG, 112.0, 110.0, 90.0, 4.0) == pytest.approx(0.5)
    assert breakout_strength(SHORT, 70.0, 110.0, 90.0, 4.0) == 1.0
    assert breakout_strength(LONG, 111.0, 110.0, 90.0, 0.0) == 1.0
    assert breakout_strength(FLAT, 100.0, 110.0, 90.0, 4.0) == 1.0


# -- wiring on hand-built series -----------------------------------------------------------------


def wiggle(n: int, level: float = 100.0, amplitude: float = 0.5) -> list[float]:
    return [level + (amplitude if i % 2 else -amplitude) for i in range(n)]


def test_no_signal_is_emitted_for_the_flat_start() -> None:
    for name in PARAM_SETS:
        strategy = create_strategy(name, "TEST")
        assert strategy.direction is FLAT
        assert strategy.on_bar(bars_from_closes([100.0])[0]) is None
        assert strategy.direction is FLAT


@pytest.mark.parametrize("name", sorted(PARAM_SETS))
def test_warm_up_bars_with_nan_indicators_produce_nothing(name: str) -> None:
    # Violent moves inside every strategy's warm-up: no rule may fire on NaN inputs.
    closes = [100.0, 50.0, 150.0, 40.0, 160.0, 30.0, 170.0, 20.0, 180.0, 10.0]
    strategy = create_strategy(name, "TEST")
    assert run(strategy, bars_from_closes(closes, highs=[c * 1.1 for c in closes])) == []
    assert strategy.direction is FLAT


def test_mean_reversion_series_enters_below_lower_exits_at_middle_and_passes_through_flat() -> None:
    strategy = MeanReversion("TEST", {"period": 20, "k": 2.0})
    closes = [*wiggle(20), 90.0, 95.0, 100.5, 130.0, 131.0, 100.0]
    signals = run(strategy, bars_from_closes(closes))
    assert [(s.direction, s.price) for s in signals] == [
        (LONG, 90.0),  # far below the lower band
        (FLAT, 100.5),  # back at/above the middle band
        (SHORT, 130.0),  # far above the upper band
        (FLAT, 100.0),
    ]
    assert all(s.strategy == "mean_reversion" and s.symbol == "TEST" for s in signals)
    bars = bars_from_closes(closes)
    assert [s.time_ms for s in signals] == [bars[i].time_ms for i in (20, 22, 23, 25)]


def test_mean_reversion_series_long_to_above_upper_goes_flat_first() -> None:
    strategy = MeanReversion("TEST")
    closes = [*wiggle(20), 90.0, 140.0, 141.0]
    assert [s.direction for s in run(strategy, bars_from_closes(closes))] == [LONG, FLAT, SHORT]


def test_breakout_series_uses_previous_bars_channel_and_exit_channel() -> None:
    strategy = Breakout("TEST", {"channel": 5, "exit_channel": 3, "atr_period": 3, "atr_mult": 0.5})
    closes = [100.0] * 6 + [105.0, 106.0, 104.0, 101.0]
    highs = [101.0] * 6 + [105.5, 106.5, 106.0, 104.5]
    lows = [99.0] * 6 + [104.0, 105.0, 103.5, 100.5]
    bars = bars_from_closes(closes, highs=highs, lows=lows)
    signals = run(strategy, bars)
    # Bar 6 closes above the previous 5 bars' high (101) plus 0.5 ATR: LONG, though it cannot
    # exceed its own high. Bar 9 closes below the previous 3 bars' lowest low (103.5): FLAT.
    assert [(s.direction, s.time_ms) for s in signals] == [
        (LONG, bars[6].time_ms),
        (FLAT, bars[9].time_ms),
    ]
    assert 0.0 < signals[0].strength <= 1.0


def test_breakout_series_reverses_directly_on_an_opposite_entry() -> None:
    strategy = Breakout("TEST", {"channel": 5, "exit_channel": 3, "atr_period": 3, "atr_mult": 0.5})
    closes = [100.0] * 6 + [105.0, 90.0]
    highs = [101.0] * 6 + [105.5, 104.0]
    lows = [99.0] * 6 + [104.0, 89.0]
    directions = [
        s.direction for s in run(strategy, bars_from_closes(closes, highs=highs, lows=lows))
    ]
    assert directions == [LONG, SHORT]


def test_strategy_rejects_a_bar_of_another_symbol() -> None:
    strategy = create_strategy("momentum", "AAA")
    with pytest.raises(InvalidArgument, match="BBB"):
        strategy.on_bar(bars_from_closes([1.0], symbol="BBB")[0])
    with pytest.raises(InvalidArgument, match="BBB"):
        strategy.warm_up(bars_from_closes([1.0], symbol="BBB"))


# -- realistic runs ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "params"), RUNS, ids=RUN_IDS)
def test_incremental_signals_equal_batch_signals_on_5000_bars(
    batch: BarBatch, bars: list[Bar], name: str, params: dict | None
) -> None:
    expected = generate_signals(name, batch, params)
    actual = run(create_strategy(name, SYMBOL, params), bars)
    assert len(expected) > 5
    assert_same_signals(actual, expected)


@pytest.mark.parametrize(("name", "params"), RUNS, ids=RUN_IDS)
def test_signals_only_on_direction_changes_and_strength_in_unit_interval(
    batch: BarBatch, name: str, params: dict | None
) -> None:
    signals = generate_signals(name, batch, params)
    assert signals[0].direction is not FLAT
    for before, after in itertools.pairwise(signals):
        assert after.direction is not before.direction
        assert after.time_ms > before.time_ms
    for s in signals:
        assert 0.0 <= s.strength <= 1.0 and not math.isnan(s.strength)
        assert s.strategy == name and s.symbol == SYMBOL


def test_reversal_behaviour_differs_by_strategy_on_realistic_data(batch: BarBatch) -> None:
    def direct_reversals(signals: list[Signal]) -> int:
        return sum(
            1
            for a, b in itertools.pairwise(signals)
            if a.direction is not FLAT and b.direction == -a.direction
        )

    assert direct_reversals(generate_signals("momentum", batch)) > 0
    assert direct_reversals(generate_signals("mean_reversion", batch)) == 0


@pytest.mark.parametrize(("name", "params"), RUNS, ids=RUN_IDS)
def test_warm_up_then_on_bar_continues_like_an_uninterrupted_run(
    bars: list[Bar], name: str, params: dict | None
) -> None:
    cut = 2500
    whole = create_strategy(name, SYMBOL, params)
    run(whole, bars[:cut])
    direction_at_cut = whole.direction
    tail_whole = run(whole, bars[cut:])

    warmed = create_strategy(name, SYMBOL, params)
    warmed.warm_up(bars[:cut])  # returns nothing, emits nothing
    assert warmed.direction is direction_at_cut
    assert_same_signals(run(warmed, bars[cut:]), tail_whole)


@pytest.mark.parametrize(("name", "params"), RUNS, ids=RUN_IDS)
def test_snapshot_restore_mid_stream_continues_identically(
    bars: list[Bar], name: str, params: dict | None
) -> None:
    cut = 1777
    whole = create_strategy(name, SYMBOL, params)
    run(whole, bars[:cut])
    snapshot = json.loads(json.dumps(whole.snapshot(), allow_nan=False))
    resumed = restore_strategy(snapshot)
    assert resumed.direction is whole.direction
    tail = run(resumed, bars[cut:])
    assert tail == run(whole, bars[cut:])  # bit-identical: same code, same state


def test_restore_rejects_a_snapshot_of_other_params_symbol_or_strategy(bars: list[Bar]) -> None:
    source = create_strategy("momentum", SYMBOL)
    run(source, bars[:100])
    snapshot = source.snapshot()
    with pytest.raises(InvalidArgument, match="params"):
        create_strategy("momentum", SYMBOL, {"fast": 5}).restore(snapshot)
    with pytest.raises(InvalidArgument, match="symbol"):
        create_strategy("momentum", "ETH-USD").restore(snapshot)
    with pytest.raises(InvalidArgument, match="strategy"):
        create_strategy("breakout", SYMBOL).restore(snapshot)


def test_generate_signals_handles_empty_and_rejects_mixed_symbol_batches(batch: BarBatch) -> None:
    assert generate_signals("momentum", BarBatch.empty()) == []
    mixed = BarBatch.concat([batch.select(slice(0, 10)), walk_batch("ETH-USD", n=10)])
    with pytest.raises(InvalidArgument, match="single symbol"):
        generate_signals("breakout", mixed)


# -- parameters ----------------------------------------------------------------------------------


def test_validate_params_fills_defaults_and_converts_integers() -> None:
    values = validate_params(Momentum, {"fast": 8.0, "rsi_upper": 65})
    assert values == {
        "fast": 8,
        "slow": 26,
        "signal": 9,
        "rsi_period": 14,
        "rsi_upper": 65.0,
        "rsi_lower": 30.0,
    }
    assert type(values["fast"]) is int and type(values["rsi_upper"]) is float
    assert validate_params(Breakout, None)["atr_mult"] == 0.5


def test_validate_params_rejects_an_unknown_name_listing_the_allowed_ones() -> None:
    with pytest.raises(InvalidArgument, match=r"'periodd'.*allowed: \['k', 'period'\]"):
        validate_params(MeanReversion, {"periodd": 20})


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"period": 1}, r"'period'.*1.*\[2.*500"),
        ({"period": 501}, r"'period'.*501"),
        ({"k": 0.0}, r"'k'.*\[0.1"),
        ({"k": math.nan}, r"'k'.*finite"),
        ({"k": math.inf}, r"'k'.*finite"),
        ({"period": 20.5}, r"'period'.*whole"),
        ({"period": "20"}, r"'period'.*number"),
        ({"period": True}, r"'period'.*number"),
    ],
)
def test_validate_params_rejects_bad_values_naming_the_param(params: dict, fragment: str) -> None:
    with pytest.raises(InvalidArgument, match=fragment):
        validate_params(MeanReversion, params)


def test_momentum_requires_fast_below_slow() -> None:
    with pytest.raises(InvalidArgument, match="fast"):
        create_strategy("momentum", SYMBOL, {"fast": 30, "slow": 26})


def test_params_must_be_a_mapping() -> None:
    with pytest.raises(InvalidArgument, match="mapping"):
        validate_params(Momentum, [("fast", 3)])  # type: ignore[arg-type]


def test_param_rejects_a_default_outside_its_bounds() -> None:
    with pytest.raises(InvalidArgument, match="default"):
        Param("x", 5.0, 0.0, 1.0)
    with pytest.raises(InvalidArgument, match="whole"):
        Param("n", 2.5, 1, 10, integer=True)


# -- registry ------------------------------------------------------------------------------------


def test_builtins_are_registered_and_listed_with_defaults_and_bounds() -> None:
    infos = {info.name: info for info in list_strategies()}
    assert {"momentum", "mean_reversion", "breakout"} <= set(infos)
    fast = next(p for p in infos["momentum"].params if p.name == "fast")
    assert (fast.default, fast.low, fast.high, fast.integer) == (12, 2, 200, True)
    assert get_strategy("breakout") is Breakout
    assert isinstance(create_strategy("momentum", SYMBOL), Strategy)


def test_unknown_strategy_raises_not_found_listing_known_names() -> None:
    with pytest.raises(NotFound, match=r"breakout.*mean_reversion.*momentum"):
        get_strategy("nope")
    with pytest.raises(NotFound):
        create_strategy("nope", SYMBOL)


class _Always(BaseStrategy):
    name = "test_always_long"
    description = "LONG from the first bar"
    params = (Param("unused", 1, 0, 2),)

    def evaluate(self, bar: Bar) -> Direction:
        return LONG


def test_register_rejects_duplicate_names_unless_replace() -> None:
    register(_Always)
    try:
        register(_Always)  # the same class again is a no-op

        class Other(_Always):
            pass

        with pytest.raises(AlreadyExists, match="test_always_long"):
            register(Other)
        assert register(replace=True)(Other) is Other
        assert get_strategy("test_always_long") is Other
        with pytest.raises(AlreadyExists):
            register(type("X", (Momentum,), {"__slots__": ()}))
    finally:
        unregister("test_always_long")
    with pytest.raises(NotFound):
        get_strategy("test_always_long")


def test_register_rejects_something_that_is_not_a_strategy() -> None:
    with pytest.raises(InvalidArgument):
        register(object)
    with pytest.raises(InvalidArgument, match="name"):
        register(type("Nameless", (BaseStrategy,), {}))


def test_a_custom_base_strategy_runs_through_the_default_batch_path(batch: BarBatch) -> None:
    register(_Always)
    try:
        signals = generate_signals("test_always_long", batch.select(slice(0, 50)))
        assert [(s.direction, s.strength) for s in signals] == [(LONG, 1.0)]
        assert signals[0].time_ms == int(batch.time_ms[0])
    finally:
        unregister("test_always_long")


PLUGIN = textwrap.dedent(
    """
    from supreme.core.model import Direction
    from supreme.core.strategies import BaseStrategy, Param


    class UpDown(BaseStrategy):
        '''LONG after an up close, SHORT after a down close (by at least `step`).'''

        name = "test_up_down"
        description = "toy plugin strategy"
        params = (Param("step", 0.0, 0.0, 10.0),)

        def __init__(self, symbol, params=None):
            super().__init__(symbol, params)
            self.prev = None

        def evaluate(self, bar):
            prev, self.prev = self.prev, bar.close
            if prev is None:
                return self.direction
            step = self.param_values["step"]
            if bar.close > prev + step:
                return Direction.LONG
            if bar.close < prev - step:
                return Direction.SHORT
            return self.direction
    """
)


@pytest.fixture
def plugin_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "supreme_test_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "supreme_test_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: supreme-test-plugin\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text(
        "[supreme.strategies]\n"
        "test_up_down = supreme_test_plugin:UpDown\n"
        "test_broken = supreme_test_plugin:DoesNotExist\n"
        "test_missing_module = no_such_module_anywhere:Thing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry_module._reset_discovery()
    yield
    registry_module._reset_discovery()


def test_custom_strategy_registers_through_the_entry_point_group(
    plugin_on_path: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger=registry_module.__name__):
        cls = get_strategy("test_up_down")
    assert cls.__name__ == "UpDown"
    # Broken entry points are logged and skipped, not fatal.
    assert "test_broken" in caplog.text and "test_missing_module" in caplog.text
    with pytest.raises(NotFound):
        get_strategy("test_broken")
    assert "test_up_down" in {info.name for info in list_strategies()}

    strategy = create_strategy("test_up_down", "TEST", {"step": 0.5})
    signals = run(strategy, bars_from_closes([10.0, 11.0, 11.2, 10.0, 12.0]))
    assert [(s.direction, s.price, s.strategy) for s in signals] == [
        (LONG, 11.0, "test_up_down"),
        (SHORT, 10.0, "test_up_down"),
        (LONG, 12.0, "test_up_down"),
    ]


def test_reset_discovery_forgets_entry_point_strategies(plugin_on_path: None) -> None:
    assert get_strategy("test_up_down")
    registry_module._reset_discovery()
    # Still on sys.path, so a fresh lookup finds it again; built-ins were never dropped.
    assert get_strategy("test_up_down")
    assert get_strategy("momentum") is Momentum


def test_strategies_produce_signals_with_valid_model_fields(bars: list[Bar]) -> None:
    for name in PARAM_SETS:
        signals = run(create_strategy(name, SYMBOL), bars[:1500])
        assert signals, name
        for s in signals:
            assert isinstance(s, Signal) and isinstance(s.direction, Direction)
            assert s.price > 0 and np.isfinite(s.price)
