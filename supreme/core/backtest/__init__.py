"""Event-driven backtesting on the same strategy, risk and paper-broker classes as live trading."""

from supreme.core.backtest.engine import Backtest, BacktestConfig, StrategySpec, run_backtest
from supreme.core.backtest.report import BacktestReport

__all__ = ["Backtest", "BacktestConfig", "BacktestReport", "StrategySpec", "run_backtest"]
