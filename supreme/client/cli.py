"""The ``supreme`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TextIO

from supreme.client.demo import add_demo_arguments, run_demo
from supreme.client.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    SupremeClientError,
    UnavailableError,
)
from supreme.core.errors import SupremeError
from supreme.data.cli import add_data_command
from supreme.server.cli import add_serve_command

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
    bars = read_bars(args.data, symbol=args.symbol, timeframe=args.timeframe)
    if args.remote:
        return _backtest_remote(args, strategies, params, bars)
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


def _backtest_remote(
    args: argparse.Namespace,
    strategies: list[str],
    params: dict[str, dict[str, float]],
    bars: Any,
) -> int:
    """``backtest --remote TARGET``: the same backtest, run by the server's workers."""
    from supreme.client.sdk import SupremeClient

    progress = None if args.no_progress else ProgressBar(sys.stderr, "remote backtest")
    token = args.token or os.environ.get("SUPREME_TOKEN") or None
    with SupremeClient.connect(args.remote, token=token) as client:
        data = client.run_backtest(
            [(name, params[name]) for name in strategies],
            bars=bars,
            initial_cash=args.cash,
            fee_bps=args.fee_bps,
            slippage_bps=args.slippage_bps,
            on_progress=progress,
        )
    report = _report_from_dict(data)
    if args.plot and report is not None:
        report.plot(args.plot)
    if args.json or report is None:
        _print_json(data)
    else:
        print(report.summary())
        if args.plot:
            print(f"Equity curve   {args.plot}")
    return 0


def _report_from_dict(data: dict[str, Any]) -> Any:
    """A BacktestReport from its dict form (for summary() and plot()), or None if the
    server's report lacks fields this version expects."""
    from supreme.core.backtest.report import BacktestReport

    values = {}
    for f in dataclasses.fields(BacktestReport):
        if f.name not in data:
            return None
        value = data[f.name]
        values[f.name] = math.nan if value is None and f.type == "float" else value
    values["equity_curve"] = [(int(t), float(e)) for t, e in values["equity_curve"]]
    try:
        return BacktestReport(**values)
    except (TypeError, ValueError):
        return None


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


# -- client commands: talk to a running server through the SDK ---------------------------------

DEFAULT_TARGET = "localhost:50051"
# Errors that say the request itself was wrong: exit status 2, as for bad command-line input.
_BAD_INPUT = (InvalidArgumentError, NotFoundError, AlreadyExistsError)


class _Usage(ValueError):
    """Bad command-line input found after parsing (exit status 2)."""


def _target(args: argparse.Namespace) -> str:
    return getattr(args, "target", None) or os.environ.get("SUPREME_TARGET") or DEFAULT_TARGET


def _describe(exc: SupremeClientError, args: argparse.Namespace) -> str:
    if isinstance(exc, UnavailableError):
        target = getattr(args, "remote", None) or _target(args)
        return f"cannot reach the Supreme server at {target}: {exc}"
    return str(exc)


def _connect(args: argparse.Namespace) -> Any:
    from supreme.client.sdk import SupremeClient

    timeout = getattr(args, "timeout", None)
    if timeout is not None and not timeout > 0:
        raise _Usage(f"--timeout must be > 0 seconds, got {timeout}")
    return SupremeClient.connect(
        _target(args),
        token=getattr(args, "token", None) or os.environ.get("SUPREME_TOKEN") or None,
        tls=True if getattr(args, "tls", False) else None,
        tls_ca=getattr(args, "tls_ca", None),
        tls_cert=getattr(args, "tls_cert", None),
        tls_key=getattr(args, "tls_key", None),
        timeout=timeout if timeout is not None else 10.0,
    )


def _wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def _params_for(pairs: Sequence[str] | None, strategy: str) -> dict[str, float]:
    """One strategy's ``--param k=v`` values, through the shared parser."""
    try:
        return _parse_params(pairs or [], [strategy])[strategy]
    except SystemExit as exc:
        raise _Usage(str(exc.code).removeprefix("error: ")) from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.name
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: _jsonable(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _print_json(value: Any) -> None:
    json.dump(_jsonable(value), sys.stdout, allow_nan=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _when(time_ms: int) -> str:
    if not time_ms:
        return "-"
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def _num(value: float) -> str:
    return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.2f}"


def _signal_text(signal: Any) -> str:
    return (
        f"{_when(signal.time_ms)}  {signal.symbol}  {signal.strategy}  "
        f"{signal.direction.name:<5}  strength {signal.strength:.2f}  price {signal.price:,.6g}"
    )


def _cmd_signals(args: argparse.Namespace) -> int:
    params = _params_for(args.param, args.strategy)
    if args.count is not None and args.count < 1:
        raise _Usage(f"--count must be >= 1, got {args.count}")
    as_json = _wants_json(args)
    received = 0
    with (
        _connect(args) as client,
        client.subscribe_signals(args.symbol, args.strategy, params) as stream,
    ):
        shown = ", ".join(f"{k}={v:g}" for k, v in sorted(stream.params.items()))
        print(
            f"subscribed {stream.subscription_id}: {args.strategy} on "
            f"{', '.join(stream.symbols or args.symbol)} ({shown or 'no params'})",
            file=sys.stderr,
        )
        try:
            for signal in stream:
                if as_json:
                    _print_json(signal)
                else:
                    print(_signal_text(signal), flush=True)
                received += 1
                if args.count is not None and received >= args.count:
                    break
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a subscription ends
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from supreme.data.files import read_bars

    if args.rate is not None and not args.rate > 0:
        raise _Usage(f"--rate must be > 0 bars per second, got {args.rate}")
    bars = read_bars(args.file, symbol=args.symbol)
    with _connect(args) as client:
        result = client.publish_bars(bars, batch_size=args.batch_size, rate=args.rate)
    if _wants_json(args):
        _print_json(result)
        return 0
    print(f"published {len(bars)} bars: {result.accepted} accepted, {result.rejected} rejected")
    for reason, count in sorted(result.rejected_by_reason.items()):
        print(f"  {reason}: {count}")
    for rejection in result.rejections[:10]:
        print(
            f"  row {rejection.index}: {rejection.symbol} at {_when(rejection.time_ms)}: "
            f"{rejection.reason}"
        )
    if len(result.rejections) > 10:
        print(f"  ... and {result.rejected - 10} more")
    return 0


def _order_rows(orders: Sequence[Any]) -> list[list[Any]]:
    rows = []
    for o in orders:
        price = o.limit_price if o.limit_price is not None else o.stop_price
        why = f"[{o.reason_code}] {o.reason}" if getattr(o, "reason_code", "") else o.reason
        rows.append(
            [
                _when(o.updated_ms or o.created_ms),
                o.client_order_id,
                o.symbol,
                o.side.name,
                _num(o.quantity),
                o.order_type.name + (f" {_num(price)}" if price is not None else ""),
                o.status.name,
                _num(o.filled_quantity),
                _num(o.average_fill_price) if o.filled_quantity else "-",
                o.strategy,
                why,
            ]
        )
    return rows


_ORDER_HEADERS = (
    "updated",
    "id",
    "symbol",
    "side",
    "qty",
    "type",
    "status",
    "filled",
    "avg",
    "strategy",
    "reason",
)


def _cmd_orders(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        orders = client.orders(
            status=args.status, symbol=args.symbol, open_only=args.open, limit=args.limit
        )
    if _wants_json(args):
        _print_json(orders)
    elif not orders:
        print("no orders")
    else:
        print(_table(_ORDER_HEADERS, _order_rows(orders)))
    return 0


def _cmd_submit(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        order = client.submit_order(
            args.symbol,
            args.side,
            args.quantity,
            order_type="LIMIT" if args.limit is not None else "STOP" if args.stop else "MARKET",
            limit_price=args.limit,
            stop_price=args.stop,
            time_in_force=args.tif,
            client_order_id=args.id,
            strategy=args.strategy,
            reduce_only=args.reduce_only,
        )
    if _wants_json(args):
        _print_json(order)
    else:
        print(_table(_ORDER_HEADERS, _order_rows([order])))
    # A denial is an answer, not a failure of the command; scripts can read the status.
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        order = client.cancel_order(args.id)
    if _wants_json(args):
        _print_json(order)
    else:
        print(_table(_ORDER_HEADERS, _order_rows([order])))
    return 0


def _position_rows(positions: Sequence[Any]) -> list[list[Any]]:
    return [
        [
            p.symbol,
            _num(p.quantity),
            _num(p.average_price),
            _num(p.market_price),
            f"{p.market_value:,.2f}",
            f"{p.unrealized_pnl:,.2f}",
            f"{p.realized_pnl:,.2f}",
        ]
        for p in positions
    ]


_POSITION_HEADERS = ("symbol", "qty", "avg price", "mark", "value", "unrealized", "realized")


def _cmd_positions(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        positions = client.positions()
    if _wants_json(args):
        _print_json(positions)
    elif not positions:
        print("no open positions")
    else:
        print(_table(_POSITION_HEADERS, _position_rows(positions)))
    return 0


def _cmd_portfolio(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        view = client.portfolio()
    if _wants_json(args):
        _print_json(view)
        return 0
    print(
        f"equity {view.equity:,.2f}  cash {view.cash:,.2f}  realized {view.realized_pnl:,.2f}  "
        f"unrealized {view.unrealized_pnl:,.2f}  fees {view.fees:,.2f}\n"
        f"gross exposure {view.gross_exposure:,.2f}  net exposure {view.net_exposure:,.2f}"
    )
    held = [p for p in view.positions if p.quantity]
    if held:
        print()
        print(_table(_POSITION_HEADERS, _position_rows(held)))
    return 0


def _print_risk(state: Any) -> None:
    print(
        f"state {state.state}  (manual {state.manual_state})\n"
        f"equity {state.equity:,.2f}  peak {state.peak_equity:,.2f}  "
        f"drawdown {state.drawdown:.2%}  day start {state.day_start_equity:,.2f}\n"
        f"gross exposure {state.gross_exposure:,.2f}  realized {state.realized_pnl:,.2f}  "
        f"unrealized {state.unrealized_pnl:,.2f}"
    )
    if state.breakers:
        print("\nbreakers")
        rows = [
            [
                b.name,
                "TRIPPED" if b.tripped else "ok",
                b.state if b.tripped else "",
                _when(b.tripped_ms) if b.tripped else "",
                _when(b.cooldown_until_ms) if b.cooldown_until_ms else "",
                b.reason,
            ]
            for b in state.breakers
        ]
        print(_table(("name", "status", "imposes", "since", "cool-down until", "reason"), rows))
    if state.limits:
        print("\nlimits")
        print(_table(("name", "value"), [[k, f"{v:g}"] for k, v in sorted(state.limits.items())]))


def _cmd_risk(args: argparse.Namespace) -> int:
    action = getattr(args, "risk_action", None)
    with _connect(args) as client:
        if action == "set-state":
            state = client.set_trading_state(args.state, reason=args.reason)
        elif action == "reset-breakers":
            reset = client.reset_circuit_breakers(args.names)
            if not _wants_json(args):
                print(f"reset: {', '.join(reset.reset) or 'none were tripped'}\n")
            state = reset.state
        elif action == "set-limits":
            limits = {}
            for pair in args.limits:
                name, sep, raw = pair.partition("=")
                try:
                    limits[name] = float(raw) if sep and name else None
                except ValueError:
                    limits[name] = None
                if limits[name] is None:
                    raise _Usage(f"limits are NAME=NUMBER, got {pair!r}")
            if not limits and not args.clear:
                raise _Usage("name at least one NAME=VALUE limit or --clear NAME")
            in_force = client.update_risk_limits(limits, clear=args.clear or ())
            if _wants_json(args):
                _print_json(in_force)
            else:
                print(
                    _table(("name", "value"), [[k, f"{v:g}"] for k, v in sorted(in_force.items())])
                )
            return 0
        else:
            state = client.risk_state()
    if _wants_json(args):
        _print_json(state)
    else:
        _print_risk(state)
    return 0


def _cmd_strategies(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        infos = client.list_strategies()
    if _wants_json(args):
        _print_json(infos)
        return 0
    for info in infos:
        print(f"{info.name}: {info.description}")
        for p in info.params:
            kind = "int" if p.integer else "float"
            bounds = f"[{p.low:g}, {p.high:g}]"
            print(f"    {p.name:<16} {kind:<5} default {p.default:g}  {bounds}  {p.doc}")
    return 0


def _instance_rows(instances: Sequence[Any]) -> list[list[Any]]:
    return [
        [
            i.instance_id,
            i.strategy,
            ",".join(i.symbols),
            " ".join(f"{k}={v:g}" for k, v in sorted(i.params.items())),
            _when(i.created_ms),
            i.signals,
            i.orders,
        ]
        for i in instances
    ]


_INSTANCE_HEADERS = ("id", "strategy", "symbols", "params", "started", "signals", "orders")


def _cmd_instances(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        instances = client.strategy_instances()
    if _wants_json(args):
        _print_json(instances)
    elif not instances:
        print("no strategy instances")
    else:
        print(_table(_INSTANCE_HEADERS, _instance_rows(instances)))
    return 0


def _cmd_start_strategy(args: argparse.Namespace) -> int:
    params = _params_for(args.param, args.name)
    with _connect(args) as client:
        instance = client.start_strategy(args.name, args.symbol, params, instance_id=args.id)
    if _wants_json(args):
        _print_json(instance)
    else:
        print(_table(_INSTANCE_HEADERS, _instance_rows([instance])))
    return 0


def _cmd_stop_strategy(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        instance = client.stop_strategy(args.id)
    if _wants_json(args):
        _print_json(instance)
    else:
        print(
            f"stopped {instance.instance_id} ({instance.strategy} on {','.join(instance.symbols)})"
        )
    return 0


def _cmd_health(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        status = client.health(args.service)
    if _wants_json(args):
        _print_json({"target": _target(args), "service": args.service, "status": status})
    else:
        print(status)
    return 0 if status == "SERVING" else 1


def _cmd_live(args: argparse.Namespace) -> int:
    from supreme.client.live_view import run_live_view

    if args.refresh <= 0:
        raise _Usage(f"--refresh must be > 0 seconds, got {args.refresh}")
    with _connect(args) as client:
        run_live_view(
            client,
            duration=args.duration,
            refresh=args.refresh,
            strategies=args.strategy,
            symbols=args.symbol,
        )
    return 0


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    from supreme.server.audit import verify

    result = verify(args.file)
    if result.ok:
        print(f"ok: {result.lines} lines, chain intact")
        return 0
    print(
        f"broken: line {result.first_bad_line}: {result.reason} "
        f"({result.lines} line(s) before it verify)"
    )
    return 1


def _add_audit_command(commands: Any) -> None:
    audit = commands.add_parser("audit", help="work with the gateway's audit log")
    actions = audit.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "verify", help="check an audit log's hash chain (exit 0: intact, 1: broken)"
    )
    p.add_argument("file", help="the audit log (state_dir/audit.jsonl)")
    p.set_defaults(handler=_cmd_audit_verify)


def _client_parser(
    commands: Any, name: str, handler: Callable[[argparse.Namespace], int], help: str
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help, description=help)
    _add_server_options(parser)
    parser.set_defaults(handler=handler)
    return parser


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: an option not given leaves no attribute, so a nested subcommand (risk
    # set-state) cannot overwrite one given before it; defaults are applied in _connect.
    group = parser.add_argument_group("server")
    group.add_argument(
        "--target",
        default=argparse.SUPPRESS,
        help=f"server address host:port (default $SUPREME_TARGET or {DEFAULT_TARGET})",
    )
    group.add_argument(
        "--token", default=argparse.SUPPRESS, help="bearer token (default $SUPREME_TOKEN)"
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="deadline of each call (default 10)",
    )
    group.add_argument(
        "--tls", action="store_true", default=argparse.SUPPRESS, help="use TLS (system roots)"
    )
    group.add_argument(
        "--tls-ca", default=argparse.SUPPRESS, metavar="PEM", help="use TLS with this CA file"
    )
    group.add_argument(
        "--tls-cert", default=argparse.SUPPRESS, metavar="PEM", help="mutual TLS: client cert"
    )
    group.add_argument(
        "--tls-key", default=argparse.SUPPRESS, metavar="PEM", help="mutual TLS: client key"
    )
    group.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")


def _add_client_commands(commands: Any) -> None:
    p = _client_parser(commands, "signals", _cmd_signals, "print a strategy's live signals")
    p.add_argument("--symbol", action="append", required=True, help="symbol (repeatable)")
    p.add_argument("--strategy", required=True, help="strategy name (see `supreme strategies`)")
    p.add_argument("--param", action="append", metavar="K=V", help="strategy parameter")
    p.add_argument("--count", type=int, help="stop after N signals (default: until Ctrl-C)")

    p = _client_parser(commands, "publish", _cmd_publish, "publish bars from a CSV/Parquet file")
    p.add_argument("file", help="CSV or Parquet file of OHLCV bars")
    p.add_argument("--symbol", help="symbol (filters a multi-symbol file, names a single one)")
    p.add_argument("--rate", type=float, metavar="BARS_PER_S", help="pace the publishing")
    p.add_argument("--batch-size", type=int, default=5000, help="bars per message")

    p = _client_parser(commands, "orders", _cmd_orders, "list recent orders")
    p.add_argument("--open", action="store_true", help="only open orders")
    p.add_argument("--status", help="only this status (FILLED, DENIED, ...)")
    p.add_argument("--symbol", help="only this symbol")
    p.add_argument("--limit", type=int, default=0, help="at most N most recent (default 1000)")

    p = _client_parser(commands, "submit", _cmd_submit, "submit an order (risk checks apply)")
    p.add_argument("side", help="BUY or SELL")
    p.add_argument("symbol")
    p.add_argument("quantity", type=float, nargs="?", help="omit to let risk size the order")
    p.add_argument("--limit", type=float, metavar="PRICE", help="limit price (LIMIT order)")
    p.add_argument("--stop", type=float, metavar="PRICE", help="stop price (STOP order)")
    p.add_argument("--tif", default="GTC", help="GTC, IOC, FOK or DAY")
    p.add_argument("--id", help="client order id (default: generated)")
    p.add_argument("--strategy", default="manual")
    p.add_argument("--reduce-only", action="store_true")

    p = _client_parser(commands, "cancel", _cmd_cancel, "cancel an order")
    p.add_argument("id", help="client order id")

    _client_parser(commands, "positions", _cmd_positions, "list open positions")
    _client_parser(commands, "portfolio", _cmd_portfolio, "show cash, equity, PnL and exposure")

    risk = _client_parser(commands, "risk", _cmd_risk, "show or change the risk state")
    actions = risk.add_subparsers(dest="risk_action", metavar="ACTION")
    p = actions.add_parser("set-state", help="set the manual trading state")
    _add_server_options(p)
    p.add_argument("state", type=str.upper, choices=["ACTIVE", "REDUCING", "HALTED"])
    p.add_argument("--reason", default="", help="why (recorded in the risk events)")
    p = actions.add_parser("reset-breakers", help="reset tripped circuit breakers")
    _add_server_options(p)
    p.add_argument("names", nargs="*", help="breakers to reset (default all)")
    p = actions.add_parser("set-limits", help="change risk limits")
    _add_server_options(p)
    p.add_argument("limits", nargs="*", metavar="NAME=VALUE")
    p.add_argument("--clear", action="append", metavar="NAME", help="unset an optional limit")

    _client_parser(commands, "strategies", _cmd_strategies, "list the strategies and params")
    _client_parser(commands, "instances", _cmd_instances, "list running strategy instances")

    p = _client_parser(
        commands, "start-strategy", _cmd_start_strategy, "start a trading strategy instance"
    )
    p.add_argument("name", help="strategy name")
    p.add_argument("--symbol", action="append", required=True, help="symbol (repeatable)")
    p.add_argument("--param", action="append", metavar="K=V", help="strategy parameter")
    p.add_argument("--id", help="instance id (default: chosen by the server)")

    p = _client_parser(commands, "stop-strategy", _cmd_stop_strategy, "stop a strategy instance")
    p.add_argument("id", help="instance id")

    p = _client_parser(commands, "health", _cmd_health, "check the server's health")
    p.add_argument("--service", default="", help="service name (default: the whole server)")

    p = _client_parser(commands, "live", _cmd_live, "live terminal view of the server")
    p.add_argument("--strategy", action="append", help="strategy to watch (default: instances)")
    p.add_argument("--symbol", action="append", help="symbol to watch (default: instances)")
    p.add_argument("--duration", type=float, help="stop after N seconds (default: Ctrl-C)")
    p.add_argument("--refresh", type=float, default=1.0, help="seconds between redraws")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supreme", description="Supreme: distributed algorithmic trading."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    bt = commands.add_parser("backtest", help="backtest strategies on a CSV or Parquet file")
    bt.add_argument(
        "--data", required=True, help="CSV or Parquet file of OHLCV bars, or a data store dir"
    )
    bt.add_argument(
        "--strategy", action="append", help="strategy name (repeat for several); default momentum"
    )
    bt.add_argument(
        "--param", action="append", metavar="K=V", help="parameter (strategy.k=v with several)"
    )
    bt.add_argument("--symbol", help="symbol to use (filters a multi-symbol file)")
    bt.add_argument("--timeframe", help="with a data store directory: which timeframe")
    bt.add_argument("--cash", type=float, default=100_000.0, help="initial cash")
    bt.add_argument("--fee-bps", type=float, default=1.0, help="paper broker fee, bps")
    bt.add_argument("--slippage-bps", type=float, default=1.0, help="paper broker slippage, bps")
    bt.add_argument("--json", action="store_true", help="print the report as JSON")
    bt.add_argument("--plot", metavar="PNG", help="write the equity curve to a PNG file")
    bt.add_argument("--progress", action="store_true", help="always show the progress bar")
    bt.add_argument("--no-progress", action="store_true", help="never show the progress bar")
    bt.add_argument(
        "--remote",
        metavar="TARGET",
        help="run on the Supreme server at TARGET (host:port) instead of locally",
    )
    bt.add_argument("--token", help="bearer token for --remote (default $SUPREME_TOKEN)")
    bt.set_defaults(handler=_cmd_backtest)

    demo = commands.add_parser(
        "demo", help="run the whole stack on embedded defaults and watch it live"
    )
    add_demo_arguments(demo)
    demo.set_defaults(handler=run_demo)

    offline = commands.add_parser(
        "demo-backtest", help="backtest all strategies on simulated data and print the reports"
    )
    offline.add_argument("--symbols", default="BTC-USD,ETH-USD,SOL-USD")
    offline.add_argument("--bars", type=int, default=5_000, help="bars per symbol")
    offline.add_argument("--seed", type=int, default=7)
    offline.add_argument("--cash", type=float, default=100_000.0)
    offline.set_defaults(handler=_cmd_demo)
    add_serve_command(commands)
    add_data_command(commands)
    certs = commands.add_parser("certs", help="TLS certificates for development")
    certs_verbs = certs.add_subparsers(dest="certs_command", required=True)
    dev = certs_verbs.add_parser(
        "dev", help="write a development CA, a server and a client certificate (not for production)"
    )
    dev.add_argument("--out", default="certs", help="directory to write them to")
    dev.add_argument(
        "--host",
        action="append",
        help="DNS name or IP the server certificate is for (repeatable; default localhost, "
        "127.0.0.1, ::1)",
    )
    dev.add_argument("--days", type=int, default=365)
    dev.set_defaults(handler=_cmd_certs_dev)
    tokens = commands.add_parser("tokens", help="API tokens for the gateway")
    tokens_verbs = tokens.add_subparsers(dest="tokens_command", required=True)
    create = tokens_verbs.add_parser("create", help="make a token; it is printed once")
    create.add_argument("--scope", required=True, choices=("read", "trade", "admin"))
    create.add_argument("--ttl", default=None, help="lifetime: 30d, 12h, 15m (default: none)")
    create.add_argument("--name", default="", help="a label for the token")
    create.add_argument(
        "--tokens-file",
        default=os.environ.get("SUPREME_TOKENS_FILE", "tokens.json"),
        help="where the gateway reads token hashes (created 0600)",
    )
    create.add_argument(
        "--bind-cert", metavar="PEM", help="accept the token only with this client certificate"
    )
    create.set_defaults(handler=_cmd_tokens_create)
    _add_client_commands(commands)
    _add_audit_command(commands)
    return parser


def _cmd_tokens_create(args: argparse.Namespace) -> int:
    from pathlib import Path

    from supreme.server.auth import TokenStore, create_token, parse_ttl

    ttl = parse_ttl(args.ttl) if args.ttl else None
    cert = Path(args.bind_cert).read_bytes() if args.bind_cert else None
    token, record = create_token(args.scope, ttl_s=ttl, name=args.name, cert_pem=cert)
    TokenStore.append(args.tokens_file, record)
    print(token)
    expiry = "never" if record.expires_ms is None else _fmt_ms(record.expires_ms)
    print(
        f"token {record.id} ({args.scope}, expires {expiry}) added to {args.tokens_file}; "
        "this is the only time it is shown",
        file=sys.stderr,
    )
    return 0


def _fmt_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _cmd_certs_dev(args: argparse.Namespace) -> int:
    from supreme.server.certs import DEFAULT_HOSTS, write_dev_certificates

    hosts = tuple(args.host) if args.host else DEFAULT_HOSTS
    paths = write_dev_certificates(args.out, hosts=hosts, days=args.days)
    print(f"wrote a development CA and certificates for {', '.join(hosts)} to {args.out}/")
    print(f"  serve:   supreme serve --tls-cert {paths.server_cert} --tls-key {paths.server_key}")
    print(f"           (mutual TLS: add --tls-client-ca {paths.ca})")
    print(
        f"  connect: supreme health --tls-ca {paths.ca}"
        f" [--tls-cert {paths.client_cert} --tls-key {paths.client_key}]"
    )
    print("  the CA key (ca.key) can mint trusted certificates: keep it out of production")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except SupremeClientError as exc:
        print(f"error: {_describe(exc, args)}", file=sys.stderr)
        return 2 if isinstance(exc, _BAD_INPUT) else 1
    except (SupremeError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`supreme signals | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
