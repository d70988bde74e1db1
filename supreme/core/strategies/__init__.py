"""Trading strategies: the protocol, the registry and the built-ins.

Built-ins: ``momentum`` (MACD cross confirmed by RSI), ``mean_reversion`` (Bollinger fade) and
``breakout`` (Donchian channel with ATR filter). Each has an incremental ``on_bar`` path and a
batch :func:`generate_signals` path that share one pure rule function.
"""

from supreme.core.strategies.base import (
    BaseStrategy,
    Param,
    Strategy,
    clamp01,
    run_bar_by_bar,
    validate_params,
)

# The built-in modules register themselves on import.
from supreme.core.strategies.breakout import (
    Breakout,
    breakout_step,
    breakout_strength,
)
from supreme.core.strategies.mean_reversion import (
    MeanReversion,
    mean_reversion_step,
    mean_reversion_strength,
)
from supreme.core.strategies.momentum import Momentum, momentum_step, momentum_strength
from supreme.core.strategies.registry import (
    ENTRY_POINT_GROUP,
    StrategyInfo,
    create_strategy,
    generate_signals,
    get_strategy,
    list_strategies,
    register,
    restore_strategy,
    unregister,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "BaseStrategy",
    "Breakout",
    "MeanReversion",
    "Momentum",
    "Param",
    "Strategy",
    "StrategyInfo",
    "breakout_step",
    "breakout_strength",
    "clamp01",
    "create_strategy",
    "generate_signals",
    "get_strategy",
    "list_strategies",
    "mean_reversion_step",
    "mean_reversion_strength",
    "momentum_step",
    "momentum_strength",
    "register",
    "restore_strategy",
    "run_bar_by_bar",
    "unregister",
    "validate_params",
]
