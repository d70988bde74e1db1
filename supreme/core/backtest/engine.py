"""Event-driven backtests on the live trading classes.

The loop below is the live pipeline, run bar by bar on one thread: the same strategy instances,
the same :class:`~supreme.core.desk.RiskDesk` (risk engine, portfolio, marks, ATR) that the live
RiskActor wraps, the same :class:`ExecutionEngine` and order journal, and the
:class:`PaperBroker` that the live execution worker uses for paper trading. Nothing here
re-implements sizing, fills or accounting.

Per bar, in order:

1. the broker fills pending orders against the bar (market orders at its open);
2. fills update the portfolio and the risk engine (post-trade);
3. the bar's close marks the portfolio; the risk engine runs its in-trade checks and may ask to
   exit (stop-loss, take-profit, drawdown flattening);
4. every strategy attached to the symbol sees the bar; its signals become intents that the risk
   engine approves, resizes or denies, and approved orders go to the broker, to fill on a later
   bar (never on the bar whose close produced them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supreme.core.backtest.report import BacktestReport, build_report
from supreme.core.desk import RiskDesk, decision_order
from supreme.core.errors import InvalidArgument
from supreme.core.execution import (
    ExecutionEngine,
    OrderJournal,
    PaperBroker,
    PaperBrokerConfig,
)
from supreme.core.model import Bar, BarBatch, Fill, Order, Portfolio, Signal
from supreme.core.risk import RiskConfig, RiskDecision, RiskEngine
from supreme.core.strategies import create_strategy

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Backtest", "BacktestConfig", "StrategySpec", "run_backtest"]

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """One strategy to run: its registered name and parameters, on ``symbols`` (None = all)."""

    name: str
    params: Mapping[str, float] = field(default_factory=dict)
    symbols: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    initial_cash: float = 100_000.0
    risk: RiskConfig | None = None
    broker: PaperBrokerConfig | None = None
    # ATR used by risk for fixed-fractional sizing and default stops.
    atr_period: int = 14
    # Bars per year for annualising; None infers it from the median bar interval (24/7 market).
    periods_per_year: float | None = None
    # Where the order journal lives; ":memory:" keeps backtests off the disk.
    journal_path: str = ":memory:"
    progress_every: int = 10_000

    def __post_init__(self) -> None:
        if not self.initial_cash > 0:
            raise InvalidArgument(f"initial_cash must be > 0, got {self.initial_cash}")
        if self.atr_period < 1:
            raise InvalidArgument(f"atr_period must be >= 1, got {self.atr_period}")
        if self.periods_per_year is not None and not self.periods_per_year > 0:
            raise InvalidArgument(f"periods_per_year must be > 0, got {self.periods_per_year}")


def _coerce_bars(data: BarBatch | pd.DataFrame | str | Path) -> BarBatch:
    if isinstance(data, BarBatch):
        return data.sorted()
    from supreme.data.files import frame_to_batch, read_bars

    if isinstance(data, str | Path):
        return read_bars(data)
    return frame_to_batch(data)


class Backtest:
    """One backtest run over a set of strategies and symbols. Use :meth:`run` once."""

    def __init__(
        self,
        strategies: Sequence[StrategySpec | str],
        config: BacktestConfig | None = None,
    ) -> None:
        if not strategies:
            raise InvalidArgument("a backtest needs at least one strategy")
        self.config = config or BacktestConfig()
        self.specs = [StrategySpec(s) if isinstance(s, str) else s for s in strategies]
        # Validate every strategy and its parameters before any data is read.
        for spec in self.specs:
            create_strategy(spec.name, "VALIDATE", dict(spec.params))

        # Risk, portfolio, marks and ATR: the same desk the live RiskActor runs.
        self.desk = RiskDesk(
            self.config.risk,
            initial_cash=self.config.initial_cash,
            atr_period=self.config.atr_period,
            id_prefix="bt",
        )
        self.broker = PaperBroker(self.config.broker)
        self.journal = OrderJournal(self.config.journal_path)
        self.journal.set_initial_cash(self.config.initial_cash)
        self.execution = ExecutionEngine(self.broker, self.journal)
        self._strategies: dict[str, list[Any]] = {}
        self.signals: list[Signal] = []
        self.fills: list[Fill] = []
        # Every order of the run, by client order id; filled in when the run ends.
        self.orders: dict[str, Order] = {}
        self.decisions: list[RiskDecision] = []
        self.risk_events: list[dict[str, Any]] = []

    # -- the desk's state, under the names the backtest always had ---------------------------

    @property
    def risk(self) -> RiskEngine:
        return self.desk.risk

    @property
    def portfolio(self) -> Portfolio:
        return self.desk.portfolio

    @property
    def prices(self) -> dict[str, float]:
        return self.desk.prices

    @property
    def atr_values(self) -> dict[str, float]:
        return self.desk.atr_values

    # -- wiring -----------------------------------------------------------------------------

    def _attach(self, symbols: Iterable[str]) -> None:
        for symbol in symbols:
            self._strategies[symbol] = [
                create_strategy(spec.name, symbol, dict(spec.params))
                for spec in self.specs
                if spec.symbols is None or symbol in spec.symbols
            ]

    async def _route(self, decisions: list[RiskDecision]) -> None:
        """Submit the approved orders, journal the denied ones, in decision order."""
        for decision in decisions:
            self.decisions.append(decision)
            order = decision_order(decision)
            if decision.approved:
                await self.execution.submit(order)
            else:
                self.execution.record_denied(order)

    async def _on_bar(self, bar: Bar) -> None:
        now = bar.time_ms
        # 1-2. Pending orders fill against this bar; fills reach the portfolio and risk.
        self.broker.on_bar(bar)
        fills = self.execution.drain_fills()
        self.fills.extend(fills)
        self.desk.on_fills(fills, now)
        # 3. Mark to the close; in-trade risk checks may ask to exit.
        await self._route(self.desk.on_bar(bar, self.execution.open_orders()))
        # 4. Strategies decide on the close; their signals become orders through risk.
        for strategy in self._strategies[bar.symbol]:
            signal = strategy.on_bar(bar)
            if signal is None:
                continue
            self.signals.append(signal)
            await self._route(self.desk.on_signal(signal, self.execution.open_orders()))

    async def _run(self, bars: BarBatch, progress: ProgressCallback | None) -> BacktestReport:
        self._attach(bars.symbols())
        total = len(bars)
        every = max(1, self.config.progress_every)
        times: list[int] = []
        equity: list[float] = []
        gross: list[float] = []
        last_time: int | None = None
        for n, bar in enumerate(bars, 1):
            if last_time is not None and bar.time_ms != last_time:
                # Every symbol of the previous timestamp is done: record that instant.
                times.append(last_time)
                equity.append(self.portfolio.equity(self.prices))
                gross.append(self.portfolio.gross_exposure(self.prices))
            last_time = bar.time_ms
            await self._on_bar(bar)
            if progress is not None and (n % every == 0 or n == total):
                progress(n, total)
            self.risk_events.extend(e.to_dict() for e in self.desk.drain_events())
        if last_time is not None:
            times.append(last_time)
            equity.append(self.portfolio.equity(self.prices))
            gross.append(self.portfolio.gross_exposure(self.prices))
        self.orders = {o.client_order_id: o for o in self.execution.orders()}
        return build_report(
            initial_cash=self.config.initial_cash,
            portfolio=self.portfolio,
            prices=self.prices,
            times=times,
            equity=equity,
            gross_exposure=gross,
            trades=self.risk.ledger.closed_trades,
            signals=len(self.signals),
            decisions=self.decisions,
            orders=list(self.orders.values()),
            strategies=[s.name for s in self.specs],
            symbols=list(self._strategies),
            bars=total,
            periods_per_year=self.config.periods_per_year,
        )

    def run(
        self,
        data: BarBatch | pd.DataFrame | str | Path,
        *,
        progress: ProgressCallback | None = None,
    ) -> BacktestReport:
        """Run over ``data`` (a BarBatch, a DataFrame, or a CSV/Parquet path) and report."""
        bars = _coerce_bars(data)
        if len(bars) == 0:
            raise InvalidArgument("no bars to backtest")
        try:
            return asyncio.run(self._run(bars, progress))
        finally:
            self.journal.close()


def run_backtest(
    data: BarBatch | pd.DataFrame | str | Path,
    strategies: Sequence[StrategySpec | str],
    config: BacktestConfig | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> BacktestReport:
    """Convenience wrapper: ``Backtest(strategies, config).run(data)``."""
    return Backtest(strategies, config).run(data, progress=progress)
