"""Live execution end to end: the ExecutionActor with a CcxtBroker on ccxt's real ``binance``
client, pointed at the fake Binance (tests/fakes/binance) on loopback, and the RiskActor.

The fake runs on the real clock here (the actors live in other processes, so ccxt's clock is the
wall clock) with one-second candles, and fills at most 0.01 BTC per order and candle, so a
0.03 BTC order fills in three parts over about three seconds.
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import ray

from supreme.core.model import (
    Bar,
    BarBatch,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
)
from supreme.workers.execution import ExecutionActor
from supreme.workers.risk import RiskActor
from tests.fakes.binance import FakeBinance, binance_config

pytestmark = pytest.mark.integration

SYMBOL = "BTC/USDT"
CASH = 100_000.0


@pytest.fixture
def fake():
    with FakeBinance(trade_interval="1s", max_fill_per_candle="0.01") as server:
        server.fund("USDT", CASH)
        yield server


class Desk:
    """A RiskActor and an ExecutionActor on ``ccxt:binance`` (the fake), in their own namespace."""

    def __init__(self, fake: FakeBinance, state_dir: Path, *, secret: str | None = None) -> None:
        self.fake = fake
        self.state_dir = str(state_dir)
        self.namespace = f"live-{uuid.uuid4().hex[:8]}"
        self.secret = fake.secret if secret is None else secret
        self.risk = RiskActor.options(name="risk", namespace=self.namespace).remote(
            self.state_dir, initial_cash=CASH
        )
        self.execution = None

    def start_execution(self, **options):
        # Keys reach the actor as files, as from a secrets mount: values in a runtime_env
        # would be written to Ray's own logs.
        key_file = Path(self.state_dir) / "api_key"
        secret_file = Path(self.state_dir) / "secret"
        key_file.write_text(self.fake.api_key + "\n")
        secret_file.write_text(self.secret + "\n")
        env = {
            "SUPREME_BINANCE_API_KEY_FILE": str(key_file),
            "SUPREME_BINANCE_SECRET_FILE": str(secret_file),
        }
        self.execution = ExecutionActor.options(
            name="execution", namespace=self.namespace, runtime_env={"env_vars": env}
        ).remote(
            self.state_dir,
            venue="ccxt:binance",
            initial_cash=CASH,
            risk="risk",
            risk_namespace=self.namespace,
            venue_options=options.pop("venue_options", binance_config(self.fake)),
            symbols=[SYMBOL],
            poll_interval_s=0.2,
            unknown_fate_ms=1_500,
            streaming=False,
            **options,
        )
        return self.execution

    def wait_ready(self, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            answer = ray.get(self.execution.ping.remote())
            if answer["ready"]:
                return answer
            assert time.monotonic() < deadline, f"not ready: {answer['not_ready_reason']}"
            time.sleep(0.1)

    def stop_execution(self) -> None:
        ray.get(self.execution.close.remote())
        ray.kill(self.execution, no_restart=True)
        self.execution = None

    def mark(self) -> float:
        """Give risk the fake's current BTC price (risk sizes and bands against it)."""
        price = float(self.fake.price("BTCUSDT"))
        now = int(time.time() * 1000)
        bar = Bar(SYMBOL, now - 60_000, price, price, price, price, 1.0)
        ray.get(self.risk.on_bars.remote(BarBatch.from_bars([bar])))
        return price

    def order(self, intent: OrderIntent) -> Order:
        """Risk decides on ``intent``; execution routes the decision (as the gateway does)."""
        open_orders = ray.get(self.execution.open_orders.remote())
        decision = ray.get(self.risk.evaluate.remote(intent, open_orders))
        (order,) = ray.get(self.execution.route.remote([decision]))
        return order

    def wait_order(self, cid: str, status: OrderStatus, timeout: float = 20.0) -> Order:
        deadline = time.monotonic() + timeout
        while True:
            order = ray.get(self.execution.get.remote(cid))
            if order is not None and order.status is status:
                return order
            assert time.monotonic() < deadline, f"{cid} is {order and order.status}"
            time.sleep(0.1)

    def events(self) -> list[dict]:
        return ray.get(self.risk.drain_events.remote())

    def close(self) -> None:
        if self.execution is not None:
            self.stop_execution()
        ray.kill(self.risk, no_restart=True)


@pytest.fixture
def desk(ray_session, fake, tmp_path):
    made = Desk(fake, tmp_path)
    yield made
    made.close()


def intent(cid: str, quantity: float, **fields) -> OrderIntent:
    return OrderIntent(cid, SYMBOL, fields.pop("side", Side.BUY), quantity, **fields)


def test_partial_fills_reach_risk_with_positions_and_pnl(desk, fake):
    desk.start_execution()
    first = desk.wait_ready()
    assert first["reconciliation"]["baseline_set"] is True
    price = desk.mark()
    limit = round(price * 1.01, 2)  # marketable: fills 0.01 BTC per one-second candle
    placed = desk.order(intent("buy-1", 0.03, order_type=OrderType.LIMIT, limit_price=limit))
    assert placed.status in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)
    assert placed.venue_order_id is not None
    done = desk.wait_order("buy-1", OrderStatus.FILLED)
    fills = ray.get(desk.execution.fills.remote("buy-1"))
    assert [f.quantity for f in fills] == [0.01, 0.01, 0.01]
    assert done.filled_quantity == pytest.approx(0.03)
    (venue_order,) = fake.orders()
    assert venue_order.client_order_id == "buy-1" and venue_order.status == "FILLED"
    # Every fill reached risk: the position, the cash and the fees are the venue's.
    deadline = time.monotonic() + 10
    while (position := ray.get(desk.risk.positions.remote()).get(SYMBOL)) is None or (
        position.quantity < 0.03 - 1e-9
    ):
        assert time.monotonic() < deadline, position
        time.sleep(0.1)
    assert position.quantity == pytest.approx(0.03)
    # The first part traded at once at the market price, the rest at the limit as it rested.
    vwap = sum(f.quantity * f.price for f in fills) / sum(f.quantity for f in fills)
    assert fills[1].price == fills[2].price == limit and fills[0].price <= limit
    assert position.average_price == pytest.approx(vwap)
    portfolio, _ = ray.get(desk.risk.portfolio.remote())
    fees = sum(f.fee for f in fills)
    assert fees == pytest.approx(0.03 * vwap * 0.001)
    assert portfolio.cash == pytest.approx(CASH - 0.03 * vwap - fees)
    free_usdt, locked_usdt = fake.balance("USDT")
    assert float(free_usdt + locked_usdt) == pytest.approx(portfolio.cash, abs=1e-6)
    # The gateway hears of each change the venue reported by itself, in order.
    updates = ray.get(desk.execution.take_updates.remote())
    statuses = [order.status for order, fill in updates if fill is not None]
    assert statuses == [OrderStatus.PARTIALLY_FILLED] * 2 + [OrderStatus.FILLED]


def test_venue_minimums_deny_before_anything_is_sent(desk, fake):
    desk.start_execution()
    desk.wait_ready()
    desk.mark()
    tiny = desk.order(intent("tiny", 0.00001))  # ~0.4 USDT, under the 5 USDT minimum notional
    assert tiny.status is OrderStatus.DENIED and "notional" in tiny.reason.lower()
    assert fake.orders() == []


def test_cancel_releases_the_venue_balance(desk, fake):
    desk.start_execution()
    desk.wait_ready()
    price = desk.mark()
    low = round(price * 0.95, 2)  # rests: the path stays well above it
    placed = desk.order(intent("rest", 0.01, order_type=OrderType.LIMIT, limit_price=low))
    assert placed.status is OrderStatus.SUBMITTED
    assert fake.balance("USDT")[1] > 0
    canceled = ray.get(desk.execution.cancel.remote("rest"))
    assert canceled.status is OrderStatus.CANCELED
    assert [o.status for o in fake.orders()] == ["CANCELED"]
    assert fake.balance("USDT") == (Decimal(str(CASH)), Decimal(0))


def test_insufficient_balance_is_rejected_with_the_venue_reason(desk, fake):
    desk.start_execution()
    desk.wait_ready()
    price = desk.mark()
    limit = round(price * 1.001, 2)
    ray.get(desk.risk.update_limits.remote({"max_order_notional": 1e9}))
    # Risk allows it (its equity is the configured cash); the venue's balance does not.
    fake.fund("USDT", -(CASH - 100))
    order = desk.order(intent("broke", 0.02, order_type=OrderType.LIMIT, limit_price=limit))
    assert order.status is OrderStatus.REJECTED
    assert "insufficient balance" in order.reason
    assert fake.orders() == []
    status = ray.get(desk.risk.status.remote())
    assert status["breakers"]["error_burst"]["errors"]  # counted towards the error burst


def test_external_order_is_adopted_and_tracked(desk, fake):
    import asyncio

    import ccxt.async_support as ccxt_async

    price = float(fake.price("BTCUSDT"))

    async def place_by_hand() -> dict:
        exchange = ccxt_async.binance(
            {**binance_config(fake), "apiKey": fake.api_key, "secret": fake.secret}
        )
        try:
            return await exchange.create_order(
                SYMBOL, "limit", "buy", 0.01, round(price * 0.9, 2), {"clientOrderId": "by-hand"}
            )
        finally:
            await exchange.close()

    placed = asyncio.run(place_by_hand())
    desk.start_execution()
    answer = desk.wait_ready()
    (external,) = answer["reconciliation"]["external"]
    assert external["client_order_id"] == "by-hand"
    assert external["venue_order_id"] == placed["id"]
    adopted = ray.get(desk.execution.get.remote("by-hand"))
    assert adopted.strategy == "external" and adopted.status is OrderStatus.SUBMITTED
    events = desk.events()
    warnings = [e for e in events if e["reason_code"] == "EXTERNAL_ORDER"]
    assert len(warnings) == 1 and placed["id"] in warnings[0]["message"]
    assert ray.get(desk.risk.trading_state.remote()) == "ACTIVE"  # adopted, not a mismatch
    # Tracked: a cancel on the venue by someone else moves it.
    ray.get(desk.execution.cancel.remote("by-hand"))
    assert desk.wait_order("by-hand", OrderStatus.CANCELED).venue_order_id == placed["id"]


def test_balance_mismatch_holds_trading_at_reducing_until_acknowledged(desk, fake, tmp_path):
    desk.start_execution()
    desk.wait_ready()
    desk.stop_execution()
    assert ray.get(desk.risk.trading_state.remote()) == "ACTIVE"
    fake.fund("BTC", "0.5")  # a deposit the journal knows nothing of
    desk.start_execution()
    answer = desk.wait_ready()
    (mismatch,) = answer["reconciliation"]["mismatches"]
    assert mismatch["asset"] == "BTC" and mismatch["difference"] == pytest.approx(0.5)
    assert ray.get(desk.risk.trading_state.remote()) == "REDUCING"
    status = ray.get(desk.risk.status.remote())
    assert status["breakers"]["reconciliation"]["tripped"] is True
    assert any(e["reason_code"] == "RECONCILIATION_MISMATCH" for e in desk.events())
    # The admin looks, and acknowledges by resetting the breaker.
    assert ray.get(desk.risk.reset_breakers.remote(["reconciliation"])) == ["reconciliation"]
    assert ray.get(desk.risk.trading_state.remote()) == "ACTIVE"
    # The baseline moved: the next start finds nothing new.
    desk.stop_execution()
    desk.start_execution()
    assert desk.wait_ready()["reconciliation"]["mismatches"] == []
    assert ray.get(desk.risk.trading_state.remote()) == "ACTIVE"


def test_wrong_secret_is_a_clear_authentication_error_and_never_logged(ray_session, fake, tmp_path):
    wrong = f"wrong-secret-{uuid.uuid4().hex}"
    desk = Desk(fake, tmp_path, secret=wrong)
    try:
        desk.start_execution()
        deadline = time.monotonic() + 20
        while True:
            answer = ray.get(desk.execution.ping.remote())
            if "authentication" in answer["not_ready_reason"]:
                break
            assert time.monotonic() < deadline, answer
            time.sleep(0.1)
        assert answer["ready"] is False
        reason = answer["not_ready_reason"]
        assert "Signature for this request is not valid" in reason
        assert "SUPREME_BINANCE_SECRET" in reason and wrong not in reason
        with pytest.raises(ray.exceptions.RayTaskError, match="not ready"):
            ray.get(desk.execution.cancel.remote("anything"))
        # Risk approves; execution records the order as never sent, and sends nothing.
        desk.mark()
        refused = desk.order(intent("while-not-ready", 0.01))
        assert refused.status is OrderStatus.REJECTED and "not sent" in refused.reason
        assert ray.get(desk.execution.get.remote("while-not-ready")) == refused
        assert fake.orders() == []
        signed = [r for r in fake.requests if "signature" in r.params]
        assert signed and all(r.status == 400 for r in signed)  # every signed call refused
    finally:
        desk.close()
    logs = Path(ray._private.worker.global_worker.node.get_session_dir_path()) / "logs"
    read = [path for path in logs.rglob("*") if path.is_file()]
    assert any("worker" in path.name for path in read)
    for path in read:
        assert wrong not in path.read_text(errors="replace"), path


def test_submit_timing_out_after_the_venue_accepted_leaves_exactly_one_order(desk, fake):
    # ccxt gives up on a request after 1 s.
    execution = desk.start_execution(venue_options=binance_config(fake, timeout=1_000))
    desk.wait_ready()
    price = desk.mark()
    # Carried out at once, answered after the client has given up: a RequestTimeout.
    fake.delay_next("/api/v3/order", 3, method="POST")
    low = round(price * 0.97, 2)
    order = desk.order(intent("slow", 0.01, order_type=OrderType.LIMIT, limit_price=low))
    (venue_order,) = fake.orders()
    assert order.status is OrderStatus.SUBMITTED
    assert order.venue_order_id == str(venue_order.order_id)
    posts = [r for r in fake.requests if r.path == "/api/v3/order" and "side" in r.params]
    assert len(posts) == 1  # looked up by client order id, not sent again
    assert ray.get(execution.get.remote("slow")).status is OrderStatus.SUBMITTED
