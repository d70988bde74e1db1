"""The Grafana dashboards (grafana/dashboards/*.json) against real data.

The fast tests check the JSON: it parses, every panel and target uses the provisioned Prometheus
datasource (uid ``prometheus``), and every metric an expression names exists (the gateway's
registry, or one of the actors' metrics that Ray exports with a ``ray_`` prefix).

The slow test is the proof that every panel shows data: it starts Debian's ``prometheus``
binary scraping a real gateway (simulator feed, one trading instance per built-in strategy, so
there are signals, risk decisions, orders, fills and PnL) and Ray's metrics agent every second,
then evaluates every target expression of every panel through Prometheus' HTTP API and expects
each to answer with a non-empty result holding at least one number (not only NaN).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supreme.server.metrics import GatewayMetrics
from tests.integration.test_gateway import LoopThread, start_gateway

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}

# The actors' metrics, which Ray's metrics agent exports with a ``ray_`` prefix.
RAY_METRICS = ("supreme_shard_process_seconds", "supreme_journal_write_seconds")
# Grafana's interval variables, should a panel use them, and the window each stands for here.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "5s",
    "$__range": "5m",
}

SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD", "AAPL")
# Ray's metrics agent exports the actors' metrics every ~10 s: a rate over them needs two
# exports, so allow for a few after the gateway is up.
DATA_DEADLINE_S = 50.0


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold their panels


def expressions(path: Path) -> list[tuple[str, str]]:
    """``(where, expr)`` for every target of every panel, with Grafana variables replaced."""
    out = []
    for panel in panels(load(path)):
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, window in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, window)
            out.append((f"{path.stem} / {panel['title']} / {target['refId']}", expr))
    return out


def registry_names() -> set[str]:
    """Every series name the gateway's metrics can produce (suffixes included)."""
    suffixes = {
        "counter": ("_total",),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count"),
    }
    names = set()
    for family in GatewayMetrics().registry.collect():
        names.update(family.name + suffix for suffix in suffixes[family.type])
    return names


# -- the JSON ------------------------------------------------------------------------------------


def test_the_dashboards_exist() -> None:
    assert {p.stem for p in DASHBOARDS} == {"trading", "pipeline"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_json_is_well_formed(path: Path) -> None:
    board = load(path)
    assert board["uid"] and board["title"]
    assert 36 <= board["schemaVersion"] <= 41
    assert any("localhost:8265" in link.get("url", "") for link in board["links"]), (
        "a link to Ray's dashboard"
    )
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        title = panel["title"]
        assert panel["datasource"] == DATASOURCE, title
        assert panel["targets"], f"{title}: no targets"
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{title}: no unit"
        for target in panel["targets"]:
            assert target.get("datasource", DATASOURCE) == DATASOURCE, title
            assert target["expr"].strip(), title


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_metric_in_an_expression_exists(path: Path) -> None:
    known = registry_names()
    ray_known = {
        f"ray_{name}{suffix}" for name in RAY_METRICS for suffix in ("_bucket", "_sum", "_count")
    }
    workers = "".join(p.read_text() for p in (ROOT / "supreme" / "workers").glob("*.py"))
    for name in RAY_METRICS:  # the actors still define what the dashboards expect of them
        assert f'"{name}"' in workers, name
    unknown = []
    for where, expr in expressions(path):
        used = set(re.findall(r"\b(?:ray_)?supreme_[a-z0-9_]+", expr))
        assert used, f"{where}: no Supreme metric in {expr!r}"
        unknown += [f"{where}: {name}" for name in sorted(used - known - ray_known)]
    assert not unknown, "unknown metrics:\n" + "\n".join(unknown)


# -- the data ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, timeout: float = 5.0) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:  # Prometheus answers bad queries with 400 and JSON
        return json.loads(error.read())


def ray_metrics_target() -> str:
    import ray

    node = next(n for n in ray.nodes() if n["Alive"])
    return f"{node['NodeManagerAddress']}:{node['MetricsExportPort']}"


def start_prometheus(binary: str, workdir: Path, targets: dict[str, str], port: int):
    jobs = "".join(
        f"  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
        for job, target in targets.items()
    )
    config = workdir / "prometheus.yml"
    config.write_text(
        f"global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n{jobs}"
    )
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return process


def wait_ready(process: subprocess.Popen, base: str, log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"prometheus not ready after {timeout} s:\n{log.read_text()[-3000:]}")


def evaluate(base: str, expr: str) -> str | None:
    """None when ``expr`` has data (success, non-empty, some value not NaN); else what is wrong."""
    answer = get_json(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    if answer.get("status") != "success":
        return f"ERROR {answer.get('errorType')}: {answer.get('error')}"
    result = answer["data"]["result"]
    if not result:
        return "empty result"
    values = [float(series["value"][1]) for series in result]
    if all(math.isnan(value) for value in values):
        return f"only NaN ({len(values)} series)"
    return None


@pytest.mark.integration
def test_every_panel_has_data(ray_session, tmp_path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("no prometheus binary on PATH: install Debian's prometheus package")
    queries = [query for path in DASHBOARDS for query in expressions(path)]
    assert len(queries) > 20
    loop = LoopThread()
    gateway = None
    prometheus = None
    started = time.monotonic()
    try:
        gateway = start_gateway(
            loop,
            tmp_path / "state",
            f"{ray_session}-dashboards",
            feed="simulator",
            feed_rate=400.0,
            feed_symbols=SYMBOLS,
            start_strategies=("momentum", "mean_reversion", "breakout"),
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        targets = {"supreme": f"127.0.0.1:{gateway.metrics_port}", "ray": ray_metrics_target()}
        prometheus = start_prometheus(binary, tmp_path, targets, port)
        wait_ready(prometheus, base, tmp_path / "prometheus.log")

        # Poll until every expression has data: rates need two samples in their window, the
        # trading panels the first orders, the Ray panels two exports of the actors' metrics.
        deadline = time.monotonic() + DATA_DEADLINE_S
        while True:
            failures = {
                where: f"{expr}\n    -> {problem}"
                for where, expr in queries
                if (problem := evaluate(base, expr)) is not None
            }
            # A query Prometheus refuses will not heal: wait only for the ones without data.
            waiting = [f for f in failures.values() if "-> ERROR" not in f]
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        elapsed = time.monotonic() - started
        if failures:
            health = get_json(f"{base}/api/v1/targets")["data"]["activeTargets"]
            scrape = [f"{t['labels']['job']}: {t['health']} {t['lastError']}" for t in health]
            pytest.fail(
                f"{len(failures)} of {len(queries)} panel queries have no data after "
                f"{elapsed:.0f} s (scrapes: {'; '.join(scrape)}):\n"
                + "\n".join(f"- {where}: {failure}" for where, failure in failures.items())
            )
    finally:
        if prometheus is not None:
            prometheus.terminate()
            try:
                prometheus.wait(10)
            except subprocess.TimeoutExpired:
                prometheus.kill()
                prometheus.wait(5)
        if gateway is not None:
            loop.run(gateway.stop(grace=1.0))
        loop.close()
