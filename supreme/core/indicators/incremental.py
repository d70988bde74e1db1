"""Incremental indicators: one value in, the current value out, O(1) per update.

Each class mirrors the algorithm of its TA-Lib (0.8) counterpart: same seeding, same warm-up
(NaN positions are identical), same running sums and recurrences in the same order. SMA,
Donchian and most EMA/MACD values come out bit for bit; elsewhere TA-Lib's CPU-dispatched
builds fuse multiply-adds, which Python cannot, so values may differ in the last bits (measured:
<= 1e-12 relative, Bollinger at most ~1e-10 of the price). Inputs must be finite numbers; a NaN
input poisons the running state, as it does in TA-Lib.

Common interface:

* ``update(...)`` takes one value of each input series, in the order the batch function takes
  them, and returns the current output (a tuple, in the batch function's order, for
  multi-output indicators). Outputs are NaN during warm-up.
* ``value`` is the current output and ``ready`` is True once the warm-up is over.
* ``copy()`` (also used by :func:`copy.copy`) is an independent copy; ``snapshot()`` is a
  JSON-serialisable dict (NaN is encoded as ``None``) and ``restore(snapshot)`` rebuilds the
  indicator from it.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from supreme.core.errors import InvalidArgument
from supreme.core.indicators.batch import check_multiplier, check_period

__all__ = [
    "ATR",
    "EMA",
    "MACD",
    "RSI",
    "SMA",
    "Bollinger",
    "Donchian",
    "EMAVector",
    "Indicator",
    "restore_indicator",
]

NAN = math.nan
_NAN2 = (NAN, NAN)
_NAN3 = (NAN, NAN, NAN)
_SNAPSHOT_VERSION = 1


def _encode(value: Any) -> Any:
    if isinstance(value, float):
        return None if value != value else value
    if isinstance(value, list | deque):
        return [_encode(v) for v in value]
    return value


def _decode_float(value: Any) -> float:
    return NAN if value is None else float(value)


class Indicator:
    """Base of the incremental indicators: copy, snapshot and restore over ``__slots__``."""

    __slots__ = ()

    # Slots holding a list of floats, a deque of floats and a deque of ints, respectively.
    _LIST_SLOTS: ClassVar[frozenset[str]] = frozenset()
    _FLOAT_DEQUE_SLOTS: ClassVar[frozenset[str]] = frozenset()
    _INT_DEQUE_SLOTS: ClassVar[frozenset[str]] = frozenset()
    # Slots holding an int or a bool; every other slot holds a float.
    _INT_SLOTS: ClassVar[frozenset[str]] = frozenset()
    _BOOL_SLOTS: ClassVar[frozenset[str]] = frozenset({"ready"})

    @classmethod
    def _all_slots(cls) -> tuple[str, ...]:
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            names.extend(klass.__dict__.get("__slots__", ()))
        return tuple(names)

    def copy(self) -> Self:
        """An independent copy (buffers are copied, not shared)."""
        clone = object.__new__(type(self))
        for name in self._all_slots():
            value = getattr(self, name)
            if isinstance(value, list):
                value = value[:]
            elif isinstance(value, deque):
                value = deque(value)
            object.__setattr__(clone, name, value)
        return clone

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self.copy()

    def snapshot(self) -> dict[str, Any]:
        """The full state as a JSON-serialisable dict (NaN becomes ``None``)."""
        return {
            "type": type(self).__name__,
            "version": _SNAPSHOT_VERSION,
            "state": {name: _encode(getattr(self, name)) for name in self._all_slots()},
        }

    @classmethod
    def restore(cls, snapshot: dict[str, Any]) -> Self:
        """Rebuild an indicator from :meth:`snapshot` output."""
        if not isinstance(snapshot, dict) or snapshot.get("type") != cls.__name__:
            found = snapshot.get("type") if isinstance(snapshot, dict) else snapshot
            raise InvalidArgument(f"snapshot is not a {cls.__name__} snapshot (type={found!r})")
        if snapshot.get("version") != _SNAPSHOT_VERSION:
            raise InvalidArgument(
                f"unsupported {cls.__name__} snapshot version {snapshot.get('version')!r}"
            )
        state = snapshot.get("state")
        slots = cls._all_slots()
        if not isinstance(state, dict) or set(state) != set(slots):
            raise InvalidArgument(
                f"{cls.__name__} snapshot state must have exactly the keys {sorted(slots)}"
            )
        obj = object.__new__(cls)
        try:
            for name in slots:
                raw = state[name]
                if name in cls._LIST_SLOTS:
                    value: Any = [_decode_float(v) for v in raw]
                elif name in cls._FLOAT_DEQUE_SLOTS:
                    value = deque(_decode_float(v) for v in raw)
                elif name in cls._INT_DEQUE_SLOTS:
                    value = deque(int(v) for v in raw)
                elif name in cls._INT_SLOTS:
                    value = int(raw)
                elif name in cls._BOOL_SLOTS:
                    value = bool(raw)
                else:
                    value = _decode_float(raw)
                object.__setattr__(obj, name, value)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"malformed {cls.__name__} snapshot: {exc}") from None
        return obj

    _PARAMS: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        params = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._PARAMS)
        return f"{type(self).__name__}({params}) value={self.value!r}"  # type: ignore[attr-defined]


class SMA(Indicator):
    """Simple moving average, as ``talib.SMA``: add the newest, divide, subtract the oldest."""

    __slots__ = ("_buf", "_n", "_pos", "_total", "period", "ready", "value")
    _LIST_SLOTS = frozenset({"_buf"})
    _INT_SLOTS = frozenset({"period", "_n", "_pos"})
    _PARAMS = ("period",)

    def __init__(self, period: int) -> None:
        self.period = check_period(period, "period")
        self._buf = [0.0] * self.period
        self._pos = 0
        self._n = 0
        self._total = 0.0
        self.value = NAN
        self.ready = False

    def update(self, x: float) -> float:
        buf = self._buf
        pos = self._pos
        buf[pos] = x
        total = self._total + x
        pos += 1
        if pos == self.period:
            pos = 0
        self._pos = pos
        if not self.ready:
            self._n += 1
            if self._n < self.period:
                self._total = total
                return NAN
            self.ready = True
        # buf[pos] is now the oldest value of the window: it leaves the sum after this output.
        self._total = total - buf[pos]
        value = self.value = total / self.period
        return value


class EMA(Indicator):
    """Exponential moving average, as ``talib.EMA``: ``k = 2 / (period + 1)``, seeded with the
    SMA of the first ``period`` values."""

    __slots__ = ("_k", "_n", "_sum", "period", "ready", "value")
    _INT_SLOTS = frozenset({"period", "_n"})
    _PARAMS = ("period",)

    def __init__(self, period: int) -> None:
        self.period = check_period(period, "period")
        self._k = 2.0 / (self.period + 1)
        self._n = 0
        self._sum = 0.0
        self.value = NAN
        self.ready = False

    def update(self, x: float) -> float:
        if self.ready:
            value = self.value
            value = self.value = (x - value) * self._k + value
            return value
        self._sum += x
        self._n += 1
        if self._n < self.period:
            return NAN
        self.ready = True
        value = self.value = self._sum / self.period
        return value


class RSI(Indicator):
    """Wilder's RSI, as ``talib.RSI``: plain averages of the first ``period`` gains and losses
    (output from index ``period``), then Wilder smoothing. Where the average gain plus the
    average loss is exactly zero (no change at all since the seed) the RSI is 0, as in
    the TA-Lib 0.8 in use (older releases used a fixed 1e-8 band)."""

    __slots__ = ("_gain", "_inv", "_loss", "_n", "_prev", "period", "ready", "value")
    _INT_SLOTS = frozenset({"period", "_n"})
    _PARAMS = ("period",)

    def __init__(self, period: int = 14) -> None:
        self.period = check_period(period, "period", 2)
        self._inv = 1.0 / self.period
        self._prev = NAN
        self._n = 0  # inputs seen, capped once ready
        self._gain = 0.0
        self._loss = 0.0
        self.value = NAN
        self.ready = False

    def update(self, x: float) -> float:
        change = x - self._prev
        self._prev = x
        if self.ready:
            # TA-Lib: prev = (prev * (period - 1) + today) * (1 / period), one arm per sign.
            weight = self.period - 1
            if change > 0.0:
                gain = self._gain = (self._gain * weight + change) * self._inv
                loss = self._loss = self._loss * weight * self._inv
            elif change < 0.0:
                gain = self._gain = self._gain * weight * self._inv
                loss = self._loss = (self._loss * weight - change) * self._inv
            else:
                gain = self._gain = self._gain * weight * self._inv
                loss = self._loss = self._loss * weight * self._inv
        else:
            self._n += 1
            if self._n == 1:
                return NAN
            if change < 0.0:
                self._loss -= change
            else:
                self._gain += change
            if self._n <= self.period:
                return NAN
            self.ready = True
            loss = self._loss = self._loss / self.period
            gain = self._gain = self._gain / self.period
        total = gain + loss
        value = self.value = 100.0 * (gain / total) if total > 0.0 else 0.0
        return value


class ATR(Indicator):
    """Wilder's average true range, as ``talib.ATR``: the mean of the first ``period`` true
    ranges (from the second bar on, so the first value is at index ``period``), then
    ``atr = alpha * tr + beta * atr`` with ``beta = (period - 1) / period``, ``alpha = 1 - beta``
    (TA-Lib's two-coefficient spelling of ``(atr * (period - 1) + tr) / period``)."""

    __slots__ = ("_alpha", "_beta", "_n", "_prev_close", "_sum", "period", "ready", "value")
    _INT_SLOTS = frozenset({"period", "_n"})
    _PARAMS = ("period",)

    def __init__(self, period: int = 14) -> None:
        self.period = check_period(period, "period", 1)
        self._beta = (self.period - 1) / self.period
        self._alpha = 1.0 - self._beta
        self._prev_close = NAN
        self._n = 0  # bars seen, capped once ready
        self._sum = 0.0
        self.value = NAN
        self.ready = False

    def update(self, high: float, low: float, close: float) -> float:
        prev = self._prev_close
        self._prev_close = close
        true_range = high - low
        gap = abs(prev - high)
        if gap > true_range:
            true_range = gap
        gap = abs(prev - low)
        if gap > true_range:
            true_range = gap
        if self.ready:
            value = self.value = self._alpha * true_range + self._beta * self.value
            return value
        self._n += 1
        if self._n == 1:  # no previous close yet: no true range
            return NAN
        self._sum += true_range
        if self._n <= self.period:
            return NAN
        self.ready = True
        value = self.value = self._sum / self.period
        return value


class MACD(Indicator):
    """MACD, as ``talib.MACD``: ``(macd, signal, hist)``.

    The slow EMA is seeded with the SMA of the first ``slow`` values and the fast EMA with the
    SMA of the ``fast`` values ending at the same bar, so both start at index ``slow - 1``. The
    signal line is an EMA of the MACD line seeded the same way; all three outputs stay NaN until
    the signal exists, at index ``slow + signal - 2``.
    """

    __slots__ = (
        "_fast_ema",
        "_fast_sum",
        "_kf",
        "_kg",
        "_ks",
        "_n",
        "_sig_sum",
        "_slow_ema",
        "_slow_sum",
        "fast",
        "hist_value",
        "macd_value",
        "ready",
        "signal",
        "signal_value",
        "slow",
    )
    _INT_SLOTS = frozenset({"fast", "slow", "signal", "_n"})
    _PARAMS = ("fast", "slow", "signal")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self.fast = check_period(fast, "fast", 2)
        self.slow = check_period(slow, "slow", 2)
        self.signal = check_period(signal, "signal", 1)
        if self.fast > self.slow:
            raise InvalidArgument(f"fast must be <= slow, got fast={fast} > slow={slow}")
        self._kf = 2.0 / (self.fast + 1)
        self._ks = 2.0 / (self.slow + 1)
        self._kg = 2.0 / (self.signal + 1)
        self._n = 0  # inputs seen, capped once ready
        self._fast_sum = 0.0
        self._slow_sum = 0.0
        self._sig_sum = 0.0
        self._fast_ema = NAN
        self._slow_ema = NAN
        self.macd_value = NAN
        self.signal_value = NAN
        self.hist_value = NAN
        self.ready = False

    @property
    def value(self) -> tuple[float, float, float]:
        return (self.macd_value, self.signal_value, self.hist_value)

    def update(self, x: float) -> tuple[float, float, float]:
        if self.ready:
            fast = self._fast_ema
            fast = self._fast_ema = (x - fast) * self._kf + fast
            slow = self._slow_ema
            slow = self._slow_ema = (x - slow) * self._ks + slow
            line = self.macd_value = fast - slow
            sig = self.signal_value
            sig = self.signal_value = (line - sig) * self._kg + sig
            hist = self.hist_value = line - sig
            return (line, sig, hist)
        n = self._n
        self._n = n + 1
        slow_period = self.slow
        if n < slow_period - 1:
            self._slow_sum += x
            if n >= slow_period - self.fast:
                self._fast_sum += x
            return _NAN3
        if n == slow_period - 1:
            fast = self._fast_ema = (self._fast_sum + x) / self.fast
            slow = self._slow_ema = (self._slow_sum + x) / slow_period
        else:
            fast = self._fast_ema
            fast = self._fast_ema = (x - fast) * self._kf + fast
            slow = self._slow_ema
            slow = self._slow_ema = (x - slow) * self._ks + slow
        line = fast - slow
        self._sig_sum += line
        if n < slow_period + self.signal - 2:
            return _NAN3
        self.ready = True
        self.macd_value = line
        sig = self.signal_value = self._sig_sum / self.signal
        hist = self.hist_value = line - sig
        return (line, sig, hist)


class Bollinger(Indicator):
    """Bollinger bands, as ``talib.BBANDS`` with an SMA middle: ``(upper, middle, lower)``.

    The middle band is TA-Lib's SMA running sum. The population variance mirrors TA-Lib's
    cancellation-free "shifted data" recurrence: running sums of ``x - shift`` and its square,
    re-based on the window mean (an O(period) re-sum) every ``32 * period`` bars or whenever
    the variance drops below 1e-6 of the peak mean square since the last re-base. O(1)
    amortized.
    """

    __slots__ = (
        "_buf",
        "_inv",
        "_ma_total",
        "_n",
        "_peak2",
        "_pos",
        "_shift",
        "_since_reseed",
        "_total1",
        "_total2",
        "k",
        "lower",
        "middle",
        "period",
        "ready",
        "upper",
    )
    _LIST_SLOTS = frozenset({"_buf"})
    _INT_SLOTS = frozenset({"period", "_n", "_pos", "_since_reseed"})
    _PARAMS = ("period", "k")

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        self.period = check_period(period, "period", 2)
        self.k = check_multiplier(k, "k")
        self._inv = 1.0 / self.period
        self._buf = [0.0] * self.period
        self._pos = 0
        self._n = 0  # inputs seen, capped once ready
        self._ma_total = 0.0
        self._shift = NAN
        self._total1 = 0.0
        self._total2 = 0.0
        self._peak2 = 0.0
        self._since_reseed = 0
        self.upper = NAN
        self.middle = NAN
        self.lower = NAN
        self.ready = False

    @property
    def value(self) -> tuple[float, float, float]:
        return (self.upper, self.middle, self.lower)

    def update(self, x: float) -> tuple[float, float, float]:
        period = self.period
        buf = self._buf
        pos = self._pos
        buf[pos] = x
        pos += 1
        if pos == period:
            pos = 0
        self._pos = pos
        if not self.ready:
            self._n += 1
            if self._n == 1:
                self._shift = x
            if self._n < period:
                self._ma_total += x
                dev = x - self._shift
                self._total1 += dev
                self._total2 += dev * dev
                return _NAN3
            self.ready = True
            self._peak2 = self._total2
            self._since_reseed = 32 * period
        inv = self._inv
        shift = self._shift
        ma_total = self._ma_total + x
        dev = x - shift
        total1 = self._total1 + dev
        total2 = self._total2 + dev * dev
        peak2 = self._peak2
        if total2 > peak2:
            peak2 = total2
        mean1 = total1 * inv
        variance = total2 * inv - mean1 * mean1
        middle = self.middle = ma_total / period
        oldest = buf[pos]  # the window's first value: it leaves every sum after this output
        self._ma_total = ma_total - oldest
        dev = oldest - shift
        total1 -= dev
        total2 -= dev * dev
        self._since_reseed -= 1
        if variance < 0.000001 * (peak2 * inv) or self._since_reseed <= 0:
            self._since_reseed = 32 * period
            window = buf[pos:] + buf[:pos]
            acc = 0.0
            for value in window:
                acc += value
            shift = acc * inv
            total1, total2, variance = self._shifted_sums(window, shift)
            if variance < 0.000001 * (total2 * inv):
                shift = x
                total1, total2, variance = self._shifted_sums(window, shift)
            peak2 = total2
            if variance < 0.000000000001 * (total2 * inv):
                variance = 0.0
            dev = oldest - shift
            total1 -= dev
            total2 -= dev * dev
            self._shift = shift
        self._total1 = total1
        self._total2 = total2
        self._peak2 = peak2
        deviation = math.sqrt(variance) * self.k
        upper = self.upper = middle + deviation
        lower = self.lower = middle - deviation
        return (upper, middle, lower)

    def _shifted_sums(self, window: list[float], shift: float) -> tuple[float, float, float]:
        total1 = 0.0
        total2 = 0.0
        for value in window:
            dev = value - shift
            total1 += dev
            total2 += dev * dev
        mean1 = total1 * self._inv
        return total1, total2, total2 * self._inv - mean1 * mean1


class Donchian(Indicator):
    """Donchian channel, as ``talib.MAX(high)`` / ``talib.MIN(low)`` over the last ``period`` bars
    including the current one: ``(upper, lower)``. Monotonic deques keep it O(1) amortized."""

    __slots__ = (
        "_hi_idx",
        "_hi_val",
        "_lo_idx",
        "_lo_val",
        "_n",
        "lower",
        "period",
        "ready",
        "upper",
    )
    _FLOAT_DEQUE_SLOTS = frozenset({"_hi_val", "_lo_val"})
    _INT_DEQUE_SLOTS = frozenset({"_hi_idx", "_lo_idx"})
    _INT_SLOTS = frozenset({"period", "_n"})
    _PARAMS = ("period",)

    def __init__(self, period: int = 20) -> None:
        self.period = check_period(period, "period", 2)
        self._n = 0
        self._hi_idx: deque[int] = deque()
        self._hi_val: deque[float] = deque()
        self._lo_idx: deque[int] = deque()
        self._lo_val: deque[float] = deque()
        self.upper = NAN
        self.lower = NAN
        self.ready = False

    @property
    def value(self) -> tuple[float, float]:
        return (self.upper, self.lower)

    def update(self, high: float, low: float) -> tuple[float, float]:
        n = self._n
        self._n = n + 1
        expired = n - self.period
        idx, val = self._hi_idx, self._hi_val
        while val and val[-1] <= high:
            val.pop()
            idx.pop()
        val.append(high)
        idx.append(n)
        if idx[0] <= expired:
            idx.popleft()
            val.popleft()
        upper = val[0]
        idx, val = self._lo_idx, self._lo_val
        while val and val[-1] >= low:
            val.pop()
            idx.pop()
        val.append(low)
        idx.append(n)
        if idx[0] <= expired:
            idx.popleft()
            val.popleft()
        if not self.ready:
            if n + 1 < self.period:
                return _NAN2
            self.ready = True
        self.upper = upper
        lower = self.lower = val[0]
        return (upper, lower)


_INDICATORS: dict[str, type[Indicator]] = {
    cls.__name__: cls for cls in (SMA, EMA, RSI, ATR, MACD, Bollinger, Donchian)
}


def restore_indicator(snapshot: dict[str, Any]) -> Indicator:
    """Rebuild any incremental indicator from its :meth:`Indicator.snapshot`."""
    kind = snapshot.get("type") if isinstance(snapshot, dict) else None
    cls = _INDICATORS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise InvalidArgument(
            f"unknown indicator snapshot type {kind!r}; known: {sorted(_INDICATORS)}"
        )
    return cls.restore(snapshot)


class EMAVector:
    """:class:`EMA` for many symbols at once, one numpy update per batch of bars.

    Symbol ``j`` of the vector is an independent EMA; ``update(values, index)`` advances only
    the symbols in ``index`` (all of them when ``index`` is None) and returns their current
    values. Each symbol reproduces the scalar :class:`EMA` exactly (same operations).
    """

    __slots__ = ("_count", "_k", "_sum", "n_symbols", "period", "values")

    def __init__(self, period: int, n_symbols: int) -> None:
        self.period = check_period(period, "period")
        self.n_symbols = check_period(n_symbols, "n_symbols", 1)
        self._k = 2.0 / (self.period + 1)
        self._count = np.zeros(self.n_symbols, dtype=np.int64)
        self._sum = np.zeros(self.n_symbols, dtype=np.float64)
        self.values = np.full(self.n_symbols, NAN)

    @property
    def ready(self) -> np.ndarray:
        """Per symbol: True once its warm-up is over."""
        return self._count >= self.period

    def update(
        self, values: npt.ArrayLike, index: npt.ArrayLike | None = None
    ) -> npt.NDArray[np.float64]:
        x = np.asarray(values, dtype=np.float64).reshape(-1)
        if index is None:
            idx = np.arange(self.n_symbols)
        else:
            idx = np.asarray(index).reshape(-1)
            if idx.dtype.kind not in "iu":
                raise InvalidArgument(f"index must hold integers, got dtype {idx.dtype}")
            if idx.size and (idx.min() < 0 or idx.max() >= self.n_symbols):
                raise InvalidArgument(f"index must lie in [0, {self.n_symbols})")
            if np.unique(idx).size != idx.size:
                raise InvalidArgument("index must not repeat a symbol within one update")
        if x.shape != idx.shape:
            raise InvalidArgument(f"values has {x.size} entries but index has {idx.size}")
        count = self._count[idx]
        ready = count >= self.period
        current = self.values[idx]
        out = np.where(ready, (x - current) * self._k + current, NAN)
        warming = ~ready
        if warming.any():
            w_idx = idx[warming]
            total = self._sum[w_idx] + x[warming]
            n = count[warming] + 1
            self._sum[w_idx] = total
            self._count[w_idx] = n
            out[warming] = np.where(n == self.period, total / self.period, NAN)
        self.values[idx] = out
        return out

    def copy(self) -> EMAVector:
        clone = object.__new__(EMAVector)
        clone.period, clone.n_symbols, clone._k = self.period, self.n_symbols, self._k
        clone._count, clone._sum = self._count.copy(), self._sum.copy()
        clone.values = self.values.copy()
        return clone

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> EMAVector:
        return self.copy()

    def snapshot(self) -> dict[str, Any]:
        return {
            "type": "EMAVector",
            "version": _SNAPSHOT_VERSION,
            "state": {
                "period": self.period,
                "n_symbols": self.n_symbols,
                "count": self._count.tolist(),
                "sum": self._sum.tolist(),
                "values": _encode(self.values.tolist()),
            },
        }

    @classmethod
    def restore(cls, snapshot: dict[str, Any]) -> EMAVector:
        if not isinstance(snapshot, dict) or snapshot.get("type") != "EMAVector":
            raise InvalidArgument("snapshot is not an EMAVector snapshot")
        try:
            state = snapshot["state"]
            obj = cls(state["period"], state["n_symbols"])
            obj._count = np.array(state["count"], dtype=np.int64)
            obj._sum = np.array(state["sum"], dtype=np.float64)
            obj.values = np.array([_decode_float(v) for v in state["values"]], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"malformed EMAVector snapshot: {exc!r}") from None
        if not obj._count.shape == obj._sum.shape == obj.values.shape == (obj.n_symbols,):
            raise InvalidArgument("malformed EMAVector snapshot: array lengths differ")
        return obj
