"""``supreme serve``: the gateway's command-line options."""

from __future__ import annotations

import argparse
import asyncio
import os

from supreme.logs import setup_logging
from supreme.server.config import DEFAULT_SYMBOLS, GatewayConfig

__all__ = ["add_serve_command", "config_from_args"]


def add_serve_command(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    serve = commands.add_parser("serve", help="run the gateway (gRPC server + Ray driver)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    serve.add_argument("--port", type=int, default=50051, help="gRPC port (0 picks a free one)")
    serve.add_argument(
        "--metrics-port",
        type=int,
        default=9464,
        help="Prometheus /metrics port (0 picks a free one, -1 turns it off)",
    )
    serve.add_argument(
        "--feed",
        default="simulator",
        help="simulator | none | csv:PATH (replay at --rate) | file:PATH (replay at --speed) | "
        "yahoo | ccxt:EXCHANGE (live polling of --symbols at --timeframe)",
    )
    serve.add_argument("--timeframe", default="1m", help="bar timeframe of yahoo / ccxt feeds")
    serve.add_argument(
        "--speed", type=float, default=1.0, help="file: feed pace, x real time (0: no pacing)"
    )
    serve.add_argument(
        "--symbols", default=",".join(DEFAULT_SYMBOLS), help="feed symbols, comma separated"
    )
    serve.add_argument("--rate", type=float, default=20.0, help="feed bars per second, in all")
    serve.add_argument("--seed", type=int, default=7, help="simulator seed")
    serve.add_argument("--ray-address", default=os.environ.get("SUPREME_RAY_ADDRESS"))
    serve.add_argument("--shards", type=int, default=None, help="SymbolShard actors (def. CPUs)")
    serve.add_argument(
        "--tokens-file",
        default=os.environ.get("SUPREME_TOKENS_FILE"),
        help="token hashes (supreme tokens create); turns authentication on",
    )
    serve.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="allow a non-loopback --host without authentication (not for real money)",
    )
    serve.add_argument("--rate-limit", type=float, default=100.0, help="calls per second per token")
    serve.add_argument(
        "--closed-health",
        action="store_true",
        help="with tokens: health and reflection need a read token too",
    )
    serve.add_argument("--tls-cert", help="TLS: the server certificate chain (PEM)")
    serve.add_argument("--tls-key", help="TLS: the server's private key (PEM)")
    serve.add_argument(
        "--tls-client-ca", help="mutual TLS: accept only clients with a certificate from this CA"
    )
    serve.add_argument(
        "--shard-transport",
        choices=("stream", "ray"),
        default="stream",
        help="how bars reach the shards: their data-plane stream (default) or Ray calls only",
    )
    serve.add_argument("--state-dir", default=os.environ.get("SUPREME_STATE_DIR", ".supreme"))
    serve.add_argument("--cash", type=float, default=100_000.0, help="paper account cash")
    serve.add_argument(
        "--venue",
        default="paper",
        help="paper | ccxt:EXCHANGE (live trading; keys from SUPREME_<EXCHANGE>_API_KEY and "
        "_SECRET, or _FILE)",
    )
    serve.add_argument(
        "--sandbox", action="store_true", help="trade on the venue's sandbox / testnet"
    )
    serve.add_argument(
        "--venue-options", metavar="JSON_FILE", help="ccxt constructor options for the venue"
    )
    serve.add_argument(
        "--venue-poll", type=float, default=1.0, help="seconds between polls of live orders"
    )
    serve.add_argument(
        "--venue-tracking",
        choices=("auto", "poll"),
        default="auto",
        help="auto: the venue's user-data stream where ccxt has one, plus polling; poll: REST only",
    )
    serve.add_argument(
        "--start-strategy",
        action="append",
        default=[],
        metavar="NAME",
        help="start a trading instance of NAME on the feed symbols (repeatable)",
    )
    serve.add_argument("--dashboard", action="store_true", help="start the Ray dashboard (:8265)")
    serve.add_argument("--namespace", default="supreme", help="Ray namespace of the actors")
    serve.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    serve.add_argument("--log-level", default="INFO")
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=os.environ.get("SUPREME_LOG_FORMAT", "text"),
        help="json: one JSON object a line (for log collectors); actors follow",
    )
    serve.set_defaults(handler=run_serve)
    return serve


def config_from_args(args: argparse.Namespace) -> GatewayConfig:
    return GatewayConfig(
        host=args.host,
        port=args.port,
        metrics_port=None if args.metrics_port < 0 else args.metrics_port,
        feed=args.feed,
        feed_symbols=tuple(s.strip() for s in args.symbols.split(",") if s.strip()),
        feed_rate=args.rate,
        feed_seed=args.seed,
        feed_timeframe=args.timeframe,
        feed_speed=args.speed,
        ray_address=args.ray_address,
        num_shards=args.shards,
        shard_transport=args.shard_transport,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        tokens_file=args.tokens_file,
        insecure_no_auth=args.insecure_no_auth,
        rate_limit=args.rate_limit,
        rate_burst=max(2 * args.rate_limit, 1.0),
        open_health=not args.closed_health,
        state_dir=args.state_dir,
        initial_cash=args.cash,
        venue=args.venue,
        sandbox=args.sandbox,
        venue_options=args.venue_options,
        venue_poll_s=args.venue_poll,
        venue_tracking=args.venue_tracking,
        start_strategies=tuple(args.start_strategy),
        include_dashboard=args.dashboard,
        namespace=args.namespace,
    )


def run_serve(args: argparse.Namespace) -> int:
    from supreme.server.app import serve

    setup_logging(args.log_level, args.log_format)
    asyncio.run(serve(config_from_args(args), duration=args.duration))
    return 0
