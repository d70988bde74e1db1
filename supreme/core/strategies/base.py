"""The strategy protocol, its parameter model and a convenient base class.

A strategy turns bars of one symbol into a target :class:`~supreme.core.model.Direction`. It is
evaluated on each bar's close, starts FLAT, changes its target at most once per bar, and emits a
:class:`~supreme.core.model.Signal` only when the target changes. While any input it reads is
NaN (indicator warm-up) it does nothing.

Custom strategies implement :class:`Strategy` (most simply by subclassing :class:`BaseStrategy`
and overriding :meth:`BaseStrategy.evaluate`) and register by name, either with
:func:`supreme.core.strategies.register` or through the ``supreme.strategies`` entry point group.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from supreme.core.errors import InvalidArgument
from supreme.core.model import Bar, BarBatch, Direction, Signal

__all__ = [
    "BaseStrategy",
    "Param",
    "Strategy",
    "clamp01",
    "nan_to_none",
    "none_to_nan",
    "run_bar_by_bar",
    "single_symbol",
    "validate_params",
]

_SNAPSHOT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Param:
    """One tunable parameter of a strategy: default and inclusive bounds ``[low, high]``.

    ``integer`` parameters accept whole numbers only (``12.0`` is fine) and are handed to the
    strategy as ``int``.
    """

    name: str
    default: float
    low: float
    high: float
    integer: bool = False
    doc: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise InvalidArgument(f"Param name must be an identifier, got {self.name!r}")
        for field_name in ("default", "low", "high"):
            value = getattr(self, field_name)
            if not _is_number(value) or not math.isfinite(value):
                raise InvalidArgument(
                    f"Param {self.name!r}: {field_name} must be a finite number, got {value!r}"
                )
        if not self.low <= self.default <= self.high:
            raise InvalidArgument(
                f"Param {self.name!r}: default {self.default} is outside [{self.low}, {self.high}]"
            )
        if self.integer and not float(self.default).is_integer():
            raise InvalidArgument(
                f"Param {self.name!r}: an integer parameter needs a whole default, "
                f"got {self.default}"
            )


@runtime_checkable
class Strategy(Protocol):
    """What the engine needs from a strategy (instances of a registered class).

    Class attributes: ``name`` (the registered name, also ``Signal.strategy``),
    ``description`` and ``params`` (a tuple of :class:`Param`). The class is constructed as
    ``cls(symbol, params)`` with params already validated by :func:`validate_params`.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    symbol: str

    @property
    def direction(self) -> Direction:
        """The current target."""
        ...

    def on_bar(self, bar: Bar) -> Signal | None:
        """Evaluate one bar on its close; a signal only when the target changes."""
        ...

    def warm_up(self, bars: Iterable[Bar]) -> None:
        """Feed history: state advances exactly as with :meth:`on_bar`, but nothing is emitted."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The full state as a JSON-serialisable dict."""
        ...

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Load the state of :meth:`snapshot` into a strategy built with the same params."""
        ...


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def validate_params(
    strategy_cls: type, params: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Every parameter of ``strategy_cls``, defaults filled in, checked and normalised.

    Raises :class:`InvalidArgument` for an unknown name (listing the allowed ones), a value that
    is not a finite number or lies outside its bounds, a fraction for an integer parameter, or a
    failed cross-parameter check (the class's optional ``check_params(values)`` classmethod).
    Integer parameters come back as ``int``, the others as ``float``.
    """
    spec: tuple[Param, ...] = tuple(getattr(strategy_cls, "params", ()))
    label = getattr(strategy_cls, "name", None) or getattr(strategy_cls, "__name__", "?")
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise InvalidArgument(
            f"params for strategy {label!r} must be a mapping of name to number, "
            f"got {type(params).__name__}"
        )
    allowed = [p.name for p in spec]
    unknown = sorted(str(k) for k in params if k not in allowed)
    if unknown:
        raise InvalidArgument(
            f"unknown parameter(s) {unknown} for strategy {label!r}; allowed: {sorted(allowed)}"
        )
    values: dict[str, float] = {}
    for p in spec:
        raw = params.get(p.name, p.default)
        where = f"parameter {p.name!r} of strategy {label!r}"
        if not _is_number(raw):
            raise InvalidArgument(f"{where} must be a number, got {raw!r}")
        value = float(raw)
        if not math.isfinite(value):
            raise InvalidArgument(f"{where} must be finite, got {raw!r}")
        if not p.low <= value <= p.high:
            raise InvalidArgument(f"{where} = {raw!r} is outside its bounds [{p.low}, {p.high}]")
        if p.integer:
            if not value.is_integer():
                raise InvalidArgument(f"{where} must be a whole number, got {raw!r}")
            values[p.name] = int(value)
        else:
            values[p.name] = value
    check = getattr(strategy_cls, "check_params", None)
    if check is not None:
        check(values)
    return values


def clamp01(value: float) -> float:
    """``value`` clipped into [0, 1]; NaN becomes 0."""
    if not value >= 0.0:  # also catches NaN
        return 0.0
    return 1.0 if value > 1.0 else float(value)


def nan_to_none(value: float) -> float | None:
    """JSON-safe float: NaN becomes None (see :func:`none_to_nan`)."""
    return None if value != value else value


def none_to_nan(value: Any) -> float:
    """Inverse of :func:`nan_to_none`."""
    return math.nan if value is None else float(value)


def single_symbol(bars: BarBatch) -> str | None:
    """The one symbol of ``bars`` (None when empty); :class:`InvalidArgument` if several."""
    if len(bars) == 0:
        return None
    symbols = bars.symbols()
    if len(symbols) != 1:
        raise InvalidArgument(
            f"bars must hold a single symbol, got {len(symbols)}: {symbols[:5]}"
            + ("..." if len(symbols) > 5 else "")
        )
    return symbols[0]


class BaseStrategy:
    """Convenient base for :class:`Strategy` implementations.

    Subclasses set ``name``, ``description`` and ``params`` and override :meth:`evaluate`
    (the new target from one bar) and optionally :meth:`signal_strength`, :meth:`state_dict`
    and :meth:`load_state_dict` (for checkpoints) and ``check_params`` (cross-parameter
    validation). Validated parameter values are in ``self.param_values``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()

    __slots__ = ("_direction", "param_values", "symbol")

    def __init__(self, symbol: str, params: Mapping[str, float] | None = None) -> None:
        if not isinstance(symbol, str) or not symbol.strip():
            raise InvalidArgument(f"symbol must be a non-empty string, got {symbol!r}")
        self.symbol = symbol
        self.param_values: dict[str, float] = validate_params(type(self), params)
        self._direction = Direction.FLAT

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.symbol!r}, {self.param_values!r}) "
            f"direction={self._direction.name}"
        )

    # -- the hooks a subclass implements ------------------------------------------------------

    def evaluate(self, bar: Bar) -> Direction:
        """Advance the strategy's indicators with ``bar`` and return the new target.

        ``self.direction`` is still the target at the bar's start while this runs.
        """
        raise NotImplementedError

    def signal_strength(self, bar: Bar, direction: Direction) -> float:
        """Strength in [0, 1] of the signal that moves the target to ``direction`` on ``bar``.

        Called right after :meth:`evaluate`, only when the target changed. Default 1.0.
        """
        return 1.0

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable internal state for :meth:`snapshot` (default: none)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""

    # -- the protocol -------------------------------------------------------------------------

    @property
    def direction(self) -> Direction:
        return self._direction

    def on_bar(self, bar: Bar) -> Signal | None:
        if bar.symbol != self.symbol:
            raise InvalidArgument(
                f"strategy {self.name!r} for {self.symbol!r} was given a bar of {bar.symbol!r}"
            )
        new = self.evaluate(bar)
        if new == self._direction:
            return None
        if type(new) is not Direction:
            new = Direction(new)
        self._direction = new
        return Signal(
            self.symbol,
            self.name,
            bar.time_ms,
            new,
            clamp01(self.signal_strength(bar, new)),
            bar.close,
        )

    def warm_up(self, bars: Iterable[Bar]) -> None:
        for bar in bars:
            if bar.symbol != self.symbol:
                raise InvalidArgument(
                    f"strategy {self.name!r} for {self.symbol!r} was given a bar of {bar.symbol!r}"
                )
            new = self.evaluate(bar)
            if new != self._direction:
                self._direction = Direction(new)

    def snapshot(self) -> dict[str, Any]:
        return {
            "strategy": self.name,
            "version": _SNAPSHOT_VERSION,
            "symbol": self.symbol,
            "params": dict(self.param_values),
            "direction": int(self._direction),
            "state": self.state_dict(),
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        if not isinstance(snapshot, Mapping):
            raise InvalidArgument(f"snapshot must be a mapping, got {type(snapshot).__name__}")
        for key, expected in (
            ("strategy", self.name),
            ("version", _SNAPSHOT_VERSION),
            ("symbol", self.symbol),
        ):
            if snapshot.get(key) != expected:
                raise InvalidArgument(
                    f"snapshot {key} is {snapshot.get(key)!r}, expected {expected!r}"
                )
        params = validate_params(type(self), snapshot.get("params"))
        if params != self.param_values:
            raise InvalidArgument(
                f"snapshot params {params} differ from this strategy's {self.param_values}"
            )
        try:
            direction = Direction(snapshot["direction"])
        except (KeyError, ValueError) as exc:
            raise InvalidArgument(f"snapshot has no valid direction: {exc}") from None
        self.load_state_dict(snapshot.get("state") or {})
        self._direction = direction

    # -- batch --------------------------------------------------------------------------------

    @classmethod
    def generate_signals(
        cls, bars: BarBatch, params: Mapping[str, float] | None = None
    ) -> list[Signal]:
        """Signals over a single-symbol batch. This default runs :meth:`on_bar` bar by bar;
        built-in strategies override it with TA-Lib batch indicators and the same rules."""
        return run_bar_by_bar(cls, bars, params)


def run_bar_by_bar(
    strategy_cls: type, bars: BarBatch, params: Mapping[str, float] | None = None
) -> list[Signal]:
    """Signals of a fresh ``strategy_cls`` instance fed a single-symbol batch bar by bar."""
    values = validate_params(strategy_cls, params)
    symbol = single_symbol(bars)
    if symbol is None:
        return []
    strategy = strategy_cls(symbol, values)
    signals = []
    for bar in bars:
        signal = strategy.on_bar(bar)
        if signal is not None:
            signals.append(signal)
    return signals
