"""A real ``supreme serve --venue ccxt:binance`` process against the fake Binance, killed with
SIGKILL between the journal write of an order and the venue's acknowledgement, then started
again: reconciliation finds the order and the fills it made while the gateway was dead.

The gateway runs in its own process group with its own local Ray, so ``killpg`` takes the
gateway, Ray and every actor down at once, as a crashed host would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from supreme.client import SupremeClient, UnavailableError
from supreme.core.model import Bar
from tests.fakes.binance import FakeBinance, binance_config

pytestmark = pytest.mark.integration

SYMBOL = "BTC/USDT"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GatewayProcess:
    def __init__(self, tmp: Path, fake: FakeBinance) -> None:
        self.tmp = tmp
        self.port = free_port()
        (tmp / "api_key").write_text(fake.api_key + "\n")
        (tmp / "secret").write_text(fake.secret + "\n")
        # ccxt may wait long for an answer: the test, not a client timeout, ends the wait.
        (tmp / "venue.json").write_text(json.dumps(binance_config(fake, timeout=120_000)))
        self.proc: subprocess.Popen | None = None
        self.log = tmp / "gateway.log"

    def start(self) -> SupremeClient:
        env = {
            **os.environ,
            "SUPREME_BINANCE_API_KEY_FILE": str(self.tmp / "api_key"),
            "SUPREME_BINANCE_SECRET_FILE": str(self.tmp / "secret"),
        }
        env.pop("RAY_ADDRESS", None)
        command = [
            str(Path(sys.executable).parent / "supreme"),
            "serve",
            "--port",
            str(self.port),
            "--metrics-port",
            "-1",
            "--feed",
            "none",
            "--symbols",
            SYMBOL,
            "--shards",
            "1",
            "--venue",
            "ccxt:binance",
            "--venue-options",
            str(self.tmp / "venue.json"),
            "--venue-tracking",
            "poll",
            "--venue-poll",
            "0.2",
            "--state-dir",
            str(self.tmp / "state"),
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        client = SupremeClient.connect(f"127.0.0.1:{self.port}", timeout=10)
        client.wait_until_ready(timeout=90)
        return client

    def wait_health(self, client: SupremeClient, status: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                seen.append(client.health())
            except Exception as exc:
                seen.append(type(exc).__name__)
            if seen[-1] == status:
                return
            assert time.monotonic() < deadline, f"not {status} {sorted(set(seen))}"
            time.sleep(0.1)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        if self.proc is not None:
            # Whatever of Ray outlived its driver (processes in the group), gone too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture
def fake():
    with FakeBinance(trade_interval="1s", max_fill_per_candle="0.01") as server:
        server.fund("USDT", 100_000)
        yield server


def test_kill_9_between_journal_and_ack_then_reconciliation_finds_order_and_fills(fake, tmp_path):
    gateway = GatewayProcess(tmp_path, fake)
    try:
        client = gateway.start()
        gateway.wait_health(client, "SERVING")
        price = float(fake.price("BTCUSDT"))
        now = int(time.time() * 1000)
        published = client.publish_bars([Bar(SYMBOL, now - 60_000, price, price, price, price, 1)])
        assert published.accepted == 1, published
        # Market data reaches risk through the router within its 50 ms linger; a manual order
        # does not queue behind it, so give the mark a moment before ordering.
        time.sleep(1.0)
        limit = round(price * 1.01, 2)
        # The venue takes the order at once but its answer never reaches this gateway.
        fake.delay_next("/api/v3/order", 600, method="POST")
        submit = threading.Thread(
            target=lambda: _swallow(
                client.submit_order,
                SYMBOL,
                "BUY",
                0.03,
                order_type="LIMIT",
                limit_price=limit,
                client_order_id="crash-1",
            ),
            daemon=True,
        )
        submit.start()
        deadline = time.monotonic() + 30
        while not fake.orders():
            assert time.monotonic() < deadline, gateway.log.read_text()[-3000:]
            time.sleep(0.02)
        journal = tmp_path / "state" / "execution-ccxt-binance.sqlite"
        assert journal.exists()
        gateway.kill()
        client.close()
        # While the gateway is dead the venue keeps trading the order: 0.01 per candle.
        deadline = time.monotonic() + 15
        while (venue_order := fake.orders()[0]).status != "FILLED":
            assert time.monotonic() < deadline, venue_order
            time.sleep(0.1)

        # Restart. The reconciliation's lookup of the order is held until the test has seen
        # the gateway stay NOT_SERVING and refuse orders meanwhile.
        held = threading.Event()
        fake.delay_next("/api/v3/order", 120, method="GET", release=held)
        client = gateway.start()
        try:
            gateway.wait_health(client, "NOT_SERVING", timeout=60)
            with pytest.raises(UnavailableError, match="not ready"):
                client.cancel_order("crash-1")
            time.sleep(1.5)  # a few health-watch rounds: still waiting for the venue
            assert client.health() == "NOT_SERVING"
        finally:
            held.set()
        gateway.wait_health(client, "SERVING", timeout=60)

        order = client.get_order("crash-1")
        assert order.status.value == "FILLED"
        assert order.filled_quantity == pytest.approx(0.03)
        assert order.venue_order_id == str(venue_order.order_id)
        trades = fake.trades("BTCUSDT")
        assert len(trades) == 3 and len(fake.orders()) == 1  # one order, never sent twice
        vwap = sum(float(t.qty) * float(t.price) for t in trades) / 0.03
        assert order.average_fill_price == pytest.approx(vwap)
        deadline = time.monotonic() + 15
        while True:
            positions = {p.symbol: p for p in client.positions()}
            if SYMBOL in positions and positions[SYMBOL].quantity >= 0.03 - 1e-9:
                break
            assert time.monotonic() < deadline, positions
            time.sleep(0.2)
        assert positions[SYMBOL].quantity == pytest.approx(0.03)
        assert positions[SYMBOL].average_price == pytest.approx(vwap)
        assert client.risk_state().state == "ACTIVE"  # the balances match the journal
        client.close()
    finally:
        gateway.stop()


def _swallow(call, *args, **kwargs) -> None:
    with contextlib.suppress(Exception):  # the gateway is killed under this call
        call(*args, **kwargs)
