"""Memory of the whole stack: the gateway process and every Ray process it started (gcs_server,
raylet, agents, actor workers, idle workers), after a full history has gone through it. Prints
one JSON line of figures (progress goes to stderr).

Set-up: ``supreme serve --feed none`` in a subprocess (``--shards``: the gateway's default
unless given); three SubscribeSignals streams (momentum, mean_reversion, breakout) over
``--symbols`` symbols, read by this process; ``--bars`` bars of each symbol (1M bars by default,
the shards' full 10,000-bar history) sent by a separate process through PublishBars in columnar
batches. When every expected signal has arrived (counted with ``generate_signals``), and after
``--settle`` seconds (and until the process tree stops changing), the PSS of every process of
the gateway's tree (``Pss`` of /proc/<pid>/smaps_rollup) is summed. The peak of that sum while
bars flow is sampled too.

Baseline: the same sum for the same stack idle, right after it reported SERVING (plus the
settle time), before any subscription or bar.

Each run starts a fresh stack. Figures are medians over ``--repeat`` runs; the per-process
breakdown is that of the median run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections import defaultdict

from _stack import (
    STRATEGIES,
    GatewayProcess,
    LoopThread,
    Publisher,
    SignalReader,
    expected_signals,
    log,
    tree_pss,
    wait_all,
    wait_settled,
)

from supreme.data.simulator import simulate_bars

TARGET_MB = 1228.8  # 1.2 GB


class PeakSampler(threading.Thread):
    """Samples the stack's total PSS every ``interval`` seconds until stopped."""

    def __init__(self, gateway: GatewayProcess, interval: float = 1.0) -> None:
        super().__init__(name="pss-sampler", daemon=True)
        self.gateway = gateway
        self.interval = interval
        self.peak_mb = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            total, _ = tree_pss(self.gateway)
            self.peak_mb = max(self.peak_mb, total)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)


def by_name(rows: list[dict]) -> dict[str, dict]:
    groups: dict[str, dict] = defaultdict(lambda: {"count": 0, "pss_mb": 0.0})
    for row in rows:
        groups[row["name"]]["count"] += 1
        groups[row["name"]]["pss_mb"] = round(groups[row["name"]]["pss_mb"] + row["pss_mb"], 1)
    return dict(sorted(groups.items(), key=lambda kv: -kv[1]["pss_mb"]))


def run_once(args: argparse.Namespace, seed: int) -> dict:
    symbols = [f"M-S{i:03d}" for i in range(args.symbols)]
    batch = simulate_bars(symbols, args.bars, seed=seed)
    expected = {s: len(expected_signals(batch, symbols, s)) for s in STRATEGIES}
    del batch
    with GatewayProcess(shards=args.shards or None) as gateway, LoopThread() as loop:
        wait_settled(gateway, args.settle)
        idle_mb, idle_rows = tree_pss(gateway)
        log(f"idle stack: {idle_mb:.0f} MB PSS in {len(idle_rows)} processes")
        readers: list[SignalReader] = []
        sampler = PeakSampler(gateway)
        try:
            for strategy in STRATEGIES:
                readers.append(
                    SignalReader(
                        loop, gateway.target, symbols, strategy, expected=expected[strategy]
                    )
                )
            with Publisher(gateway.target, symbols, args.bars, seed, args.batch_size) as pub:
                sampler.start()
                started = time.monotonic()
                pub.go()
                sent = pub.result(args.timeout)
                complete = wait_all(readers, args.timeout)
                elapsed = time.monotonic() - started
            log(
                f"published {sent['accepted']:,} bars, "
                f"{sum(r.count for r in readers):,}/{sum(expected.values()):,} signals "
                f"in {elapsed:.1f} s"
            )
            wait_settled(gateway, args.settle)
            loaded_mb, loaded_rows = tree_pss(gateway)
        finally:
            sampler.stop()
            for reader in readers:
                reader.cancel()
        log(f"loaded stack: {loaded_mb:.0f} MB PSS in {len(loaded_rows)} processes")
    return {
        "idle_mb": idle_mb,
        "loaded_mb": loaded_mb,
        "peak_mb": max(sampler.peak_mb, loaded_mb),
        "idle_rows": idle_rows,
        "loaded_rows": loaded_rows,
        "accepted": sent["accepted"],
        "rejected": sent["rejected"],
        "complete": complete,
        "stream_errors": [r.error for r in readers if r.error],
        "load_s": elapsed,
        "stray": gateway.stray,
        "startup_s": gateway.startup_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--bars", type=int, default=10_000, help="bars per symbol")
    parser.add_argument("--batch-size", type=int, default=5_000, help="rows per PublishBars msg")
    parser.add_argument("--shards", type=int, default=0, help="0: the gateway's default")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for the load")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    runs = []
    for i in range(args.repeat):
        log(f"run {i + 1}/{args.repeat}")
        runs.append(run_once(args, seed=i))
    median_run = sorted(runs, key=lambda r: r["loaded_mb"])[len(runs) // 2]
    total = statistics.median(r["loaded_mb"] for r in runs)
    idle = statistics.median(r["idle_mb"] for r in runs)
    figures = {
        "bench": "memory",
        "repeat": args.repeat,
        "symbols": args.symbols,
        "bars": args.symbols * args.bars,
        "shards": args.shards or "default",
        "total_pss_mb": total,
        "peak_pss_mb": statistics.median(r["peak_mb"] for r in runs),
        "baseline_idle_pss_mb": idle,
        "loaded_vs_idle_ratio": total / idle,
        "added_by_load_mb": total - idle,
        "processes": len(median_run["loaded_rows"]),
        "by_name": by_name(median_run["loaded_rows"]),
        "idle_by_name": by_name(median_run["idle_rows"]),
        "per_process": median_run["loaded_rows"],
        "all_signals_delivered": all(r["complete"] for r in runs),
        "rejected_bars": sum(r["rejected"] for r in runs),
        "stream_errors": [e for r in runs for e in r["stream_errors"]],
        "load_s": statistics.median(r["load_s"] for r in runs),
        "target_mb": TARGET_MB,
        "meets_target": total <= TARGET_MB,
        "gateway_startup_s": statistics.median(r["startup_s"] for r in runs),
        "stray_ray_processes": [s for r in runs for s in r["stray"]],
    }
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
