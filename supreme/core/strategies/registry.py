"""Strategies by name: registration, lookup, creation and entry-point discovery.

Built-ins register when :mod:`supreme.core.strategies` is imported. Third-party strategies
register in their own code with :func:`register`, or, without any import from the user, through
the ``supreme.strategies`` entry point group, e.g. in their ``pyproject.toml``::

    [project.entry-points."supreme.strategies"]
    my_strategy = "my_package.strategies:MyStrategy"

Entry points are loaded once, on the first lookup. A broken entry point is logged and skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, overload

from supreme.core.errors import AlreadyExists, InvalidArgument, NotFound
from supreme.core.model import BarBatch, Signal
from supreme.core.strategies.base import Param, Strategy, run_bar_by_bar, validate_params

__all__ = [
    "ENTRY_POINT_GROUP",
    "StrategyInfo",
    "create_strategy",
    "generate_signals",
    "get_strategy",
    "list_strategies",
    "register",
    "restore_strategy",
    "unregister",
]

ENTRY_POINT_GROUP = "supreme.strategies"

logger = logging.getLogger(__name__)

_lock = threading.RLock()
_registry: dict[str, type] = {}
_from_entry_points: set[str] = set()
_discovered = False

_REQUIRED_METHODS = ("on_bar", "warm_up", "snapshot", "restore")


@dataclass(frozen=True, slots=True)
class StrategyInfo:
    """What :func:`list_strategies` reports about one registered strategy."""

    name: str
    description: str
    params: tuple[Param, ...]


def _check_strategy_class(cls: object) -> None:
    if not isinstance(cls, type):
        raise InvalidArgument(f"a strategy must be a class, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument(f"strategy class {cls.__name__} needs a non-empty str `name`")
    params = getattr(cls, "params", None)
    if not isinstance(params, tuple) or not all(isinstance(p, Param) for p in params):
        raise InvalidArgument(f"strategy {name!r}: `params` must be a tuple of Param")
    if len({p.name for p in params}) != len(params):
        raise InvalidArgument(f"strategy {name!r}: duplicate parameter names")
    if not isinstance(getattr(cls, "description", None), str):
        raise InvalidArgument(f"strategy {name!r}: `description` must be a str")
    missing = [m for m in _REQUIRED_METHODS if not callable(getattr(cls, m, None))]
    if missing or not hasattr(cls, "direction"):
        raise InvalidArgument(
            f"strategy {name!r} does not implement the Strategy protocol; "
            f"missing {missing + ([] if hasattr(cls, 'direction') else ['direction'])}"
        )


@overload
def register(cls: type, *, replace: bool = False) -> type: ...


@overload
def register(cls: None = None, *, replace: bool = False) -> Callable[[type], type]: ...


def register(cls: type | None = None, *, replace: bool = False) -> Any:
    """Register a strategy class under its ``name``; usable as ``@register`` or
    ``@register(replace=True)``.

    Registering the same class twice is a no-op; another class under a taken name raises
    :class:`AlreadyExists` unless ``replace=True``.
    """

    def apply(klass: type) -> type:
        _check_strategy_class(klass)
        name = klass.name  # type: ignore[attr-defined]
        with _lock:
            existing = _registry.get(name)
            if existing is not None and existing is not klass and not replace:
                raise AlreadyExists(
                    f"a strategy named {name!r} is already registered "
                    f"({existing.__module__}.{existing.__qualname__}); pass replace=True"
                )
            _registry[name] = klass
        return klass

    if cls is None:
        return apply
    return apply(cls)


def unregister(name: str) -> None:
    """Remove a registered strategy (:class:`NotFound` if unknown)."""
    with _lock:
        if _registry.pop(name, None) is None:
            raise NotFound(f"unknown strategy {name!r}; known: {sorted(_registry)}")
        _from_entry_points.discard(name)


def _discover() -> None:
    """Load the ``supreme.strategies`` entry points once; log and skip the broken ones."""
    global _discovered
    with _lock:
        if _discovered:
            return
        _discovered = True
        try:
            found = entry_points(group=ENTRY_POINT_GROUP)
        except Exception:  # a corrupt distribution must not take the registry down
            logger.exception("could not list entry points of group %r", ENTRY_POINT_GROUP)
            return
        for ep in found:
            try:
                cls = ep.load()
                _check_strategy_class(cls)
                name = cls.name
                existing = _registry.get(name)
                if existing is not None and existing is not cls:
                    raise AlreadyExists(
                        f"strategy name {name!r} is already taken by "
                        f"{existing.__module__}.{existing.__qualname__}"
                    )
                if ep.name != name:
                    logger.warning(
                        "entry point %r of group %r registers its strategy under its class name %r",
                        ep.name,
                        ENTRY_POINT_GROUP,
                        name,
                    )
                _registry[name] = cls
                _from_entry_points.add(name)
            except Exception:
                logger.exception(
                    "skipping broken strategy entry point %r (%s) of group %r",
                    ep.name,
                    ep.value,
                    ENTRY_POINT_GROUP,
                )


def _reset_discovery() -> None:
    """Forget entry-point strategies and discover again on the next lookup (for tests)."""
    global _discovered
    with _lock:
        for name in _from_entry_points:
            _registry.pop(name, None)
        _from_entry_points.clear()
        _discovered = False


def get_strategy(name: str) -> type:
    """The strategy class registered as ``name``; :class:`NotFound` listing the known names."""
    _discover()
    with _lock:
        cls = _registry.get(name)
        if cls is None:
            raise NotFound(f"unknown strategy {name!r}; known: {sorted(_registry)}")
        return cls


def create_strategy(name: str, symbol: str, params: Mapping[str, float] | None = None) -> Strategy:
    """A new instance of strategy ``name`` for ``symbol``, with validated ``params``."""
    cls = get_strategy(name)
    strategy: Strategy = cls(symbol, validate_params(cls, params))
    return strategy


def restore_strategy(snapshot: Mapping[str, Any]) -> Strategy:
    """Rebuild a strategy from its :meth:`Strategy.snapshot`."""
    if not isinstance(snapshot, Mapping) or not isinstance(snapshot.get("strategy"), str):
        raise InvalidArgument("snapshot must be a mapping with a 'strategy' name")
    strategy = create_strategy(snapshot["strategy"], snapshot.get("symbol"), snapshot.get("params"))
    strategy.restore(snapshot)
    return strategy


def list_strategies() -> list[StrategyInfo]:
    """Every registered strategy with its parameters (defaults and bounds), sorted by name."""
    _discover()
    with _lock:
        classes = sorted(_registry.items())
    return [StrategyInfo(name, cls.description, tuple(cls.params)) for name, cls in classes]


def generate_signals(
    name: str, bars: BarBatch, params: Mapping[str, float] | None = None
) -> list[Signal]:
    """Batch signals of strategy ``name`` over a single-symbol :class:`BarBatch`.

    Built-in strategies compute their indicators with the TA-Lib batch functions and apply
    the same rule functions as their incremental :meth:`~Strategy.on_bar`; strategies without
    a batch path are run bar by bar.
    """
    cls = get_strategy(name)
    batch = getattr(cls, "generate_signals", None)
    if callable(batch):
        signals: list[Signal] = batch(bars, params)
        return signals
    return run_bar_by_bar(cls, bars, params)
