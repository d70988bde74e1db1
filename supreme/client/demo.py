"""``supreme demo``: the whole stack on embedded defaults, watched through the public API.

It starts a gateway in this process (a local Ray, the simulator feed, the paper broker) with
one trading instance of each built-in strategy, then shows the live view, which talks to the
gateway over gRPC exactly as any other client would.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import threading
from typing import Any

__all__ = ["add_demo_arguments", "run_demo"]

STRATEGIES = ("momentum", "mean_reversion", "breakout")


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    parser.add_argument("--port", type=int, default=50051, help="gRPC port (0: any free)")
    parser.add_argument("--rate", type=float, default=60.0, help="simulated bars/s, in all")
    parser.add_argument(
        "--symbols", default="BTC-USD,ETH-USD,SOL-USD", help="simulated symbols, comma separated"
    )
    parser.add_argument("--state-dir", default=None, help="default: a fresh temporary folder")
    parser.add_argument("--dashboard", action="store_true", help="start the Ray dashboard")
    parser.add_argument("--refresh", type=float, default=1.0, help="view refresh, seconds")


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="gateway", daemon=True)
        self._thread.start()

    def run(self, coro: Any, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def run_demo(args: argparse.Namespace) -> int:
    from supreme.client import SupremeClient
    from supreme.client.live_view import run_live_view
    from supreme.server.app import Gateway
    from supreme.server.config import GatewayConfig

    logging.basicConfig(level=logging.WARNING)
    symbols = tuple(s.strip() for s in args.symbols.split(",") if s.strip())
    state_dir = args.state_dir or tempfile.mkdtemp(prefix="supreme-demo-")
    config = GatewayConfig(
        port=args.port,
        feed="simulator",
        feed_symbols=symbols,
        feed_rate=args.rate,
        state_dir=state_dir,
        start_strategies=STRATEGIES,
        include_dashboard=args.dashboard,
    )
    print("Starting Supreme: a local Ray, the simulator feed and the paper broker...", flush=True)
    loop = _LoopThread()
    gateway = Gateway(config)
    try:
        port = loop.run(gateway.start(), timeout=120)
        target = f"127.0.0.1:{port}"
        print(
            f"Gateway on {target}; trading {', '.join(STRATEGIES)} on {', '.join(symbols)}.\n"
            f"State (journal, checkpoints): {state_dir}\n"
            "Authentication: OFF (loopback only; see `supreme tokens create` to turn it on)\n"
            + (
                f"Metrics: http://127.0.0.1:{gateway.metrics_port}/metrics\n"
                if gateway.metrics_port
                else ""
            )
            + f"Connect a second client, e.g.: supreme signals --target {target} "
            f"--symbol {symbols[0]} --strategy momentum\n"
            + (
                "Ray dashboard: http://127.0.0.1:8265\n"
                if args.dashboard
                else "Ray dashboard: run with --dashboard, then open http://127.0.0.1:8265\n"
            ),
            flush=True,
        )
        with SupremeClient.connect(target) as client:
            run_live_view(client, duration=args.duration, refresh=args.refresh)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nStopping: draining streams, journaling, shutting Ray down...", file=sys.stderr)
        try:
            loop.run(gateway.stop(grace=2.0), timeout=60)
        finally:
            loop.close()
    return 0
