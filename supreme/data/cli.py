"""``supreme data``: download bars into the local store, and list what it holds."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from supreme.core.errors import InvalidArgument
from supreme.data.feed import TIMEFRAMES, Feed

__all__ = ["add_data_command", "make_feed", "parse_time_ms"]

DEFAULT_DATA_DIR = os.environ.get("SUPREME_DATA_DIR", "data")


def parse_time_ms(text: str) -> int:
    """UTC ms from an ISO date or time (naive means UTC) or from an integer of ms."""
    import pandas as pd

    if text.lstrip("-").isdigit():
        return int(text)
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise InvalidArgument(f"cannot read {text!r} as a time: use 2024-01-31 or ms") from None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1_000_000)


def make_feed(source: str, **options: Any) -> Feed:
    """A feed from a source name: ``yahoo``, ``ccxt:<exchange id>``, ``simulator``, or
    ``file:<path>``. Options: ``adjusted`` (yahoo), ``sandbox`` (ccxt), ``rate`` and ``seed``
    (simulator), ``speed`` (file)."""
    if source == "yahoo":
        from supreme.data.yahoo import YahooFeed

        return YahooFeed(adjusted=bool(options.get("adjusted", False)))
    if source.startswith("ccxt:") and source[5:]:
        from supreme.data.ccxt_feed import CcxtFeed

        return CcxtFeed(source[5:], sandbox=bool(options.get("sandbox", False)))
    if source == "simulator":
        from supreme.data.simulator import SimulatorFeed

        return SimulatorFeed(rate=options.get("rate", 20.0), seed=options.get("seed", 0))
    if source.startswith(("file:", "csv:", "parquet:")):
        from supreme.data.files import FileFeed

        return FileFeed(source.split(":", 1)[1], speed=options.get("speed", 0.0))
    raise InvalidArgument(
        f"unknown source {source!r}: expected yahoo, ccxt:<exchange>, simulator or file:<path>"
    )


def add_data_command(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="download market data into the local store")
    verbs = data.add_subparsers(dest="data_command", required=True)

    get = verbs.add_parser(
        "download",
        help="fetch bars into <data-dir> as partitioned Parquet (only missing ranges)",
    )
    get.add_argument("--source", required=True, help="yahoo | ccxt:<exchange id, e.g. binance>")
    get.add_argument(
        "--symbol",
        action="append",
        required=True,
        help="symbol as the source spells it (AAPL, BTC-USD, BTC/USDT); repeat or comma-separate",
    )
    get.add_argument("--timeframe", default="1d", choices=list(TIMEFRAMES))
    get.add_argument("--start", required=True, help="UTC date or time (2024-01-01) or ms")
    get.add_argument("--end", default="now", help="UTC date or time, exclusive (default now)")
    get.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="store root ($SUPREME_DATA_DIR)")
    get.add_argument("--adjusted", action="store_true", help="yahoo: split/dividend adjusted")
    get.add_argument("--sandbox", action="store_true", help="ccxt: the venue's sandbox")
    get.add_argument("--json", action="store_true", help="print one JSON line per symbol")
    get.set_defaults(handler=_cmd_download)

    ls = verbs.add_parser("ls", help="list the stored symbols, timeframes and ranges")
    ls.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    ls.set_defaults(handler=_cmd_ls)


def _fmt(ms: int) -> str:
    import pandas as pd

    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M")


def _cmd_download(args: argparse.Namespace) -> int:
    import pandas as pd

    from supreme.data.store import BarStore, download

    symbols = [s.strip() for item in args.symbol for s in item.split(",") if s.strip()]
    start = parse_time_ms(args.start)
    end = (
        int(pd.Timestamp.now(tz="UTC").value // 1_000_000)
        if args.end == "now"
        else parse_time_ms(args.end)
    )
    if end <= start:
        raise InvalidArgument(f"--end ({args.end}) must be after --start ({args.start})")
    store = BarStore(args.data_dir)

    async def run() -> list[Any]:
        feed = make_feed(args.source, adjusted=args.adjusted, sandbox=args.sandbox)
        try:
            return [
                await download(feed, store, symbol, args.timeframe, start, end)
                for symbol in symbols
            ]
        finally:
            await feed.close()

    for result in asyncio.run(run()):
        if args.json:
            print(
                json.dumps(
                    {
                        "symbol": result.symbol,
                        "timeframe": result.timeframe,
                        "rows": result.rows,
                        "fetched": result.fetched,
                        "skipped": result.skipped,
                        "cleaning": result.report.to_dict(),
                    }
                )
            )
            continue
        fetched = ", ".join(f"{_fmt(a)} to {_fmt(b)}" for a, b in result.fetched) or "nothing"
        print(f"{result.symbol} {result.timeframe}: {result.rows} bars; fetched {fetched}")
        if result.skipped:
            print(f"  already stored: {len(result.skipped)} range(s), not fetched again")
        print(f"  cleaning: {result.report.summary()}")
    print(f"store: {store.root}", file=sys.stderr)
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    from supreme.data.store import BarStore

    rows = BarStore(args.data_dir).contents()
    if not rows:
        print(f"no data under {args.data_dir}")
    for row in rows:
        ranges = ", ".join(f"{_fmt(a)} to {_fmt(b)}" for a, b in row["ranges"]) or "-"
        print(f"{row['symbol']:<14} {row['timeframe']:<4} {row['files']:>3} file(s)  {ranges}")
    return 0
