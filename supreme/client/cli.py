"""The ``supreme`` command line."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from supreme.core.errors import SupremeError

__all__ = ["main"]

# Runs at least this long (in bars) show a progress bar on stderr.
_PROGRESS_MIN_BARS = 50_000


class ProgressBar:
    """A one-line text progress bar, redrawn in place on a terminal."""

    def __init__(self, stream: TextIO, label: str = "backtest", width: int = 30) -> None:
        self._stream = stream
        self._label = label
        self._width = width
        self._started = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        share = done / total if total else 1.0
        filled = int(share * self._width)
        elapsed = time.perf_counter() - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        bar = "#" * filled + "-" * (self._width - filled)
        end = "\n" if done >= total else ""
        self._stream.write(
            f"\r{self._label} [{bar}] {share * 100:5.1f}% {done}/{total} bars {rate:,.0f} bars/s"
            + end
        )
        self._stream.flush()


def _parse_params(pairs: Sequence[str], strategies: Sequence[str]) -> dict[str, dict[str, float]]:
    """``k=v`` (one strategy) or ``strategy.k=v`` (any number) into per-strategy params."""
    params: dict[str, dict[str, float]] = {name: {} for name in strategies}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --param expects key=value, got {pair!r}")
        try:
            value = float(raw)
        except ValueError:
            raise SystemExit(f"error: --param {key} expects a number, got {raw!r}") from None
        name, dot, param = key.rpartition(".")
        if not dot:
            if len(strategies) != 1:
                raise SystemExit(
                    f"error: --param {pair!r} is ambiguous with several strategies; "
                    "write strategy.param=value"
                )
            name, param = strategies[0], key
        if name not in params:
            raise SystemExit(f"error: --param {pair!r} names strategy {name!r}, not being run")
        params[name][param] = value
    return params


def _cmd_backtest(args: argparse.Namespace) -> int:
    from supreme.core.backtest import BacktestConfig, StrategySpec, run_backtest
    from supreme.core.execution import PaperBrokerConfig
    from supreme.data.files import read_bars

    strategies = args.strategy or ["momentum"]
    params = _parse_params(args.param or [], strategies)
    bars = read_bars(args.data, symbol=args.symbol)
    config = BacktestConfig(
        initial_cash=args.cash,
        broker=PaperBrokerConfig(fee_bps=args.fee_bps, slippage_bps=args.slippage_bps),
    )
    specs = [StrategySpec(name, params[name]) for name in strategies]
    show_progress = not args.no_progress and (args.progress or len(bars) >= _PROGRESS_MIN_BARS)
    progress = ProgressBar(sys.stderr) if show_progress else None
    report = run_backtest(bars, specs, config, progress=progress)
    if args.plot:
        report.plot(args.plot)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print(report.summary())
        if args.plot:
            print(f"Equity curve   {args.plot}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from supreme.core.backtest import BacktestConfig, run_backtest
    from supreme.data.simulator import simulate_bars

    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    bars = simulate_bars(symbols, args.bars, seed=args.seed)
    print(
        f"Supreme demo: {args.bars} simulated hourly bars for {', '.join(symbols)} "
        f"(seed {args.seed}), paper broker, default risk limits.\n"
    )
    for name in ("momentum", "mean_reversion", "breakout"):
        started = time.perf_counter()
        report = run_backtest(bars, [name], BacktestConfig(initial_cash=args.cash))
        elapsed = time.perf_counter() - started
        print(f"== {name} ==  ({len(bars) / elapsed:,.0f} bars/s)")
        print(report.summary())
        error = report.accounting_error
        if not math.isclose(error, 0.0, abs_tol=1e-6 * args.cash):
            print(f"!! accounting does not close: off by {error}")
            return 1
        print()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supreme", description="Supreme: distributed algorithmic trading."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    bt = commands.add_parser("backtest", help="backtest strategies on a CSV or Parquet file")
    bt.add_argument("--data", required=True, help="CSV or Parquet file of OHLCV bars")
    bt.add_argument(
        "--strategy", action="append", help="strategy name (repeat for several); default momentum"
    )
    bt.add_argument(
        "--param", action="append", metavar="K=V", help="parameter (strategy.k=v with several)"
    )
    bt.add_argument("--symbol", help="symbol to use (filters a multi-symbol file)")
    bt.add_argument("--cash", type=float, default=100_000.0, help="initial cash")
    bt.add_argument("--fee-bps", type=float, default=1.0, help="paper broker fee, bps")
    bt.add_argument("--slippage-bps", type=float, default=1.0, help="paper broker slippage, bps")
    bt.add_argument("--json", action="store_true", help="print the report as JSON")
    bt.add_argument("--plot", metavar="PNG", help="write the equity curve to a PNG file")
    bt.add_argument("--progress", action="store_true", help="always show the progress bar")
    bt.add_argument("--no-progress", action="store_true", help="never show the progress bar")
    bt.set_defaults(handler=_cmd_backtest)

    demo = commands.add_parser("demo", help="backtest all strategies on simulated data")
    demo.add_argument("--symbols", default="BTC-USD,ETH-USD,SOL-USD")
    demo.add_argument("--bars", type=int, default=5_000, help="bars per symbol")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--cash", type=float, default=100_000.0)
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (SupremeError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
