"""Backtest results: performance figures, the equity curve and the trade list."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from supreme.core.model import Order, Portfolio

__all__ = ["BacktestReport", "build_report"]

_MS_PER_YEAR = 365.0 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class BacktestReport:
    strategies: list[str]
    symbols: list[str]
    bars: int
    start_ms: int
    end_ms: int
    initial_cash: float
    final_equity: float
    realized_pnl: float
    unrealized_pnl: float
    fees: float
    total_return: float
    annualized_return: float
    sharpe: float
    sortino: float
    max_drawdown: float
    trades: int
    win_rate: float
    profit_factor: float
    # Share of recorded instants with any open position.
    time_in_market: float
    # Mean of gross exposure / equity over the recorded instants.
    average_exposure: float
    signals: int
    orders_by_status: dict[str, int]
    risk_denials: dict[str, int]
    periods_per_year: float
    equity_curve: list[tuple[int, float]] = field(repr=False)
    trade_list: list[dict[str, Any]] = field(repr=False)

    @property
    def accounting_error(self) -> float:
        """final equity − (initial cash + realized − fees + unrealized); zero when books close."""
        expected = self.initial_cash + self.realized_pnl - self.fees + self.unrealized_pnl
        return self.final_equity - expected

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["equity_curve"] = [[t, e] for t, e in self.equity_curve]
        return _json_safe(data)

    def summary(self) -> str:
        def pct(x: float) -> str:
            return f"{x * 100:8.2f}%" if math.isfinite(x) else "     n/a"

        def num(x: float) -> str:
            return f"{x:9.2f}" if math.isfinite(x) else "      n/a"

        lines = [
            f"Strategies     {', '.join(self.strategies)}",
            f"Symbols        {', '.join(self.symbols)}  ({self.bars} bars)",
            f"Final equity   {self.final_equity:,.2f}  (from {self.initial_cash:,.2f})",
            f"Total return   {pct(self.total_return)}   annualized {pct(self.annualized_return)}",
            f"Sharpe         {num(self.sharpe)}   Sortino {num(self.sortino)}",
            f"Max drawdown   {pct(self.max_drawdown)}",
            f"Trades         {self.trades:9d}   win rate {pct(self.win_rate)}"
            f"   profit factor {num(self.profit_factor)}",
            f"Exposure       time in market {pct(self.time_in_market)}"
            f"   average {pct(self.average_exposure)}",
            f"PnL            realized {self.realized_pnl:,.2f}   unrealized "
            f"{self.unrealized_pnl:,.2f}   fees {self.fees:,.2f}",
            f"Signals        {self.signals:9d}   orders "
            + ", ".join(f"{k.lower()} {v}" for k, v in sorted(self.orders_by_status.items())),
        ]
        if self.risk_denials:
            denials = ", ".join(f"{k} {v}" for k, v in sorted(self.risk_denials.items()))
            lines.append(f"Risk denials   {denials}")
        return "\n".join(lines)

    def plot(self, path: str | Path) -> Path:
        """Write the equity curve and the drawdown below it to a PNG file."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        times = np.array([t for t, _ in self.equity_curve], dtype="datetime64[ms]")
        equity = np.array([e for _, e in self.equity_curve])
        drawdown = 1.0 - equity / np.maximum.accumulate(equity)
        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
        top.plot(times, equity, lw=1.2)
        top.set_ylabel("equity")
        top.set_title(f"{', '.join(self.strategies)} on {', '.join(self.symbols)}")
        top.grid(alpha=0.3)
        bottom.fill_between(times, -drawdown * 100, 0, color="tab:red", alpha=0.4)
        bottom.set_ylabel("drawdown %")
        bottom.grid(alpha=0.3)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out, dpi=100)
        plt.close(fig)
        return out


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Enum):
        return value.name
    if is_dataclass(value) and not isinstance(value, type):
        return _json_safe(asdict(value))
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def _periods_per_year(times: Sequence[int]) -> float:
    if len(times) < 2:
        return 365.0
    step = float(np.median(np.diff(np.asarray(times, dtype=np.float64))))
    return _MS_PER_YEAR / step if step > 0 else 365.0


def build_report(
    *,
    initial_cash: float,
    portfolio: Portfolio,
    prices: Mapping[str, float],
    times: Sequence[int],
    equity: Sequence[float],
    gross_exposure: Sequence[float],
    trades: Sequence[Any],
    signals: int,
    decisions: Sequence[Any],
    orders: Sequence[Order],
    strategies: list[str],
    symbols: list[str],
    bars: int,
    periods_per_year: float | None,
) -> BacktestReport:
    """Compute every figure of the report from the run's raw record."""
    curve = np.asarray(equity, dtype=np.float64)
    ppy = periods_per_year or _periods_per_year(times)
    final_equity = portfolio.equity(prices)
    total_return = final_equity / initial_cash - 1.0

    previous = np.concatenate(([initial_cash], curve[:-1]))
    returns = curve / previous - 1.0
    n_periods = len(returns)
    if n_periods and final_equity > 0:
        annualized = (final_equity / initial_cash) ** (ppy / n_periods) - 1.0
    else:
        annualized = -1.0 if final_equity <= 0 else 0.0
    std = float(returns.std(ddof=1)) if n_periods > 1 else 0.0
    mean = float(returns.mean()) if n_periods else 0.0
    sharpe = mean / std * math.sqrt(ppy) if std > 0 else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))) if n_periods else 0.0
    sortino = mean / downside * math.sqrt(ppy) if downside > 0 else 0.0
    peaks = np.maximum.accumulate(np.concatenate(([initial_cash], curve)))
    max_drawdown = float(np.max(1.0 - np.concatenate(([initial_cash], curve)) / peaks))

    pnls = np.array([t.pnl for t in trades], dtype=np.float64)
    wins = pnls[pnls > 0]
    losses = pnls[pnls < 0]
    win_rate = float(len(wins) / len(pnls)) if len(pnls) else 0.0
    if len(losses):
        profit_factor = float(wins.sum() / -losses.sum())
    else:
        profit_factor = math.inf if len(wins) else 0.0

    exposure = np.asarray(gross_exposure, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(curve > 0, exposure / curve, 0.0)
    denials = Counter(d.reason_code.name for d in decisions if not d.approved)
    return BacktestReport(
        strategies=strategies,
        symbols=symbols,
        bars=bars,
        start_ms=int(times[0]) if times else 0,
        end_ms=int(times[-1]) if times else 0,
        initial_cash=initial_cash,
        final_equity=final_equity,
        realized_pnl=portfolio.realized_pnl,
        unrealized_pnl=portfolio.unrealized_pnl(prices),
        fees=portfolio.fees,
        total_return=total_return,
        annualized_return=annualized,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=max_drawdown,
        trades=len(pnls),
        win_rate=win_rate,
        profit_factor=profit_factor,
        time_in_market=float(np.mean(exposure > 0)) if len(exposure) else 0.0,
        average_exposure=float(np.mean(ratio)) if len(ratio) else 0.0,
        signals=signals,
        orders_by_status=dict(Counter(o.status.name for o in orders)),
        risk_denials=dict(denials),
        periods_per_year=ppy,
        equity_curve=list(zip((int(t) for t in times), curve.tolist(), strict=True)),
        trade_list=[_json_safe(t) for t in trades],
    )
