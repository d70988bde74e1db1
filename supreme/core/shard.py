"""One shard of the symbol space: bar history and strategy instances of the symbols it owns.

:class:`ShardCore` is the plain class behind the ``SymbolShard`` Ray actor (see
:mod:`supreme.workers.shard`); unit tests drive it directly. It is single-threaded and does no
I/O.

**Instances.** A strategy instance is identified by an :class:`InstanceKey`: the strategy
name, its *effective* parameters (defaults filled in by
:func:`~supreme.core.strategies.validate_params`) and the symbol. Two subscriptions with equal
effective parameters share one instance, reference counted: :meth:`ShardCore.attach` and
:meth:`ShardCore.detach` move the count and the instance goes away at zero. A new instance is
warmed up from the symbol's stored history, so it is in the state an instance attached from the
start would be in (as far back as the history reaches; see ``history_limit``).

**Bars.** :meth:`ShardCore.process` takes a columnar :class:`~supreme.core.model.BarBatch` and
applies its rows in row order, exactly as if they had arrived one call at a time: batching never
changes a result. A row whose ``time_ms`` is not after the last bar applied for its symbol
(out of order or a duplicate) is rejected and counted, never applied.

**History** is kept per symbol in numpy ring buffers (one int64 and five float64 columns,
48 bytes a bar): 100 symbols of 10,000 bars take about 48 MB. Buffers start small and grow by
doubling up to ``history_limit``, then overwrite their oldest rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from supreme.core.errors import InvalidArgument, NotFound
from supreme.core.model import Bar, BarBatch, Signal
from supreme.core.strategies import create_strategy, get_strategy, validate_params
from supreme.core.strategies.base import Strategy

__all__ = ["InstanceKey", "ShardCore", "ShardResult", "keys_for"]

_INITIAL_CAPACITY = 64
_SNAPSHOT_VERSION = 1


def _format_value(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


@dataclass(frozen=True, slots=True)
class InstanceKey:
    """What identifies a strategy instance: name, effective parameters (sorted), symbol.

    Build it with :meth:`of`, which validates the parameters and fills in the defaults, so equal
    effective parameters always give equal keys.
    """

    strategy: str
    params: tuple[tuple[str, float], ...]
    symbol: str

    @classmethod
    def of(cls, strategy: str, params: Mapping[str, float] | None, symbol: str) -> InstanceKey:
        """The key of ``strategy`` on ``symbol`` with ``params``; raises :class:`NotFound` for an
        unknown strategy and :class:`InvalidArgument` for bad parameters or symbol."""
        if not isinstance(symbol, str) or not symbol.strip():
            raise InvalidArgument(f"symbol must be a non-empty string, got {symbol!r}")
        values = validate_params(get_strategy(strategy), params)
        return cls(strategy, tuple(sorted((k, float(v)) for k, v in values.items())), symbol)

    @property
    def id(self) -> str:
        """A stable, readable id: ``name[p1=v1,p2=v2]@symbol`` (parameters sorted)."""
        params = ",".join(f"{k}={_format_value(v)}" for k, v in self.params)
        return f"{self.strategy}[{params}]@{self.symbol}"

    def params_dict(self) -> dict[str, float]:
        return dict(self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "params": self.params_dict(), "symbol": self.symbol}


@dataclass(slots=True)
class ShardResult:
    """What one :meth:`ShardCore.process` call produced.

    ``signals`` are ``(instance id, signal)`` pairs in the order the bars were applied;
    ``last_time_ms`` is the last applied bar time of every symbol the batch touched.
    """

    signals: list[tuple[str, Signal]] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    last_time_ms: dict[str, int] = field(default_factory=dict)


class _History:
    """A growable ring buffer of one symbol's bars: ``times`` (int64), ``values`` (n x 5:
    open, high, low, close, volume)."""

    __slots__ = ("limit", "size", "start", "times", "values")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        capacity = min(limit, _INITIAL_CAPACITY)
        self.times = np.empty(capacity, dtype=np.int64)
        self.values = np.empty((capacity, 5), dtype=np.float64)
        self.start = 0
        self.size = 0

    @property
    def nbytes(self) -> int:
        return int(self.times.nbytes + self.values.nbytes)

    def linear(self) -> tuple[np.ndarray, np.ndarray]:
        """The stored rows, oldest first (copies)."""
        start, end = self.start, self.start + self.size
        cap = self.times.shape[0]
        if end <= cap:
            return self.times[start:end].copy(), self.values[start:end].copy()
        idx = np.arange(start, end) % cap
        return self.times[idx], self.values[idx]

    def extend(self, times: np.ndarray, values: np.ndarray) -> None:
        n = times.shape[0]
        if n == 0:
            return
        if n >= self.limit:  # only the newest `limit` rows can survive
            times, values, n = times[-self.limit :], values[-self.limit :], self.limit
            self.start = self.size = 0
            if self.times.shape[0] < self.limit:
                self.times = np.empty(self.limit, dtype=np.int64)
                self.values = np.empty((self.limit, 5), dtype=np.float64)
        cap = self.times.shape[0]
        if self.size + n > cap and cap < self.limit:
            new_cap = cap
            while new_cap < self.size + n and new_cap < self.limit:
                new_cap *= 2
            new_cap = min(new_cap, self.limit)
            old_times, old_values = self.linear()
            self.times = np.empty(new_cap, dtype=np.int64)
            self.values = np.empty((new_cap, 5), dtype=np.float64)
            self.times[: self.size] = old_times
            self.values[: self.size] = old_values
            self.start, cap = 0, new_cap
        end = (self.start + self.size) % cap
        first = min(n, cap - end)
        self.times[end : end + first] = times[:first]
        self.values[end : end + first] = values[:first]
        if first < n:
            self.times[: n - first] = times[first:]
            self.values[: n - first] = values[first:]
        overflow = max(0, self.size + n - cap)
        self.start = (self.start + overflow) % cap
        self.size = min(cap, self.size + n)

    def batch(self, symbol: str, limit: int | None = None) -> BarBatch:
        times, values = self.linear()
        if limit is not None and limit < len(times):
            start = len(times) - limit
            times, values = times[start:], values[start:]
        return BarBatch(
            symbol,
            times,
            values[:, 0],
            values[:, 1],
            values[:, 2],
            values[:, 3],
            values[:, 4],
            validate=False,  # every row was validated when its batch was built
        )


class _SymbolState:
    __slots__ = ("history", "instances", "last_time_ms")

    def __init__(self, limit: int) -> None:
        self.history = _History(limit)
        self.last_time_ms = -1
        # instance id -> strategy, in attach order (the order their signals come out)
        self.instances: dict[str, Strategy] = {}


@dataclass(slots=True)
class _Instance:
    key: InstanceKey
    strategy: Strategy
    refcount: int = 1


_BAR_NEW = object.__new__
_SET = object.__setattr__


class ShardCore:
    """Bar history and strategy instances for a set of symbols; see the module docstring."""

    def __init__(self, *, history_limit: int = 10_000) -> None:
        if isinstance(history_limit, bool) or not isinstance(history_limit, int):
            raise InvalidArgument(f"history_limit must be an integer, got {history_limit!r}")
        if history_limit < 1:
            raise InvalidArgument(f"history_limit must be >= 1, got {history_limit}")
        self.history_limit = history_limit
        self._symbols: dict[str, _SymbolState] = {}
        self._instances: dict[InstanceKey, _Instance] = {}
        self._accepted = 0
        self._rejected = 0
        self._signals = 0

    # -- instances -----------------------------------------------------------------------------

    def _state(self, symbol: str) -> _SymbolState:
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = _SymbolState(self.history_limit)
        return state

    def attach(self, key: InstanceKey) -> bool:
        """Add one reference to the instance ``key``; True when the instance was created (and
        warmed up from the symbol's history), False when an existing one was shared."""
        if not isinstance(key, InstanceKey):
            raise InvalidArgument(f"key must be an InstanceKey, got {type(key).__name__}")
        existing = self._instances.get(key)
        if existing is not None:
            existing.refcount += 1
            return False
        strategy = create_strategy(key.strategy, key.symbol, key.params_dict())
        state = self._state(key.symbol)
        if state.history.size:
            strategy.warm_up(state.history.batch(key.symbol))
        self._instances[key] = _Instance(key, strategy)
        state.instances[key.id] = strategy
        return True

    def detach(self, key: InstanceKey) -> bool:
        """Drop one reference; True when that was the last and the instance was removed.
        :class:`NotFound` when ``key`` is not attached."""
        instance = self._instances.get(key)
        if instance is None:
            raise NotFound(
                f"no strategy instance {key.id if isinstance(key, InstanceKey) else key}"
            )
        instance.refcount -= 1
        if instance.refcount > 0:
            return False
        del self._instances[key]
        del self._symbols[key.symbol].instances[key.id]
        return True

    def instances(self) -> dict[InstanceKey, int]:
        """Every attached instance with its reference count, in attach order."""
        return {k: i.refcount for k, i in self._instances.items()}

    def strategy(self, key: InstanceKey) -> Strategy:
        """The live instance of ``key`` (for inspection; :class:`NotFound` if not attached)."""
        instance = self._instances.get(key)
        if instance is None:
            raise NotFound(f"no strategy instance {key.id}")
        return instance.strategy

    # -- bars ----------------------------------------------------------------------------------

    def process(self, batch: BarBatch) -> ShardResult:
        """Apply ``batch`` row by row; see the module docstring."""
        if not isinstance(batch, BarBatch):
            raise InvalidArgument(f"batch must be a BarBatch, got {type(batch).__name__}")
        result = ShardResult()
        n = len(batch)
        if n == 0:
            return result
        symbols = batch.symbol.tolist()
        times = batch.time_ms.tolist()
        opens, highs = batch.open.tolist(), batch.high.tolist()
        lows, closes = batch.low.tolist(), batch.close.tolist()
        volumes = batch.volume.tolist()
        signals = result.signals
        rows: dict[str, list[int]] = {}  # symbol -> accepted row numbers
        states = self._symbols
        limit = self.history_limit
        rejected = 0
        for i in range(n):
            symbol = symbols[i]
            t = times[i]
            state = states.get(symbol)
            if state is None:
                state = states[symbol] = _SymbolState(limit)
            if t <= state.last_time_ms:
                rejected += 1
                continue
            state.last_time_ms = t
            accepted_rows = rows.get(symbol)
            if accepted_rows is None:
                rows[symbol] = [i]
            else:
                accepted_rows.append(i)
            if not state.instances:
                continue
            # The batch was validated when built: skip Bar's per-field checks.
            bar = _BAR_NEW(Bar)
            _SET(bar, "symbol", symbol)
            _SET(bar, "time_ms", t)
            _SET(bar, "open", opens[i])
            _SET(bar, "high", highs[i])
            _SET(bar, "low", lows[i])
            _SET(bar, "close", closes[i])
            _SET(bar, "volume", volumes[i])
            for instance_id, strategy in state.instances.items():
                signal = strategy.on_bar(bar)
                if signal is not None:
                    signals.append((instance_id, signal))
        if rows:
            values = np.column_stack((batch.open, batch.high, batch.low, batch.close, batch.volume))
            for symbol, accepted_rows in rows.items():
                idx = np.asarray(accepted_rows, dtype=np.intp)
                state = states[symbol]
                state.history.extend(batch.time_ms[idx], values[idx])
                result.last_time_ms[symbol] = state.last_time_ms
        result.accepted = n - rejected
        result.rejected = rejected
        self._accepted += result.accepted
        self._rejected += rejected
        self._signals += len(signals)
        return result

    # -- views ---------------------------------------------------------------------------------

    def history(self, symbol: str, limit: int | None = None) -> BarBatch:
        """The stored bars of ``symbol``, oldest first (the newest ``limit`` when given)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise InvalidArgument(f"limit must be an integer or None, got {limit!r}")
        if limit is not None and limit < 0:
            raise InvalidArgument(f"limit must be >= 0, got {limit}")
        state = self._symbols.get(symbol)
        if state is None:
            return BarBatch.empty()
        return state.history.batch(symbol, limit)

    def symbols(self) -> list[str]:
        """Symbols seen (bars or instances), in order of first appearance."""
        return list(self._symbols)

    def last_time_ms(self, symbol: str) -> int | None:
        state = self._symbols.get(symbol)
        return None if state is None or state.last_time_ms < 0 else state.last_time_ms

    def stats(self) -> dict[str, Any]:
        return {
            "symbols": len(self._symbols),
            "bars_processed": self._accepted,
            "bars_rejected": self._rejected,
            "signals": self._signals,
            "instances": len(self._instances),
            "subscriptions": sum(i.refcount for i in self._instances.values()),
            "history_bars": sum(s.history.size for s in self._symbols.values()),
            "history_bytes": sum(s.history.nbytes for s in self._symbols.values()),
            "history_limit": self.history_limit,
        }

    # -- persistence ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole state: history as numpy arrays (picklable, not JSON), strategy snapshots,
        reference counts and counters."""
        return {
            "version": _SNAPSHOT_VERSION,
            "history_limit": self.history_limit,
            "counters": [self._accepted, self._rejected, self._signals],
            "symbols": {
                symbol: {
                    "last_time_ms": state.last_time_ms,
                    **dict(zip(("times", "values"), state.history.linear(), strict=True)),
                }
                for symbol, state in self._symbols.items()
            },
            "instances": [
                {**i.key.to_dict(), "refcount": i.refcount, "state": i.strategy.snapshot()}
                for i in self._instances.values()
            ],
        }

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> ShardCore:
        if not isinstance(data, Mapping) or data.get("version") != _SNAPSHOT_VERSION:
            raise InvalidArgument(f"not a shard snapshot of version {_SNAPSHOT_VERSION}")
        core = cls(history_limit=int(data["history_limit"]))
        core._accepted, core._rejected, core._signals = (int(x) for x in data["counters"])
        for symbol, saved in data["symbols"].items():
            state = core._state(symbol)
            state.last_time_ms = int(saved["last_time_ms"])
            state.history.extend(np.asarray(saved["times"]), np.asarray(saved["values"]))
        for saved in data["instances"]:
            key = InstanceKey.of(saved["strategy"], saved["params"], saved["symbol"])
            strategy = create_strategy(key.strategy, key.symbol, key.params_dict())
            strategy.restore(saved["state"])
            core._instances[key] = _Instance(key, strategy, int(saved["refcount"]))
            core._state(key.symbol).instances[key.id] = strategy
        return core


def keys_for(
    strategy: str, params: Mapping[str, float] | None, symbols: Iterable[str]
) -> list[InstanceKey]:
    """One :class:`InstanceKey` per symbol (parameters validated once)."""
    values = validate_params(get_strategy(strategy), params)
    return [InstanceKey.of(strategy, values, s) for s in symbols]
