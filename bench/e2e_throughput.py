"""End-to-end throughput of the gateway: bars/s from the first bar sent to the last signal
delivered. Prints one JSON line of figures (progress goes to stderr).

Set-up: ``supreme serve --feed none`` in a subprocess (``--shards``, default 2); three
SubscribeSignals streams (momentum, mean_reversion, breakout), each over all ``--symbols``
symbols and read by a thread of its own; the bars (``--symbols`` x ``--bars``, simulated) sent
by a separate process through PublishBars in columnar batches of ``--batch-size`` rows,
serialized before the clock starts. The expected signals are counted with
``generate_signals``; a run ends when every one has arrived (or at ``--timeout``).

Baseline: the same bars through ``ShardCore.process`` in this process, in batches of the
gateway's flush size, with the same three strategies attached (pure compute: no gRPC, no Ray).

Each run uses fresh symbols on the same gateway (a symbol's bars must be newer than the last
seen), after one unmeasured warm-up run. Figures are medians over ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import psutil
from _stack import (
    STRATEGIES,
    GatewayProcess,
    LoopThread,
    Publisher,
    SignalReader,
    cpu_busy_note,
    cpu_seconds,
    cpu_share,
    expected_signals,
    log,
    wait_all,
)

from supreme.core.shard import ShardCore, keys_for
from supreme.data.simulator import simulate_bars

TARGET_BARS_PER_S = 100_000
FLUSH_MAX_BARS = 4_096  # GatewayConfig.flush_max_bars: the batches a shard gets at full load


def symbols_for(run: str, n: int) -> list[str]:
    return [f"{run}-S{i:03d}" for i in range(n)]


def core_baseline(n_symbols: int, n_bars: int, seed: int) -> tuple[float, int]:
    """bars/s of ShardCore.process with the three strategies on every symbol; signals."""
    symbols = symbols_for("core", n_symbols)
    batch = simulate_bars(symbols, n_bars, seed=seed)
    core = ShardCore()
    for strategy in STRATEGIES:
        for key in keys_for(strategy, {}, symbols):
            core.attach(key)
    signals = 0
    started = time.perf_counter()
    for start in range(0, len(batch), FLUSH_MAX_BARS):
        signals += len(core.process(batch.select(slice(start, start + FLUSH_MAX_BARS))).signals)
    return len(batch) / (time.perf_counter() - started), signals


def run_once(
    loop: LoopThread,
    gateway: GatewayProcess,
    run: str,
    n_symbols: int,
    n_bars: int,
    batch_size: int,
    seed: int,
    timeout: float,
    max_batch: int = 0,
) -> dict:
    symbols = symbols_for(run, n_symbols)
    batch = simulate_bars(symbols, n_bars, seed=seed)
    expected = {s: len(expected_signals(batch, symbols, s)) for s in STRATEGIES}
    readers: list[SignalReader] = []
    try:
        for strategy in STRATEGIES:
            readers.append(
                SignalReader(
                    loop,
                    gateway.target,
                    symbols,
                    strategy,
                    expected=expected[strategy],
                    max_batch=max_batch,
                )
            )
        with Publisher(gateway.target, symbols, n_bars, seed, batch_size) as publisher:
            clients = [("client:readers", psutil.Process())]
            before = cpu_seconds(gateway, clients)
            publisher.go()
            sent = publisher.result(timeout)
            complete = wait_all(readers, timeout)
            after = cpu_seconds(gateway, clients)
        last_ns = max((r.last_ns for r in readers), default=0) or sent["end_ns"]
        wall_s = (max(last_ns, sent["end_ns"]) - sent["start_ns"]) / 1e9
        total_expected = sum(expected.values())
        received = {r.strategy: r.count for r in readers}
        cpu = cpu_share(before, after, wall_s)
        cpu["client:publisher"] = round(sent["cpu_s"] / wall_s, 2)
        return {
            "bars": len(batch),
            "accepted": sent["accepted"],
            "rejected": sent["rejected"],
            "complete": complete,
            "expected_signals": total_expected,
            "received_signals": sum(received.values()),
            "received_by_strategy": received,
            "stream_errors": [r.error for r in readers if r.error],
            "e2e_s": wall_s,
            "bars_per_s": len(batch) / wall_s,
            "signals_per_s": sum(received.values()) / wall_s,
            "publish_bars_per_s": len(batch) / ((sent["end_ns"] - sent["start_ns"]) / 1e9),
            "cpu_cores": cpu,
        }
    finally:
        for reader in readers:
            reader.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--bars", type=int, default=2_000, help="bars per symbol")
    parser.add_argument("--batch-size", type=int, default=5_000, help="rows per PublishBars msg")
    parser.add_argument("--shards", type=int, default=2, help="0: the gateway's default")
    parser.add_argument(
        "--max-batch", type=int, default=1_000, help="signals per message (0: one each)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0, help="per run, seconds")
    args = parser.parse_args()

    log(f"baseline: ShardCore.process in-process ({cpu_busy_note()})")
    core = [core_baseline(args.symbols, args.bars, seed=i) for i in range(args.repeat)]
    core_bps = statistics.median(c[0] for c in core)
    log(f"baseline {core_bps:,.0f} bars/s, {core[0][1]} signals")

    runs = []
    with GatewayProcess(shards=args.shards or None) as gateway, LoopThread() as loop:
        log("warm-up run")
        run_once(
            loop, gateway, "W", args.symbols, 200, args.batch_size, 99, args.timeout, args.max_batch
        )
        for i in range(args.repeat):
            result = run_once(
                loop,
                gateway,
                f"R{i}",
                args.symbols,
                args.bars,
                args.batch_size,
                i,
                args.timeout,
                args.max_batch,
            )
            runs.append(result)
            log(
                f"run {i + 1}/{args.repeat}: {result['bars_per_s']:,.0f} bars/s e2e, "
                f"{result['publish_bars_per_s']:,.0f} bars/s accepted, "
                f"{result['received_signals']}/{result['expected_signals']} signals, "
                f"cpu {result['cpu_cores']}"
            )
    median_run = sorted(runs, key=lambda r: r["bars_per_s"])[len(runs) // 2]
    bars_per_s = statistics.median(r["bars_per_s"] for r in runs)
    figures = {
        "bench": "e2e_throughput",
        "repeat": args.repeat,
        "symbols": args.symbols,
        "bars": args.symbols * args.bars,
        "batch_size": args.batch_size,
        "shards": args.shards or "default",
        "max_batch": args.max_batch,
        "bars_per_s": bars_per_s,
        "signals_per_s": statistics.median(r["signals_per_s"] for r in runs),
        "publish_bars_per_s": statistics.median(r["publish_bars_per_s"] for r in runs),
        "e2e_s": statistics.median(r["e2e_s"] for r in runs),
        "signals_per_run": runs[0]["expected_signals"],
        "all_signals_delivered": all(r["complete"] for r in runs),
        "rejected_bars": sum(r["rejected"] for r in runs),
        "stream_errors": [e for r in runs for e in r["stream_errors"]],
        "baseline_core_bars_per_s": core_bps,
        "e2e_vs_core_ratio": bars_per_s / core_bps,
        "target_bars_per_s": TARGET_BARS_PER_S,
        "meets_target": bars_per_s >= TARGET_BARS_PER_S,
        "cpu_cores_median_run": median_run["cpu_cores"],
        "gateway_startup_s": gateway.startup_s,
        "stray_ray_processes": gateway.stray,
    }
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
