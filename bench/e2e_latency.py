"""Publish-to-signal latency of the gateway at a steady, modest load. Prints one JSON line of
figures (progress goes to stderr).

Set-up: ``supreme serve --feed none`` in a subprocess (``--shards``, default 2); one
SubscribeSignals stream of ``mean_reversion`` with period=2, k=0.1 (about two bars in three
give a signal) over ``--symbols`` symbols; one PublishBars stream that sends one bar per message,
``--rate`` bars/s in all (symbols in turn), paced by a monotonic schedule, for ``--duration``
seconds. Writer and reader are grpc.aio calls on one event loop thread of this process, so
send and receive times come from one clock (CLOCK_MONOTONIC, as ``time.perf_counter_ns``): each
signal is matched to its bar by (symbol, time_ms), and latency is receive time minus the
time its bar was handed to gRPC.

Baseline: the round trip of a trivial unary RPC (ListStrategies) on the same server and loop.

Each run uses fresh symbols on the same gateway, after an unmeasured warm-up run. Figures are
medians over ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time

import grpc
import numpy as np
from _stack import (
    CHANNEL_OPTIONS,
    PUBLISH_METHOD,
    GatewayProcess,
    LoopThread,
    SignalReader,
    cpu_busy_note,
    cpu_seconds,
    cpu_share,
    expected_signals,
    log,
    now_ns,
)

from supreme._proto import market_data_pb2, strategy_pb2, strategy_pb2_grpc
from supreme.data.simulator import simulate_bars
from supreme.server.convert import columns_to_proto

STRATEGY = "mean_reversion"
PARAMS = {"period": 2.0, "k": 0.1}
TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    if not samples_ns:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }


async def unary_round_trips(target: str, calls: int) -> list[int]:
    async with grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
        stub = strategy_pb2_grpc.StrategyServiceStub(channel)
        request = strategy_pb2.ListStrategiesRequest()
        for _ in range(50):  # warm-up: connection, first-call paths
            await stub.ListStrategies(request)
        samples = []
        for _ in range(calls):
            started = now_ns()
            await stub.ListStrategies(request)
            samples.append(now_ns() - started)
        return samples


async def publish_paced(target: str, payloads: list[bytes], rate: float) -> dict:
    """One PublishBars stream, message k written at start + k / rate (never earlier)."""
    async with grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
        await channel.channel_ready()
        publish = channel.stream_unary(
            PUBLISH_METHOD,
            request_serializer=None,  # payloads are serialized already
            response_deserializer=market_data_pb2.PublishBarsResponse.FromString,
        )
        call = publish()
        sent_ns = [0] * len(payloads)
        interval_ns = int(1e9 / rate)
        start = now_ns()
        late = 0
        for k, payload in enumerate(payloads):
            due = start + k * interval_ns
            wait = due - now_ns()
            if wait > 0:
                await asyncio.sleep(wait / 1e9)
            now = now_ns()
            if now - due > 1_000_000:
                late += 1
            sent_ns[k] = now
            await call.write(payload)
        await call.done_writing()
        response = await call
        return {
            "sent_ns": sent_ns,
            "accepted": response.accepted,
            "rejected": response.rejected,
            "late_over_1ms": late,
        }


def run_once(
    loop: LoopThread,
    gateway: GatewayProcess,
    run: str,
    n_symbols: int,
    rate: float,
    duration: float,
    seed: int,
) -> dict:
    symbols = [f"{run}-S{i:03d}" for i in range(n_symbols)]
    per_symbol = max(1, round(rate * duration / n_symbols))
    batch = simulate_bars(symbols, per_symbol, seed=seed)
    expected = {(s.symbol, s.time_ms) for s in expected_signals(batch, symbols, STRATEGY, PARAMS)}
    payloads = [
        market_data_pb2.PublishBarsRequest(
            columns=columns_to_proto(batch.select(slice(k, k + 1)))
        ).SerializeToString()
        for k in range(len(batch))
    ]
    keys = list(zip(batch.symbol.tolist(), batch.time_ms.tolist(), strict=True))
    # The harness's own full collections (it holds every payload) would stall its reader and
    # writer and be charged to the gateway.
    gc.freeze()
    reader = SignalReader(
        loop, gateway.target, symbols, STRATEGY, PARAMS, expected=len(expected), record=True
    )
    try:
        before, started = cpu_seconds(gateway), time.monotonic()
        sent = loop.run(publish_paced(gateway.target, payloads, rate), timeout=duration * 3 + 60)
        cpu = cpu_share(before, cpu_seconds(gateway), time.monotonic() - started)
        reader.done.wait(10)  # the last signals are at most a few ms behind
    finally:
        reader.cancel()
    sent_at = dict(zip(keys, sent["sent_ns"], strict=True))
    latencies = [t - sent_at[key] for key, t in reader.arrivals.items() if key in sent_at]
    span_s = (sent["sent_ns"][-1] - sent["sent_ns"][0]) / 1e9
    return {
        "bars": len(batch),
        "accepted": sent["accepted"],
        "rejected": sent["rejected"],
        "achieved_rate": (len(batch) - 1) / span_s if span_s > 0 else float("nan"),
        "sends_late_over_1ms": sent["late_over_1ms"],
        "expected_signals": len(expected),
        "received_signals": reader.count,
        "matched": len(latencies),
        "missing": len(expected - reader.arrivals.keys()),
        "unexpected": len(reader.arrivals.keys() - expected),
        "stream_error": reader.error,
        "cpu_cores": cpu,
        **percentiles(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1_000.0, help="bars/s, all symbols")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per run")
    parser.add_argument("--shards", type=int, default=2, help="0: the gateway's default")
    parser.add_argument(
        "--shard-transport",
        choices=("stream", "ray"),
        default="stream",
        help="how the gateway reaches its shards (supreme serve --shard-transport)",
    )
    parser.add_argument("--baseline-calls", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    runs = []
    gateway = GatewayProcess(
        shards=args.shards or None, extra_args=["--shard-transport", args.shard_transport]
    )
    with gateway, LoopThread() as loop:
        log(f"baseline: ListStrategies round trips ({cpu_busy_note()})")
        baseline = percentiles(loop.run(unary_round_trips(gateway.target, args.baseline_calls)))
        log(f"baseline {baseline}")
        log("warm-up run (3 s)")
        run_once(loop, gateway, "W", args.symbols, args.rate, 3.0, 99)
        for i in range(args.repeat):
            log(f"run {i + 1}/{args.repeat}: {args.duration:.0f} s at {args.rate:.0f} bars/s")
            result = run_once(
                loop, gateway, f"L{i}", args.symbols, args.rate, args.duration, seed=i
            )
            runs.append(result)
            log(
                f"run {i + 1}/{args.repeat}: p50 {result['p50_ms']:.2f} ms, "
                f"p99 {result['p99_ms']:.2f} ms, max {result['max_ms']:.2f} ms over "
                f"{result['matched']} signals ({result['missing']} missing), "
                f"{result['achieved_rate']:.0f} bars/s sent; cpu {result['cpu_cores']}"
            )

    def med(name: str) -> float:
        return statistics.median(r[name] for r in runs)

    p50, p99 = med("p50_ms"), med("p99_ms")
    figures = {
        "bench": "e2e_latency",
        "repeat": args.repeat,
        "symbols": args.symbols,
        "rate_bars_per_s": args.rate,
        "duration_s": args.duration,
        "shards": args.shards or "default",
        "shard_transport": args.shard_transport,
        "strategy": f"{STRATEGY}(period=2,k=0.1)",
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": med("max_ms"),
        "signals_per_run": med("matched"),
        "missing_signals": sum(r["missing"] for r in runs),
        "unexpected_signals": sum(r["unexpected"] for r in runs),
        "rejected_bars": sum(r["rejected"] for r in runs),
        "stream_errors": [r["stream_error"] for r in runs if r["stream_error"]],
        "achieved_rate_bars_per_s": med("achieved_rate"),
        "sends_late_over_1ms": med("sends_late_over_1ms"),
        "gateway_cpu_cores": statistics.median(r["cpu_cores"].get("gateway", 0.0) for r in runs),
        "machine_cpu_cores": statistics.median(r["cpu_cores"].get("machine", 0.0) for r in runs),
        "baseline_unary_p50_ms": baseline["p50_ms"],
        "baseline_unary_p99_ms": baseline["p99_ms"],
        "p50_vs_unary_ratio": p50 / baseline["p50_ms"],
        "p99_vs_unary_ratio": p99 / baseline["p99_ms"],
        "target_p50_ms": TARGET_P50_MS,
        "target_p99_ms": TARGET_P99_MS,
        "meets_target": p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS,
        "gateway_startup_s": gateway.startup_s,
        "stray_ray_processes": gateway.stray,
    }
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
