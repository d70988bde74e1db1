"""Indicators: batch wrappers equal TA-Lib; incremental classes reproduce the batch series."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import talib
from _data import ohlc_walk
from hypothesis import given, settings
from hypothesis import strategies as st

from supreme.core import indicators as ind
from supreme.core.errors import InvalidArgument

# Incremental vs batch: TA-Lib may fuse multiply-adds (CPU dispatch), so results can differ in
# the last bits; the contract is 1e-9, relative for values above 1.
RTOL = 1e-9


def assert_series_match(actual: np.ndarray, expected: np.ndarray, what: str = "") -> None:
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, what
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    mismatch = np.flatnonzero(nan_a != nan_e)
    assert mismatch.size == 0, f"{what}: NaN masks differ first at index {mismatch[:5]}"
    ok = ~nan_e
    err = np.abs(actual[ok] - expected[ok])
    bound = RTOL * np.maximum(1.0, np.abs(expected[ok]))
    worst = int(np.argmax(err / bound)) if err.size else 0
    assert np.all(err <= bound), f"{what}: max error {err.max():.3g} at valid index {worst}"


def feed(indicator: ind.Indicator, *series: np.ndarray) -> np.ndarray:
    """Every output of ``indicator`` fed the series bar by bar; shape (n,) or (n, outputs)."""
    rows = zip(*(s.tolist() for s in series), strict=True)
    return np.array([indicator.update(*row) for row in rows], dtype=float)


# -- data sets ---------------------------------------------------------------------------------

DATASETS = {
    "walk100": dict(seed=1, price=100.0),
    "walk50k": dict(seed=2, price=50_000.0),
    "penny": dict(seed=3, price=0.01),
}


@pytest.fixture(scope="module", params=sorted(DATASETS))
def ohlc(request: pytest.FixtureRequest) -> tuple[np.ndarray, ...]:
    _, high, low, close = ohlc_walk(**DATASETS[request.param])
    return high, low, close


@pytest.fixture(scope="module")
def flat_start() -> tuple[np.ndarray, ...]:
    """A walk that starts with 80 constant bars (zero RSI denominator, zero-width bands)."""
    _, high, low, close = ohlc_walk(n=1500, seed=4, flat=((0, 80), (700, 790)))
    return high, low, close


# Each case: (name, batch function, incremental class, parameter tuple, input kind)
CASES = [
    ("sma", ind.sma, ind.SMA, (p,), "c")
    for p in (1, 2, 5, 20, 200)
] + [
    ("ema", ind.ema, ind.EMA, (p,), "c")
    for p in (1, 2, 9, 26, 100)
] + [
    ("rsi", ind.rsi, ind.RSI, (p,), "c")
    for p in (2, 5, 14, 50)
] + [
    ("macd", ind.macd, ind.MACD, args, "c")
    for args in ((12, 26, 9), (2, 3, 1), (5, 5, 3), (3, 40, 1), (8, 17, 20))
] + [
    ("bollinger", ind.bollinger, ind.Bollinger, args, "c")
    for args in ((20, 2.0), (2, 1.0), (5, 0.5), (50, 3.0))
] + [
    ("atr", ind.atr, ind.ATR, (p,), "hlc")
    for p in (1, 2, 14, 50)
] + [
    ("donchian", ind.donchian, ind.Donchian, (p,), "hl")
    for p in (2, 10, 20, 100)
]  # fmt: skip

CASE_IDS = [f"{name}{args}" for name, _, _, args, _ in CASES]


def _inputs(kind: str, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> tuple:
    return {"c": (close,), "hl": (high, low), "hlc": (high, low, close)}[kind]


def _as_columns(result: np.ndarray | tuple) -> list[np.ndarray]:
    return list(result) if isinstance(result, tuple) else [result]


# -- batch == TA-Lib -----------------------------------------------------------------------------


def test_batch_functions_return_talib_values_exactly(ohlc: tuple[np.ndarray, ...]) -> None:
    high, low, close = ohlc
    pairs = [
        (ind.sma(close, 20), talib.SMA(close, 20)),
        (ind.ema(close, 20), talib.EMA(close, 20)),
        (ind.rsi(close, 14), talib.RSI(close, 14)),
        (ind.atr(high, low, close, 14), talib.ATR(high, low, close, 14)),
        *zip(ind.macd(close, 12, 26, 9), talib.MACD(close, 12, 26, 9), strict=True),
        *zip(ind.bollinger(close, 20, 2.0), talib.BBANDS(close, 20, 2.0, 2.0, 0), strict=True),
        *zip(ind.donchian(high, low, 20), (talib.MAX(high, 20), talib.MIN(low, 20)), strict=True),
    ]
    for ours, theirs in pairs:
        assert ours.dtype == np.float64 and ours.shape == close.shape
        np.testing.assert_array_equal(ours, theirs)


def test_batch_functions_accept_lists_and_return_float64_arrays() -> None:
    values = [1, 2, 3, 4, 5, 6]
    out = ind.sma(values, 3)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out, [np.nan, np.nan, 2, 3, 4, 5])


def test_batch_warm_up_lengths_follow_talib_conventions() -> None:
    x = np.linspace(100, 120, 100) + np.sin(np.arange(100))
    h, lo = x + 1, x - 1

    def first(a: np.ndarray) -> int:
        return int(np.flatnonzero(~np.isnan(a))[0])

    assert first(ind.sma(x, 20)) == 19
    assert first(ind.ema(x, 20)) == 19
    assert first(ind.rsi(x, 14)) == 14
    assert first(ind.atr(h, lo, x, 14)) == 14
    assert first(ind.bollinger(x, 20)[0]) == 19
    assert first(ind.donchian(h, lo, 20)[1]) == 19
    # MACD: the line is NaN until the signal line exists, at slow + signal - 2.
    assert {first(a) for a in ind.macd(x, 12, 26, 9)} == {26 + 9 - 2}


# -- incremental == batch ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "batch", "cls", "args", "kind"), CASES, ids=CASE_IDS)
def test_incremental_reproduces_batch_on_regime_switching_walk(
    ohlc: tuple[np.ndarray, ...], name: str, batch, cls, args: tuple, kind: str
) -> None:
    series = _inputs(kind, *ohlc)
    expected = _as_columns(batch(*series, *args))
    got = feed(cls(*args), *series)
    got_columns = [got] if got.ndim == 1 else list(got.T)
    assert len(got_columns) == len(expected)
    for i, (g, e) in enumerate(zip(got_columns, expected, strict=True)):
        assert_series_match(g, e, f"{name}{args} output {i}")


@pytest.mark.parametrize(("name", "batch", "cls", "args", "kind"), CASES, ids=CASE_IDS)
def test_incremental_reproduces_batch_through_flat_stretches(
    flat_start: tuple[np.ndarray, ...], name: str, batch, cls, args: tuple, kind: str
) -> None:
    series = _inputs(kind, *flat_start)
    expected = _as_columns(batch(*series, *args))
    got = feed(cls(*args), *series)
    got_columns = [got] if got.ndim == 1 else list(got.T)
    for i, (g, e) in enumerate(zip(got_columns, expected, strict=True)):
        assert_series_match(g, e, f"{name}{args} output {i}")


def test_rsi_is_zero_while_price_never_moved_and_matches_talib() -> None:
    x = np.concatenate([np.full(40, 10.0), 10.0 + np.cumsum(np.full(10, 0.5))])
    expected = talib.RSI(x, 14)
    assert np.all(expected[14:40] == 0.0)  # gain + loss == 0: TA-Lib reports 0
    assert_series_match(feed(ind.RSI(14), x), expected, "rsi")
    assert feed(ind.RSI(14), x)[-1] == pytest.approx(100.0)


def test_rsi_of_a_tiny_priced_instrument_is_not_zeroed() -> None:
    # Moves of 1e-10 are far below TA-Lib's old 1e-8 "zero" band; the RSI must still move.
    x = 1e-6 + np.cumsum(np.tile([1e-10, -0.5e-10], 30))
    got = feed(ind.RSI(5), x)
    assert_series_match(got, talib.RSI(x, 5), "rsi")
    assert np.nanmin(got) > 0.0


def test_bollinger_bands_collapse_on_a_flat_stretch(flat_start: tuple[np.ndarray, ...]) -> None:
    _, _, close = flat_start
    upper, middle, lower = feed(ind.Bollinger(20, 2.0), close).T
    window = slice(700 + 19, 790)
    np.testing.assert_allclose(upper[window], close[window], rtol=1e-12)
    np.testing.assert_allclose(lower[window], close[window], rtol=1e-12)
    np.testing.assert_allclose(middle[window], close[window], rtol=1e-12)


def test_atr_decays_when_high_equals_low(flat_start: tuple[np.ndarray, ...]) -> None:
    high, low, close = flat_start
    values = feed(ind.ATR(14), high, low, close)
    assert np.all(np.diff(values[720:790]) <= 0.0)
    assert_series_match(values, talib.ATR(high, low, close, 14), "atr")


def test_bollinger_stays_accurate_over_many_bars_at_a_high_price_level() -> None:
    # Running sums of squares drift at high price levels; the shifted recurrence must not.
    *_, close = ohlc_walk(n=20_000, seed=11, price=1e6, flat=())
    upper, middle, lower = feed(ind.Bollinger(20, 2.0), close).T
    t_upper, t_middle, t_lower = talib.BBANDS(close, 20, 2.0, 2.0, 0)
    for got, expected in ((upper, t_upper), (middle, t_middle), (lower, t_lower)):
        assert_series_match(got, expected, "bollinger")


# -- the incremental interface -------------------------------------------------------------------


def test_value_and_ready_track_the_warm_up() -> None:
    sma = ind.SMA(3)
    assert np.isnan(sma.value) and not sma.ready
    sma.update(1.0)
    sma.update(2.0)
    assert np.isnan(sma.value) and not sma.ready
    assert sma.update(3.0) == 2.0
    assert sma.value == 2.0 and sma.ready

    macd = ind.MACD(2, 3, 2)
    assert all(np.isnan(v) for v in macd.value) and not macd.ready
    for x in (1.0, 2.0, 3.0):
        out = macd.update(x)
    assert all(np.isnan(v) for v in out)
    out = macd.update(4.0)
    assert macd.ready and out == macd.value and not any(np.isnan(v) for v in out)

    don = ind.Donchian(2)
    assert np.isnan(don.update(5.0, 4.0)).all() and not don.ready
    assert don.update(6.0, 3.0) == (6.0, 3.0) and don.value == (6.0, 3.0) and don.ready


def test_copy_is_independent_of_the_original() -> None:
    _, high, low, close = ohlc_walk(n=300, seed=5)
    rows = list(zip(high.tolist(), low.tolist(), close.tolist(), strict=True))
    for original in (ind.SMA(10), ind.Bollinger(10), ind.Donchian(10), ind.MACD(3, 7, 2)):
        for row in rows[:150]:
            _update(original, *row)
        clones = [original.copy(), copy.copy(original), copy.deepcopy(original)]
        tail_original = [_update(original, *row) for row in rows[150:]]
        for clone in clones:
            assert [_update(clone, *row) for row in rows[150:]] == tail_original


def _update(indicator: ind.Indicator, high: float, low: float, close: float):
    if isinstance(indicator, ind.ATR):
        return indicator.update(high, low, close)
    if isinstance(indicator, ind.Donchian):
        return indicator.update(high, low)
    return indicator.update(close)


def test_snapshot_is_strict_json_and_restores_an_identical_indicator() -> None:
    _, high, low, close = ohlc_walk(n=400, seed=6)
    for indicator in (
        ind.SMA(20),
        ind.EMA(20),
        ind.RSI(14),
        ind.MACD(),
        ind.Bollinger(),
        ind.ATR(14),
        ind.Donchian(20),
    ):
        for h, lo, c in zip(high[:5], low[:5], close[:5], strict=True):  # still warming up
            _update(indicator, h, lo, c)
        text = json.dumps(indicator.snapshot(), allow_nan=False)
        restored = type(indicator).restore(json.loads(text))
        assert ind.restore_indicator(json.loads(text)).snapshot() == restored.snapshot()
        rest = zip(high[5:], low[5:], close[5:], strict=True)
        for h, lo, c in rest:
            a, b = _update(indicator, h, lo, c), _update(restored, h, lo, c)
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_restore_rejects_a_snapshot_of_another_indicator() -> None:
    snapshot = ind.SMA(5).snapshot()
    with pytest.raises(InvalidArgument, match="SMA"):
        ind.EMA.restore(snapshot)
    with pytest.raises(InvalidArgument):
        ind.restore_indicator({"type": "Nope"})
    broken = ind.SMA(5).snapshot()
    del broken["state"]["_total"]
    with pytest.raises(InvalidArgument):
        ind.SMA.restore(broken)


def test_update_is_constant_time_for_long_windows() -> None:
    import time

    def per_update(period: int) -> float:
        x = np.random.default_rng(0).normal(100, 1, 4000).tolist()
        indicators = [ind.SMA(period), ind.Bollinger(period), ind.Donchian(period)]
        start = time.perf_counter()
        for v in x:
            for indicator in indicators:
                _update(indicator, v + 1, v - 1, v)
        return time.perf_counter() - start

    per_update(10)  # warm caches
    assert per_update(2000) < 4 * per_update(10) + 0.05


# -- argument validation -------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -3, 2.5, "14", None, True, float("nan"), 100_001])
def test_invalid_periods_raise_invalid_argument_naming_the_parameter(bad: object) -> None:
    x = np.arange(50, dtype=float)
    for call in (
        lambda: ind.sma(x, bad),
        lambda: ind.ema(x, bad),
        lambda: ind.rsi(x, bad),
        lambda: ind.atr(x, x, x, bad),
        lambda: ind.donchian(x, x, bad),
        lambda: ind.bollinger(x, bad),
        lambda: ind.SMA(bad),
        lambda: ind.EMA(bad),
        lambda: ind.RSI(bad),
        lambda: ind.ATR(bad),
        lambda: ind.Donchian(bad),
        lambda: ind.Bollinger(bad),
    ):
        with pytest.raises(InvalidArgument, match="period"):
            call()
    with pytest.raises(InvalidArgument, match="fast"):
        ind.macd(x, bad, 26, 9)
    with pytest.raises(InvalidArgument, match="signal"):
        ind.MACD(12, 26, bad)


def test_periods_below_talib_minimums_are_rejected() -> None:
    x = np.arange(50, dtype=float)
    for call, name in (
        (lambda: ind.rsi(x, 1), "period"),
        (lambda: ind.bollinger(x, 1), "period"),
        (lambda: ind.donchian(x, x, 1), "period"),
        (lambda: ind.macd(x, 1, 26, 9), "fast"),
        (lambda: ind.macd(x, 12, 26, 0), "signal"),
        (lambda: ind.macd(x, 26, 12, 9), "fast must be <= slow"),
        (lambda: ind.MACD(26, 12, 9), "fast must be <= slow"),
    ):
        with pytest.raises(InvalidArgument, match=name):
            call()
    # Whole floats are fine and TA-Lib's period-1 SMA/EMA/ATR are allowed.
    np.testing.assert_array_equal(ind.sma(x, 3.0), talib.SMA(x, 3))
    np.testing.assert_array_equal(ind.ema(x, 1), x)


@pytest.mark.parametrize("k", [-1.0, float("nan"), float("inf"), "2", True])
def test_invalid_bollinger_multiplier_raises(k: object) -> None:
    with pytest.raises(InvalidArgument, match="k"):
        ind.bollinger(np.arange(30.0), 20, k)
    with pytest.raises(InvalidArgument, match="k"):
        ind.Bollinger(20, k)


def test_inputs_must_be_one_dimensional_and_of_equal_length() -> None:
    with pytest.raises(InvalidArgument, match="1-D"):
        ind.sma(np.ones((5, 2)), 2)
    with pytest.raises(InvalidArgument, match="same length"):
        ind.atr(np.ones(10), np.ones(9), np.ones(10), 3)
    with pytest.raises(InvalidArgument, match="same length"):
        ind.donchian(np.ones(10), np.ones(11), 3)
    with pytest.raises(InvalidArgument, match="x"):
        ind.ema(["a", "b"], 2)


def test_invalid_argument_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        ind.sma([1.0, 2.0], 0)


# -- properties ----------------------------------------------------------------------------------

prices = st.lists(
    st.floats(min_value=0.5, max_value=2000.0, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=120,
)
PROPERTY = settings(max_examples=50, deadline=None)


@PROPERTY
@given(x=prices, period=st.integers(2, 30), data=st.data())
def test_property_incremental_equals_batch_for_any_positive_series(
    x: list[float], period: int, data: st.DataObject
) -> None:
    close = np.array(x)
    spread = np.array(data.draw(st.lists(st.floats(0, 5), min_size=len(x), max_size=len(x))))
    high, low = close + spread, close - spread / 2
    fast = data.draw(st.integers(2, period))
    checks = [
        (ind.SMA(period), ind.sma(close, period), (close,)),
        (ind.EMA(period), ind.ema(close, period), (close,)),
        (ind.RSI(period), ind.rsi(close, period), (close,)),
        (ind.ATR(period), ind.atr(high, low, close, period), (high, low, close)),
        (ind.MACD(fast, period, 3), ind.macd(close, fast, period, 3), (close,)),
        (ind.Bollinger(period, 2.0), ind.bollinger(close, period, 2.0), (close,)),
        (ind.Donchian(period), ind.donchian(high, low, period), (high, low)),
    ]
    for indicator, expected, series in checks:
        got = feed(indicator, *series)
        got_columns = [got] if got.ndim == 1 else list(got.T)
        for g, e in zip(got_columns, _as_columns(expected), strict=True):
            assert_series_match(g, e, type(indicator).__name__)


@PROPERTY
@given(x=prices, period=st.integers(1, 30))
def test_property_sma_lies_within_its_window(x: list[float], period: int) -> None:
    values = feed(ind.SMA(period), np.array(x))
    for i in range(period - 1, len(x)):
        window = x[i - period + 1 : i + 1]
        slack = 1e-9 * max(window)
        assert min(window) - slack <= values[i] <= max(window) + slack


@PROPERTY
@given(x=prices, period=st.integers(2, 30))
def test_property_rsi_stays_within_0_and_100(x: list[float], period: int) -> None:
    values = feed(ind.RSI(period), np.array(x))
    valid = values[~np.isnan(values)]
    assert np.all((valid >= 0.0) & (valid <= 100.0))


@PROPERTY
@given(x=prices, period=st.integers(2, 30), k=st.floats(0.0, 5.0))
def test_property_bollinger_bands_are_ordered(x: list[float], period: int, k: float) -> None:
    bands = feed(ind.Bollinger(period, k), np.array(x))
    if bands.ndim == 2:
        upper, middle, lower = bands[~np.isnan(bands[:, 0])].T
        assert np.all(upper >= middle) and np.all(middle >= lower)


@PROPERTY
@given(x=prices, period=st.integers(2, 30), data=st.data())
def test_property_donchian_upper_is_never_below_lower(
    x: list[float], period: int, data: st.DataObject
) -> None:
    spread = data.draw(st.lists(st.floats(0, 3), min_size=len(x), max_size=len(x)))
    high = np.array(x) + np.array(spread)
    channel = feed(ind.Donchian(period), high, np.array(x))
    if channel.ndim == 2:
        upper, lower = channel[~np.isnan(channel[:, 0])].T
        assert np.all(upper >= lower)


@PROPERTY
@given(x=prices, cut=st.integers(0, 120), data=st.data())
def test_property_snapshot_restore_mid_stream_continues_identically(
    x: list[float], cut: int, data: st.DataObject
) -> None:
    cut = min(cut, len(x))
    period = data.draw(st.integers(2, 12))
    for make in (
        lambda: ind.SMA(period),
        lambda: ind.EMA(period),
        lambda: ind.RSI(period),
        lambda: ind.MACD(2, period, 2),
        lambda: ind.Bollinger(period, 1.5),
        lambda: ind.ATR(period),
        lambda: ind.Donchian(period),
    ):
        whole, first = make(), make()
        for v in x[:cut]:
            _update(whole, v + 1, v - 1, v)
            _update(first, v + 1, v - 1, v)
        resumed = type(first).restore(json.loads(json.dumps(first.snapshot(), allow_nan=False)))
        for v in x[cut:]:
            a = np.asarray(_update(whole, v + 1, v - 1, v))
            b = np.asarray(_update(resumed, v + 1, v - 1, v))
            np.testing.assert_array_equal(a, b)


# -- vectorized multi-symbol EMA -----------------------------------------------------------------


def test_ema_vector_matches_one_scalar_ema_per_symbol_with_partial_updates() -> None:
    rng = np.random.default_rng(9)
    n_symbols, period = 6, 5
    vector = ind.EMAVector(period, n_symbols)
    scalars = [ind.EMA(period) for _ in range(n_symbols)]
    for _ in range(300):
        index = np.flatnonzero(rng.random(n_symbols) < 0.6)
        values = 100 + rng.normal(0, 1, index.size).cumsum()
        out = vector.update(values, index)
        pairs = zip(index.tolist(), values.tolist(), strict=True)
        expected = [scalars[j].update(v) for j, v in pairs]
        np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(vector.values, [s.value for s in scalars])
    np.testing.assert_array_equal(vector.ready, [s.ready for s in scalars])
    restored = ind.EMAVector.restore(json.loads(json.dumps(vector.snapshot(), allow_nan=False)))
    clone = vector.copy()
    row = np.arange(n_symbols, dtype=float)
    np.testing.assert_array_equal(restored.update(row), vector.update(row))
    np.testing.assert_array_equal(clone.update(row), restored.values)  # copy is independent


def test_ema_vector_rejects_bad_indices() -> None:
    vector = ind.EMAVector(3, 2)
    with pytest.raises(InvalidArgument, match="repeat"):
        vector.update([1.0, 2.0], [0, 0])
    with pytest.raises(InvalidArgument, match=r"\[0, 2\)"):
        vector.update([1.0], [2])
    with pytest.raises(InvalidArgument, match="entries"):
        vector.update([1.0, 2.0], [1])
