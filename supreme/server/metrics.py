"""The gateway's Prometheus metrics (prometheus-client), served on ``--metrics-port`` at /metrics.

Names follow Prometheus conventions: ``_total`` counters, base units (seconds, ratios, the
account currency), and low-cardinality labels only (reason, strategy, status, outcome, breaker,
state, source; never an order id or a symbol). Each gateway has its own registry, so several
gateways in one process (the tests) do not collide.

=======================================  =========  =============================================
metric                                   type       what
=======================================  =========  =============================================
supreme_bars_received_total              counter    bars that reached the ingestor
supreme_bars_accepted_total              counter    bars that passed screening
supreme_bars_rejected_total{reason}      counter    INVALID, OUT_OF_ORDER, DUPLICATE
supreme_flush_bars                       histogram  bars per shard batch
supreme_shard_batch_seconds              histogram  a shard batch's round trip, sent to answered
supreme_bar_to_signal_seconds            histogram  a flush's oldest bar received to its signals
                                                    handed to subscribers
supreme_signals_total{strategy}          counter    signals produced
supreme_subscriptions_active             gauge      SubscribeSignals streams open
supreme_subscribers_cut_off_total        counter    streams ended for falling behind
supreme_orders_total{status}             counter    order updates, by the status they reached
supreme_risk_decisions_total             counter    risk decisions, by outcome (APPROVED,
{outcome,reason}                                    RESIZED, DENIED) and reason code
supreme_circuit_breaker_trips_total      counter    breaker trips, by breaker
{breaker}
supreme_trading_state{state}             gauge      1 for the current state, 0 for the others
supreme_equity, supreme_gross_exposure,  gauge      the account, in its currency
supreme_realized_pnl,
supreme_unrealized_pnl
supreme_drawdown_ratio                   gauge      drawdown from the equity peak (0.12 = 12%)
supreme_execution_latency_seconds        histogram  routing decisions through the execution actor
supreme_feed_lag_seconds{source}         gauge      wall clock minus the close of the newest bar
                                                    of a live feed
=======================================  =========  =============================================

The actors export their own through Ray's metrics agent (``ray.util.metrics``; Ray prefixes the
names with ``ray_``): ``supreme_shard_process_seconds`` and ``supreme_journal_write_seconds``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger("supreme.server.metrics")

__all__ = ["BREAKERS", "TRADING_STATES", "GatewayMetrics"]

TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")
BREAKERS = ("daily_loss", "consecutive_losses", "error_burst", "drawdown", "reconciliation")

# Sub-millisecond resolution where latency lives, up to a second for stalls.
_LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
_BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.bars_received = Counter(
            "supreme_bars_received", "Bars that reached the ingestor.", registry=r
        )
        self.bars_accepted = Counter(
            "supreme_bars_accepted", "Bars that passed screening.", registry=r
        )
        self.bars_rejected = Counter(
            "supreme_bars_rejected", "Bars refused, by reason.", ["reason"], registry=r
        )
        self.flush_bars = Histogram(
            "supreme_flush_bars", "Bars per shard batch.", buckets=_BATCH_BUCKETS, registry=r
        )
        self.shard_batch_seconds = Histogram(
            "supreme_shard_batch_seconds",
            "A shard batch's round trip, from sent to answered.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.bar_to_signal_seconds = Histogram(
            "supreme_bar_to_signal_seconds",
            "From a flush's oldest bar received to its signals handed to subscribers.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.signals = Counter(
            "supreme_signals", "Signals produced, by strategy.", ["strategy"], registry=r
        )
        self.subscriptions_active = Gauge(
            "supreme_subscriptions_active", "SubscribeSignals streams open.", registry=r
        )
        self.subscribers_cut_off = Counter(
            "supreme_subscribers_cut_off",
            "Signal streams ended because they fell behind.",
            registry=r,
        )
        self.orders = Counter(
            "supreme_orders", "Order updates, by the status reached.", ["status"], registry=r
        )
        self.risk_decisions = Counter(
            "supreme_risk_decisions",
            "Risk decisions, by outcome and reason code.",
            ["outcome", "reason"],
            registry=r,
        )
        self.breaker_trips = Counter(
            "supreme_circuit_breaker_trips", "Circuit-breaker trips.", ["breaker"], registry=r
        )
        self.trading_state = Gauge(
            "supreme_trading_state",
            "1 for the current trading state, 0 for the others.",
            ["state"],
            registry=r,
        )
        self.equity = Gauge("supreme_equity", "Account equity.", registry=r)
        self.drawdown = Gauge(
            "supreme_drawdown_ratio", "Drawdown from the equity peak (0.12 = 12%).", registry=r
        )
        self.gross_exposure = Gauge("supreme_gross_exposure", "Gross exposure.", registry=r)
        self.realized_pnl = Gauge("supreme_realized_pnl", "Realized PnL.", registry=r)
        self.unrealized_pnl = Gauge("supreme_unrealized_pnl", "Unrealized PnL.", registry=r)
        self.execution_latency = Histogram(
            "supreme_execution_latency_seconds",
            "Routing risk decisions through the execution actor.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.feed_lag = Gauge(
            "supreme_feed_lag_seconds",
            "Wall clock minus the close of the newest bar of a live feed.",
            ["source"],
            registry=r,
        )
        for state in TRADING_STATES:
            self.trading_state.labels(state).set(1 if state == "ACTIVE" else 0)
        # Known label values start at zero, so a query sees "none yet" rather than no series.
        for reason in ("INVALID", "OUT_OF_ORDER", "DUPLICATE"):
            self.bars_rejected.labels(reason)
        for breaker in BREAKERS:
            self.breaker_trips.labels(breaker)
        self._server: Any = None

    # -- serving ---------------------------------------------------------------------------------

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Serve /metrics on ``port`` (0: a free one); returns the bound port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        return int(server.server_address[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- feeding ---------------------------------------------------------------------------------

    def observe_risk_event(self, event: Mapping[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "DECISION":
            self.risk_decisions.labels(
                str(event.get("outcome", "")), str(event.get("reason_code", ""))
            ).inc()
        elif kind == "BREAKER_TRIPPED":
            breaker = str((event.get("details") or {}).get("breaker", "unknown"))
            self.breaker_trips.labels(breaker).inc()
        elif kind == "STATE_CHANGED":
            self.set_trading_state(str(event.get("outcome", "")))

    def set_trading_state(self, state: str) -> None:
        if state not in TRADING_STATES:
            return
        for name in TRADING_STATES:
            self.trading_state.labels(name).set(1 if name == state else 0)

    def set_account(self, status: Mapping[str, Any]) -> None:
        """From ``RiskActor.status()``: the trading state and the account figures."""
        self.set_trading_state(str(status.get("state", "")))
        for gauge, key in (
            (self.equity, "equity"),
            (self.drawdown, "drawdown"),
            (self.gross_exposure, "gross_exposure"),
            (self.realized_pnl, "realized_pnl"),
            (self.unrealized_pnl, "unrealized_pnl"),
        ):
            value = status.get(key)
            if isinstance(value, int | float):
                gauge.set(float(value))

    def feed_bars(self, source: str, newest_open_ms: int, timeframe_ms: int) -> None:
        lag = time.time() - (newest_open_ms + timeframe_ms) / 1000.0
        self.feed_lag.labels(source).set(max(0.0, lag))

    def timer(self, histogram: Histogram) -> Callable[[], None]:
        """Start timing; call the result to record the elapsed seconds."""
        started = time.perf_counter()
        return lambda: histogram.observe(time.perf_counter() - started)
