"""The gateway's configuration: one frozen object, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass, field

from supreme.core.errors import InvalidArgument

__all__ = ["DEFAULT_SYMBOLS", "GatewayConfig"]

DEFAULT_SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD", "AAPL", "MSFT", "SPY")


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    host: str = "127.0.0.1"
    # 0 picks a free port (tests); the bound port is reported by Gateway.start().
    port: int = 50051
    # Prometheus /metrics (on `host`); 0 picks a free port, None turns the endpoint off.
    metrics_port: int | None = 9464
    # TLS: the server's certificate chain and key (PEM files); with `tls_client_ca`, clients
    # must present a certificate signed by that CA (mutual TLS).
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    # Bearer-token authentication: the token hashes (see supreme.server.auth); the
    # SUPREME_TOKENS environment variable adds more. Without tokens the gateway serves only on
    # loopback, unless insecure_no_auth says otherwise.
    tokens_file: str | None = None
    insecure_no_auth: bool = False
    # Per-token request budget: calls per second, and the burst allowed above it.
    rate_limit: float = 100.0
    rate_burst: float = 200.0
    # Health and reflection answer without a token (load balancers, grpcurl); False makes them
    # need a `read` token like everything else.
    open_health: bool = True
    # "simulator", "none", "csv:PATH" (CSV or Parquet, replayed at `feed_rate`), "file:PATH"
    # (files or a data store, replayed at `feed_speed` times their own pace), "yahoo" or
    # "ccxt:EXCHANGE" (live polling of `feed_symbols` at `feed_timeframe`).
    feed: str = "simulator"
    feed_symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    # Bars per second across all symbols for the simulator and file replay.
    feed_rate: float = 20.0
    feed_seed: int = 7
    feed_timeframe: str = "1m"
    feed_speed: float = 1.0
    ray_address: str | None = None
    # Ray namespace of this deployment's named actors; two gateways in one namespace share them.
    namespace: str = "supreme"
    include_dashboard: bool = False
    num_shards: int | None = None
    state_dir: str = ".supreme"
    # The hash-chained audit log (supreme.server.audit), relative to state_dir unless absolute;
    # None turns it off.
    audit_log: str | None = "audit.jsonl"
    initial_cash: float = 100_000.0
    # Where orders go: "paper" (simulated fills against the feed) or "ccxt:<exchange>" (a live
    # venue; credentials from SUPREME_<EXCHANGE>_API_KEY / _SECRET, or *_FILE).
    venue: str = "paper"
    # The venue's sandbox / testnet (ccxt's set_sandbox_mode).
    sandbox: bool = False
    # A JSON file of ccxt constructor options merged over the defaults (hostname, urls,
    # options such as recvWindow); for proxies, regional endpoints and test doubles.
    venue_options: str | None = None
    # How often a live venue's orders are polled for fills, cancels and expiries (seconds).
    venue_poll_s: float = 1.0
    # "auto": follow the venue's user-data stream where ccxt.pro has one, polling as the safety
    # net; "poll": REST polling only (networks that block websockets).
    venue_tracking: str = "auto"
    history_limit: int = 10_000
    # Micro-batching: a shard batch is flushed at this many bars or after this many ms.
    flush_max_bars: int = 4_096
    flush_interval_ms: float = 2.0
    # Flushes allowed in flight before publishers are slowed down (backpressure).
    max_inflight_flushes: int = 4
    # How bars reach the shards: "stream" (each shard's data-plane TCP stream, falling back to
    # Ray calls while it is down) or "ray" (actor calls only, for networks that block the
    # shards' ports). See supreme.workers.dataplane.
    shard_transport: str = "stream"
    # How long the trading router lets market data gather before it hands it to execution and
    # risk (a trading signal ends the wait at once).
    market_linger_ms: float = 50.0
    # Signals a subscriber may have queued before it is cut off with RESOURCE_EXHAUSTED.
    subscriber_queue_size: int = 10_000
    # Strategies started at boot as trading instances (name -> symbols; empty = feed symbols).
    start_strategies: tuple[str, ...] = field(default_factory=tuple)
    grace_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65_535:
            raise InvalidArgument(f"port must lie in [0, 65535], got {self.port}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65_535:
            raise InvalidArgument(f"metrics_port must lie in [0, 65535], got {self.metrics_port}")
        if not (
            self.feed in ("simulator", "none", "yahoo")
            or (
                self.feed.startswith(("csv:", "parquet:", "file:", "ccxt:"))
                and self.feed[-1] != ":"
            )
        ):
            raise InvalidArgument(
                "feed must be simulator, none, csv:PATH, file:PATH, yahoo or ccxt:EXCHANGE, "
                f"got {self.feed!r}"
            )
        from supreme.data.feed import timeframe_ms

        timeframe_ms(self.feed_timeframe)
        if self.feed_speed < 0:
            raise InvalidArgument(f"feed_speed must be >= 0 (0: no pacing), got {self.feed_speed}")
        if self.feed_rate <= 0:
            raise InvalidArgument(f"feed_rate must be > 0 bars/s, got {self.feed_rate}")
        if self.num_shards is not None and self.num_shards < 1:
            raise InvalidArgument(f"num_shards must be >= 1, got {self.num_shards}")
        if self.flush_max_bars < 1 or self.flush_interval_ms <= 0:
            raise InvalidArgument("flush_max_bars must be >= 1 and flush_interval_ms > 0")
        if not 0 <= self.market_linger_ms <= 1_000:
            raise InvalidArgument(
                f"market_linger_ms must lie in [0, 1000], got {self.market_linger_ms}"
            )
        if self.subscriber_queue_size < 1 or self.max_inflight_flushes < 1:
            raise InvalidArgument("subscriber_queue_size and max_inflight_flushes must be >= 1")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise InvalidArgument("tls_cert and tls_key go together: give both or neither")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise InvalidArgument("tls_client_ca (mutual TLS) needs tls_cert and tls_key")
        if self.shard_transport not in ("stream", "ray"):
            raise InvalidArgument(
                f"shard_transport must be stream or ray, got {self.shard_transport!r}"
            )
        from supreme.core.execution.venues import parse_venue

        parse_venue(self.venue)
        if self.sandbox and self.venue == "paper":
            raise InvalidArgument("sandbox applies to a ccxt venue, not to paper")
        if self.venue_tracking not in ("auto", "poll"):
            raise InvalidArgument(
                f"venue_tracking must be auto or poll, got {self.venue_tracking!r}"
            )
        if not self.venue_poll_s > 0:
            raise InvalidArgument(f"venue_poll_s must be > 0 seconds, got {self.venue_poll_s}")
        if not self.feed_symbols:
            raise InvalidArgument("feed_symbols must name at least one symbol")
