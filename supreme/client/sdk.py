"""The Supreme Python SDK: typed calls over the gRPC API, returning domain types.

:class:`SupremeClient` is synchronous (``grpc`` channel); :class:`AsyncSupremeClient` is its
asyncio twin (``grpc.aio``) with the same methods, awaited. Both take any channel (tests inject
a fake one); ``connect()`` is the convenience factory. Every call sends the token, when given,
as ``authorization: Bearer <token>`` metadata, and unary calls have a default timeout.

Nothing here returns a protobuf message: orders are :class:`~supreme.client.models.RemoteOrder`
(a domain ``Order`` plus the risk ``reason_code``), signals are domain ``Signal``, strategies
the registry's ``StrategyInfo``, bars a ``BarBatch``, and server state the views of
:mod:`supreme.client.models`. Every failure is a :class:`~supreme.client.errors.SupremeClientError`
subclass, during stream iteration too; checks the SDK makes before sending raise
:class:`~supreme.client.errors.InvalidArgumentError` as the server would.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from supreme._proto import (
    backtest_pb2,
    backtest_pb2_grpc,
    market_data_pb2,
    market_data_pb2_grpc,
    order_pb2,
    order_pb2_grpc,
    risk_pb2,
    risk_pb2_grpc,
    strategy_pb2,
    strategy_pb2_grpc,
)
from supreme.client.errors import (
    DeadlineExceededError,
    InternalError,
    InvalidArgumentError,
    SupremeClientError,
    UnavailableError,
    error_from_rpc,
)
from supreme.client.models import (
    BreakerReset,
    OrderUpdate,
    PortfolioView,
    PositionView,
    PublishResult,
    RemoteOrder,
    RiskStateView,
    StrategyInstanceInfo,
)
from supreme.core.model import Bar, BarBatch, OrderStatus, OrderType, Side, Signal, TimeInForce
from supreme.server import convert

__all__ = [
    "AUTHORIZATION_METADATA_KEY",
    "AsyncResponseStream",
    "AsyncSignalStream",
    "AsyncSupremeClient",
    "ResponseStream",
    "SignalStream",
    "SupremeClient",
    "new_client_order_id",
]

T = TypeVar("T")

AUTHORIZATION_METADATA_KEY = "authorization"
DEFAULT_TIMEOUT = 10.0
# Channel options the SDK sets unless the caller overrides them.
_DEFAULT_OPTIONS: dict[str, Any] = {
    "grpc.primary_user_agent": "supreme-python",
    # Backtest reports (with their trade list) and bar histories can exceed gRPC's 4 MiB default.
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
}


# Signals per message the SDK asks for; the stream still yields them one by one.
SIGNAL_BATCH = 1_000


def new_client_order_id() -> str:
    """A fresh client order id, as ``submit_order`` makes when none is given."""
    return f"sdk-{uuid.uuid4().hex}"


# -- channels ---------------------------------------------------------------------------------


def _credentials(
    tls: bool | grpc.ChannelCredentials | None,
    tls_ca: str | Path | None,
    tls_cert: str | Path | None = None,
    tls_key: str | Path | None = None,
) -> grpc.ChannelCredentials | None:
    """None for plaintext. ``tls=None`` means TLS exactly when a CA file or a client
    certificate is given. ``tls_cert`` and ``tls_key`` (PEM files) are the client's own
    certificate and key, for a server that requires mutual TLS."""
    if isinstance(tls, grpc.ChannelCredentials):
        return tls
    if (tls_cert is None) != (tls_key is None):
        raise InvalidArgumentError("tls_cert and tls_key go together: give both or neither")
    if tls is None:
        tls = tls_ca is not None or tls_cert is not None
    if not tls:
        if tls_ca is not None or tls_cert is not None:
            raise InvalidArgumentError("TLS files were given but tls=False")
        return None

    def read(path: str | Path | None, what: str) -> bytes | None:
        if path is None:
            return None
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise InvalidArgumentError(f"cannot read the TLS {what} {path}: {exc}") from exc

    return grpc.ssl_channel_credentials(
        root_certificates=read(tls_ca, "CA file"),
        private_key=read(tls_key, "key"),
        certificate_chain=read(tls_cert, "certificate"),
    )


def _channel_options(options: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    merged = dict(_DEFAULT_OPTIONS)
    merged.update(dict(options))
    return list(merged.items())


def _auth_metadata(token: str | None) -> tuple[tuple[str, str], ...] | None:
    if token is None:
        return None
    token = token.strip()
    if not token:
        raise InvalidArgumentError("token must not be empty (pass None for no token)")
    return ((AUTHORIZATION_METADATA_KEY, f"Bearer {token}"),)


# -- requests: what both clients send ---------------------------------------------------------


def _enum(kind: type, value: Any, field: str) -> Any:
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind[value.strip().upper()]
        except KeyError:
            pass
    names = ", ".join(m.name for m in kind)
    raise InvalidArgumentError(f"{field} must be one of {names}; got {value!r}")


def _trading_state(value: Any) -> int:
    name = getattr(value, "name", value)
    if isinstance(name, str) and name.strip().upper() in convert.TRADING_STATE_TO_PROTO:
        return convert.TRADING_STATE_TO_PROTO[name.strip().upper()]
    names = ", ".join(convert.TRADING_STATE_TO_PROTO)
    raise InvalidArgumentError(f"state must be one of {names}; got {value!r}")


def _numbers(values: Mapping[str, Any] | None, field: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in (values or {}).items():
        if isinstance(value, bool):
            raise InvalidArgumentError(f"{field} {name} must be a number, got {value!r}")
        try:
            out[str(name)] = float(value)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"{field} {name} must be a number, got {value!r}") from None
    return out


def _names(values: str | Iterable[str] | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]


def _is_frame(value: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def _frame_batch(frame: Any) -> BarBatch:
    from supreme.data.files import frame_to_batch

    try:
        return frame_to_batch(frame)
    except ValueError as exc:
        raise InvalidArgumentError(f"bars: {exc}") from exc


def _as_batch(bars: Any) -> BarBatch:
    """Bars for one message: a BarBatch, a DataFrame or an iterable of Bar."""
    if isinstance(bars, BarBatch):
        return bars
    if _is_frame(bars):
        return _frame_batch(bars)
    chunks = list(_chunk_bars(iter(bars), sys.maxsize))
    return chunks[0] if chunks else BarBatch.empty()


def _chunk_bars(items: Iterator[Any], size: int) -> Iterator[BarBatch]:
    chunk: list[Bar] = []
    for n, bar in enumerate(items):
        if not isinstance(bar, Bar):
            raise InvalidArgumentError(
                f"bars must be Bar values, a BarBatch or a DataFrame; item {n} is "
                f"{type(bar).__name__}"
            )
        chunk.append(bar)
        if len(chunk) >= size:
            yield BarBatch.from_bars(chunk)
            chunk = []
    if chunk:
        yield BarBatch.from_bars(chunk)


def _bar_chunks(bars: Any, batch_size: int) -> Iterator[BarBatch]:
    """Bars in chunks of at most ``batch_size`` rows. A DataFrame is converted (and checked)
    at once; an iterable of Bar lazily, so a generator of bars streams."""
    if isinstance(bars, BarBatch) or _is_frame(bars):
        batch = bars if isinstance(bars, BarBatch) else _frame_batch(bars)
        return (
            batch.select(slice(start, start + batch_size))
            for start in range(0, len(batch), batch_size)
        )
    if isinstance(bars, str | bytes) or not isinstance(bars, Iterable):
        raise InvalidArgumentError(
            f"bars must be Bar values, a BarBatch or a DataFrame; got {type(bars).__name__}"
        )
    return _chunk_bars(iter(bars), batch_size)


def _publish_plan(bars: Any, batch_size: int, rate: float | None) -> Iterator[BarBatch]:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if rate is not None:
        if not rate > 0:
            raise InvalidArgumentError(f"rate must be > 0 bars per second, got {rate!r}")
        # About ten sends a second, so the pace is smooth.
        batch_size = max(1, min(batch_size, int(rate / 10)))
    return _bar_chunks(bars, batch_size)


class _PublishFeed:
    """The request stream of a publish. An exception while producing it (a bad item from the
    caller's iterable) ends the stream early and is kept, to be raised after the response:
    gRPC would otherwise swallow it into a bare CANCELLED."""

    def __init__(self, chunks: Iterator[BarBatch], rate: float | None) -> None:
        self._chunks = chunks
        self._rate = rate
        self.sent = 0
        self.error: BaseException | None = None
        self._started = time.monotonic()

    def _delay(self) -> float:
        if not self._rate:
            return 0.0
        return self._started + self.sent / self._rate - time.monotonic()

    def _next_request(self) -> market_data_pb2.PublishBarsRequest | None:
        try:
            chunk = next(self._chunks)
            return market_data_pb2.PublishBarsRequest(columns=convert.columns_to_proto(chunk))
        except StopIteration:
            return None
        except Exception as exc:  # kept and raised after the call
            self.error = exc
            return None

    def _count(self, request: market_data_pb2.PublishBarsRequest) -> None:
        self.sent += len(request.columns.time_unix_ms)

    def __iter__(self) -> Iterator[market_data_pb2.PublishBarsRequest]:
        while (request := self._next_request()) is not None:
            delay = self._delay()
            if delay > 0:
                time.sleep(delay)
            yield request
            self._count(request)

    async def aiter(self) -> AsyncIterator[market_data_pb2.PublishBarsRequest]:
        while (request := self._next_request()) is not None:
            delay = self._delay()
            if delay > 0:
                await asyncio.sleep(delay)
            yield request
            self._count(request)

    def result(self, response: market_data_pb2.PublishBarsResponse) -> PublishResult:
        result = _parse(convert.publish_result_from_proto, response)
        if self.error is not None:
            error = self.error
            message = (
                f"{error} (publishing stopped there: the {self.sent} bars before it were sent, "
                f"{result.accepted} accepted and {result.rejected} rejected)"
            )
            if isinstance(error, SupremeClientError):
                raise type(error)(message, error.code) from error
            raise InvalidArgumentError(message) from error
        return result


def _submit_request(
    symbol: str,
    side: Side | str,
    quantity: float | None,
    order_type: OrderType | str,
    limit_price: float | None,
    stop_price: float | None,
    time_in_force: TimeInForce | str,
    client_order_id: str | None,
    strategy: str,
    stop_loss: float | None,
    take_profit: float | None,
    reduce_only: bool,
) -> order_pb2.SubmitOrderRequest:
    if quantity is not None and not quantity > 0:
        raise InvalidArgumentError(
            f"quantity must be > 0, or None to let the risk engine size the order; got {quantity!r}"
        )
    request = order_pb2.SubmitOrderRequest(
        client_order_id=client_order_id or new_client_order_id(),
        symbol=symbol,
        side=convert.SIDE_TO_PROTO[_enum(Side, side, "side")],
        quantity=0.0 if quantity is None else float(quantity),
        order_type=convert.ORDER_TYPE_TO_PROTO[_enum(OrderType, order_type, "order_type")],
        time_in_force=convert.TIME_IN_FORCE_TO_PROTO[
            _enum(TimeInForce, time_in_force, "time_in_force")
        ],
        strategy=strategy,
        reduce_only=bool(reduce_only),
    )
    for name, value in (
        ("limit_price", limit_price),
        ("stop_price", stop_price),
        ("stop_loss", stop_loss),
        ("take_profit", take_profit),
    ):
        if value is not None:
            setattr(request, name, float(value))
    return request


def _list_orders_request(
    status: OrderStatus | str | None, symbol: str | None, open_only: bool, limit: int
) -> order_pb2.ListOrdersRequest:
    if limit < 0:
        raise InvalidArgumentError(
            f"limit must be >= 0 (0 means the server's default), got {limit}"
        )
    return order_pb2.ListOrdersRequest(
        status=(
            convert.ORDER_STATUS_TO_PROTO[_enum(OrderStatus, status, "status")]
            if status is not None
            else 0
        ),
        symbol=symbol or "",
        open_only=bool(open_only),
        limit=int(limit),
    )


def _strategy_spec(item: Any) -> backtest_pb2.BacktestStrategy:
    if isinstance(item, str):
        name, params, symbols = item, None, None
    elif isinstance(item, tuple | list) and 1 <= len(item) <= 3 and isinstance(item[0], str):
        name, params, symbols = (*item, None, None)[:3]
    else:
        raise InvalidArgumentError(
            f"each strategy must be a name, (name, params) or (name, params, symbols); got {item!r}"
        )
    return backtest_pb2.BacktestStrategy(
        name=name, params=_numbers(params, "param"), symbols=_names(symbols)
    )


def _backtest_request(
    strategies: str | Sequence[Any],
    bars: Any,
    simulated: Any,
    initial_cash: float | None,
    fee_bps: float | None,
    slippage_bps: float | None,
) -> backtest_pb2.RunBacktestRequest:
    items = [strategies] if isinstance(strategies, str) else list(strategies)
    if not items:
        raise InvalidArgumentError("strategies must name at least one strategy")
    request = backtest_pb2.RunBacktestRequest(strategies=[_strategy_spec(s) for s in items])
    if (bars is None) == (simulated is None):
        raise InvalidArgumentError("pass exactly one of bars= and simulated=")
    if bars is not None:
        request.bars.CopyFrom(convert.columns_to_proto(_as_batch(bars)))
    else:
        if isinstance(simulated, Mapping):
            symbols, n_bars, seed = simulated["symbols"], simulated["bars"], simulated.get("seed")
        elif isinstance(simulated, tuple | list) and len(simulated) in (2, 3):
            symbols, n_bars, seed = (*simulated, None)[:3]
        else:
            raise InvalidArgumentError(
                f"simulated must be (symbols, bars) or (symbols, bars, seed); got {simulated!r}"
            )
        request.simulated.CopyFrom(
            backtest_pb2.SimulatedData(
                symbols=_names(symbols), bars=int(n_bars), seed=int(seed or 0)
            )
        )
    if initial_cash is not None:
        request.initial_cash = float(initial_cash)
    if fee_bps is not None:
        request.fee_bps = float(fee_bps)
    if slippage_bps is not None:
        request.slippage_bps = float(slippage_bps)
    return request


# -- responses: what both clients read --------------------------------------------------------


def _parse(parse: Callable[[Any], T], message: Any) -> T:
    """Run a converter on a response; a response it cannot read is an InternalError."""
    try:
        return parse(message)
    except SupremeClientError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InternalError(f"unreadable response from the server: {exc}") from exc


def _order_of(response: Any) -> RemoteOrder:
    return convert.remote_order_from_proto(response.order)


def _orders_of(response: order_pb2.ListOrdersResponse) -> list[RemoteOrder]:
    return [convert.remote_order_from_proto(o) for o in response.orders]


def _positions_of(response: order_pb2.ListPositionsResponse) -> list[PositionView]:
    return [convert.position_view_from_proto(p) for p in response.positions]


def _portfolio_of(response: order_pb2.GetPortfolioResponse) -> PortfolioView:
    return convert.portfolio_view_from_proto(response.portfolio)


def _risk_state_of(response: Any) -> RiskStateView:
    return convert.risk_state_view_from_proto(response.state)


def _limits_of(response: risk_pb2.UpdateRiskLimitsResponse) -> dict[str, float]:
    return dict(response.limits)


def _reset_of(response: risk_pb2.ResetCircuitBreakersResponse) -> BreakerReset:
    return BreakerReset(list(response.reset), convert.risk_state_view_from_proto(response.state))


def _strategies_of(response: strategy_pb2.ListStrategiesResponse) -> list[Any]:
    return [convert.strategy_info_from_proto(s) for s in response.strategies]


def _instance_of(response: Any) -> StrategyInstanceInfo:
    return convert.strategy_instance_info_from_proto(response.instance)


def _instances_of(
    response: strategy_pb2.ListStrategyInstancesResponse,
) -> list[StrategyInstanceInfo]:
    return [convert.strategy_instance_info_from_proto(i) for i in response.instances]


def _bars_of(response: market_data_pb2.GetBarsResponse) -> BarBatch:
    return convert.columns_from_proto(response.bars)


def _health_of(response: health_pb2.HealthCheckResponse) -> str:
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def _signal_event(message: strategy_pb2.SubscribeSignalsResponse) -> Signal | list[Signal] | None:
    event = message.WhichOneof("event")
    if event == "signal":
        return convert.signal_from_proto(message.signal)
    if event == "signals":
        return [convert.signal_from_proto(s) for s in message.signals.signals]
    return None  # a repeated `started` (or an event this SDK does not know): skipped


def _order_update(message: order_pb2.StreamOrderUpdatesResponse) -> OrderUpdate:
    fill = convert.fill_from_proto(message.fill) if message.HasField("fill") else None
    return OrderUpdate(convert.remote_order_from_proto(message.order), fill)


def _risk_event(message: risk_pb2.StreamRiskEventsResponse) -> dict[str, Any]:
    return convert.risk_event_from_proto(message.event)


class _Started:
    """The ``started`` event of a signal subscription."""

    def __init__(self, message: strategy_pb2.SubscribeSignalsResponse) -> None:
        if message.WhichOneof("event") != "started":
            raise InternalError(
                "the server broke the SubscribeSignals contract: the first event must be "
                f"`started`, got {message.WhichOneof('event')!r}"
            )
        started = message.started
        self.subscription_id: str = started.subscription_id
        self.params: dict[str, float] = dict(started.params)
        self.symbols: list[str] = list(started.symbols)


class _BacktestRun:
    """Reads a RunBacktest stream: progress to the callback, then the report."""

    def __init__(self, on_progress: Callable[[int, int], None] | None) -> None:
        self._on_progress = on_progress
        self.report: dict[str, Any] | None = None

    def feed(self, message: backtest_pb2.RunBacktestResponse) -> None:
        kind = message.WhichOneof("event")
        if kind == "progress":
            if self._on_progress is not None:
                self._on_progress(int(message.progress.bars_done), int(message.progress.bars_total))
        elif kind == "report":
            self.report = _parse(convert.backtest_report_from_proto, message.report)

    def result(self) -> dict[str, Any]:
        if self.report is None:
            raise InternalError("the backtest stream ended without a report")
        return self.report


def _code(exc: BaseException) -> grpc.StatusCode | None:
    code = getattr(exc, "code", None)
    try:
        return code() if callable(code) else None
    except Exception:  # a half-built RpcError
        return None


class _Stream(Generic[T]):
    """What the sync and async streams share: the call, cancellation, and the unpacking of
    messages that carry several items (batched signals)."""

    def __init__(self, call: Any, parse: Callable[[Any], T | list[T] | None]) -> None:
        self._call = call
        self._parse = parse
        self._cancelled = False
        # Items of a batched message not handed out yet.
        self._pending: deque[T] = deque()

    def _take(self, message: Any) -> T | None:
        """The next item a message yields (queueing the rest of a batch), or None."""
        item = _parse(self._parse, message)
        if isinstance(item, list):
            self._pending.extend(item)
            return self._pending.popleft() if self._pending else None
        return item

    def cancel(self) -> None:
        self._cancelled = True
        self._call.cancel()

    close = cancel

    @property
    def cancelled(self) -> bool:
        return self._cancelled


# -- synchronous client -----------------------------------------------------------------------


class ResponseStream(_Stream[T]):
    """A server stream of domain values: iterate it; ``cancel()`` (or leave the ``with``
    block) to stop. Iteration ends after ``cancel()``; a failure of the stream raises the
    matching :class:`SupremeClientError` (e.g. ResourceExhaustedError for a cut-off subscriber).
    ``cancel()`` may be called from any thread."""

    def __iter__(self) -> ResponseStream[T]:
        return self

    def __next__(self) -> T:
        if self._pending:
            return self._pending.popleft()
        while True:
            try:
                message = next(self._call)
            except StopIteration:
                raise
            except grpc.RpcError as exc:
                if self._cancelled and _code(exc) is grpc.StatusCode.CANCELLED:
                    raise StopIteration from None
                raise error_from_rpc(exc) from exc
            item = self._take(message)
            if item is not None:
                return item

    def __enter__(self) -> ResponseStream[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()


class SignalStream(ResponseStream[Signal]):
    """A live signal subscription. When ``subscribe_signals`` returns it, the server has
    attached it everywhere (it sent ``started``): no bar processed from then on is missed.

    ``subscription_id``, ``params`` (every parameter in force, defaults included) and
    ``symbols`` come from the ``started`` event.
    """

    def __init__(self, call: Any, start_timeout: float | None) -> None:
        super().__init__(call, _signal_event)
        expired = threading.Event()
        timer = None
        if start_timeout is not None:

            def expire() -> None:
                expired.set()
                call.cancel()

            timer = threading.Timer(start_timeout, expire)
            timer.daemon = True
            timer.start()
        try:
            first = next(call)
        except StopIteration:
            raise InternalError("the signal stream ended before it started") from None
        except grpc.RpcError as exc:
            if expired.is_set():
                raise DeadlineExceededError(
                    f"the server did not confirm the subscription within {start_timeout} s"
                ) from exc
            raise error_from_rpc(exc) from exc
        except BaseException:
            call.cancel()
            raise
        finally:
            if timer is not None:
                timer.cancel()
        try:
            started = _Started(first)
        except InternalError:
            call.cancel()
            raise
        self.subscription_id = started.subscription_id
        self.params = started.params
        self.symbols = started.symbols


_DEFAULT: Any = object()


class _ClientBase:
    """The stubs and call settings both clients share; ``channel`` is sync or ``grpc.aio``."""

    def __init__(
        self,
        channel: Any,
        *,
        token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        close_channel: bool = False,
    ) -> None:
        self._channel = channel
        self._metadata = _auth_metadata(token)
        self.timeout = timeout
        self._close_channel = close_channel
        self._market = market_data_pb2_grpc.MarketDataServiceStub(channel)
        self._strategy = strategy_pb2_grpc.StrategyServiceStub(channel)
        self._orders = order_pb2_grpc.OrderServiceStub(channel)
        self._risk = risk_pb2_grpc.RiskServiceStub(channel)
        self._backtest = backtest_pb2_grpc.BacktestServiceStub(channel)
        self._health = health_pb2_grpc.HealthStub(channel)


class SupremeClient(_ClientBase):
    """Synchronous client. ``SupremeClient(channel)`` wraps any ``grpc.Channel`` (it is not
    closed by ``close()`` unless ``close_channel=True``); :meth:`connect` opens one.

    ``timeout`` is the default deadline, in seconds, of unary calls (None: no deadline).
    Streams (subscriptions, order updates, risk events, backtests, publishing) have none.
    """

    @classmethod
    def connect(
        cls,
        target: str,
        *,
        token: str | None = None,
        tls: bool | grpc.ChannelCredentials | None = None,
        tls_ca: str | Path | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        options: Iterable[tuple[str, Any]] = (),
    ) -> SupremeClient:
        """Open a channel to ``target`` ("host:port"). Plaintext unless ``tls`` is true or
        credentials, or ``tls_ca`` (a PEM file of root certificates) or a client certificate
        (``tls_cert`` and ``tls_key``, for mutual TLS) is given. The channel
        connects lazily: an unreachable server shows as UnavailableError on the first call
        (or use :meth:`wait_until_ready`)."""
        credentials = _credentials(tls, tls_ca, tls_cert, tls_key)
        opts = _channel_options(options)
        channel = (
            grpc.insecure_channel(target, options=opts)
            if credentials is None
            else grpc.secure_channel(target, credentials, options=opts)
        )
        return cls(channel, token=token, timeout=timeout, close_channel=True)

    @property
    def channel(self) -> grpc.Channel:
        return self._channel

    def close(self) -> None:
        if self._close_channel:
            self._channel.close()

    def __enter__(self) -> SupremeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def wait_until_ready(self, timeout: float | None = None) -> None:
        """Block until the channel is connected; UnavailableError after ``timeout`` seconds."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError as exc:
            raise UnavailableError(
                f"the server did not become reachable within {timeout} s"
            ) from exc

    # -- plumbing --------------------------------------------------------------------------

    def _unary(
        self, method: Any, request: Any, parse: Callable[[Any], T], timeout: Any = _DEFAULT
    ) -> T:
        try:
            response = method(
                request,
                timeout=self.timeout if timeout is _DEFAULT else timeout,
                metadata=self._metadata,
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc
        return _parse(parse, response)

    def _stream(self, method: Any, request: Any) -> Any:
        try:
            return method(request, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc

    # -- health and market data ----------------------------------------------------------------

    def health(self, service: str = "") -> str:
        """The gRPC health status of ``service`` ("" is the whole server): "SERVING",
        "NOT_SERVING", "UNKNOWN" or "SERVICE_UNKNOWN"."""
        request = health_pb2.HealthCheckRequest(service=service)
        return self._unary(self._health.Check, request, _health_of)

    def publish_bars(
        self,
        bars: Iterable[Bar] | BarBatch | Any,
        *,
        batch_size: int = 5000,
        rate: float | None = None,
    ) -> PublishResult:
        """Publish bars: Bar values (any iterable, a generator streams), a BarBatch or a
        DataFrame (read with :func:`supreme.data.files.frame_to_batch`, which sorts it by
        time). They go as columnar batches of at most ``batch_size`` rows; ``rate`` paces them
        to about that many bars per second. Invalid, out-of-order and duplicate bars are
        rejected one by one by the server, with reasons and stream positions."""
        feed = _PublishFeed(_publish_plan(bars, batch_size, rate), rate)
        future = None
        try:
            future = self._market.PublishBars.future(iter(feed), metadata=self._metadata)
            response = future.result()
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc
        except BaseException:
            if future is not None:
                future.cancel()
            raise
        return feed.result(response)

    def get_bars(self, symbol: str, limit: int = 0) -> BarBatch:
        """The latest bars of ``symbol`` the server keeps (``limit`` 0: all of them)."""
        request = market_data_pb2.GetBarsRequest(symbol=symbol, limit=limit)
        return self._unary(self._market.GetBars, request, _bars_of)

    # -- strategies ------------------------------------------------------------------------------

    def list_strategies(self) -> list[Any]:
        """Every strategy the server offers, as ``supreme.core.strategies.StrategyInfo``
        (name, description, params: tuple of ``Param`` with default and bounds)."""
        request = strategy_pb2.ListStrategiesRequest()
        return self._unary(self._strategy.ListStrategies, request, _strategies_of)

    def subscribe_signals(
        self,
        symbols: str | Iterable[str],
        strategy: str,
        params: Mapping[str, float] | None = None,
    ) -> SignalStream:
        """Subscribe to a strategy's signals on ``symbols``. Returns once the server confirmed
        the subscription (``started``), within the client's timeout. Iterate the stream for
        domain ``Signal`` values; a subscriber that falls too far behind is cut off with
        ResourceExhaustedError."""
        request = strategy_pb2.SubscribeSignalsRequest(
            symbols=_names(symbols),
            strategy=strategy,
            params=_numbers(params, "param"),
            max_batch=SIGNAL_BATCH,
        )
        return SignalStream(self._stream(self._strategy.SubscribeSignals, request), self.timeout)

    def start_strategy(
        self,
        strategy: str,
        symbols: str | Iterable[str],
        params: Mapping[str, float] | None = None,
        instance_id: str | None = None,
    ) -> StrategyInstanceInfo:
        """Start a trading instance: its signals become orders through risk and execution on
        the server, whether or not this client stays connected."""
        request = strategy_pb2.StartStrategyRequest(
            strategy=strategy,
            symbols=_names(symbols),
            params=_numbers(params, "param"),
            instance_id=instance_id or "",
        )
        return self._unary(self._strategy.StartStrategy, request, _instance_of)

    def stop_strategy(self, instance_id: str) -> StrategyInstanceInfo:
        request = strategy_pb2.StopStrategyRequest(instance_id=instance_id)
        return self._unary(self._strategy.StopStrategy, request, _instance_of)

    def strategy_instances(self) -> list[StrategyInstanceInfo]:
        request = strategy_pb2.ListStrategyInstancesRequest()
        return self._unary(self._strategy.ListStrategyInstances, request, _instances_of)

    # -- orders ----------------------------------------------------------------------------------

    def submit_order(
        self,
        symbol: str,
        side: Side | str,
        quantity: float | None = None,
        *,
        order_type: OrderType | str = OrderType.MARKET,
        limit_price: float | None = None,
        stop_price: float | None = None,
        time_in_force: TimeInForce | str = TimeInForce.GTC,
        client_order_id: str | None = None,
        strategy: str = "manual",
        stop_loss: float | None = None,
        take_profit: float | None = None,
        reduce_only: bool = False,
    ) -> RemoteOrder:
        """Submit an order; ``quantity=None`` lets the risk engine size it. Enums may be given
        by name ("BUY", "limit"). A risk denial is not an error: the order comes back with
        status DENIED, ``reason`` and ``reason_code``. Resubmitting a ``client_order_id``
        returns the existing order (a fresh id is generated when none is given)."""
        request = _submit_request(
            symbol,
            side,
            quantity,
            order_type,
            limit_price,
            stop_price,
            time_in_force,
            client_order_id,
            strategy,
            stop_loss,
            take_profit,
            reduce_only,
        )
        return self._unary(self._orders.SubmitOrder, request, _order_of)

    def cancel_order(self, client_order_id: str) -> RemoteOrder:
        request = order_pb2.CancelOrderRequest(client_order_id=client_order_id)
        return self._unary(self._orders.CancelOrder, request, _order_of)

    def get_order(self, client_order_id: str) -> RemoteOrder:
        request = order_pb2.GetOrderRequest(client_order_id=client_order_id)
        return self._unary(self._orders.GetOrder, request, _order_of)

    def orders(
        self,
        status: OrderStatus | str | None = None,
        symbol: str | None = None,
        open_only: bool = False,
        limit: int = 0,
    ) -> list[RemoteOrder]:
        """Recent orders, oldest first; ``limit`` 0 is the server's default (1000)."""
        request = _list_orders_request(status, symbol, open_only, limit)
        return self._unary(self._orders.ListOrders, request, _orders_of)

    def order_updates(
        self, symbols: str | Iterable[str] | None = None
    ) -> ResponseStream[OrderUpdate]:
        """A stream of :class:`OrderUpdate` (order, fill or None) for ``symbols`` (None: all)."""
        request = order_pb2.StreamOrderUpdatesRequest(symbols=_names(symbols))
        return ResponseStream(self._stream(self._orders.StreamOrderUpdates, request), _order_update)

    def positions(self) -> list[PositionView]:
        request = order_pb2.ListPositionsRequest()
        return self._unary(self._orders.ListPositions, request, _positions_of)

    def portfolio(self) -> PortfolioView:
        request = order_pb2.GetPortfolioRequest()
        return self._unary(self._orders.GetPortfolio, request, _portfolio_of)

    # -- risk -------------------------------------------------------------------------------------

    def risk_state(self) -> RiskStateView:
        request = risk_pb2.GetRiskStateRequest()
        return self._unary(self._risk.GetRiskState, request, _risk_state_of)

    def set_trading_state(self, state: str | Any, reason: str = "") -> RiskStateView:
        """Set the manual trading state: "ACTIVE", "REDUCING" or "HALTED" (or the risk
        engine's ``TradingState``). Returns the risk state after the change."""
        request = risk_pb2.SetTradingStateRequest(state=_trading_state(state), reason=reason)
        return self._unary(self._risk.SetTradingState, request, _risk_state_of)

    def update_risk_limits(
        self, limits: Mapping[str, float] | None = None, clear: str | Iterable[str] = ()
    ) -> dict[str, float]:
        """Change limits by name, and unset optional ones (``clear``). Returns every limit now
        in force. Unknown names are refused with InvalidArgumentError."""
        request = risk_pb2.UpdateRiskLimitsRequest(
            limits=_numbers(limits, "limit"), clear=_names(clear)
        )
        return self._unary(self._risk.UpdateRiskLimits, request, _limits_of)

    def reset_circuit_breakers(self, names: str | Iterable[str] = ()) -> BreakerReset:
        """Reset tripped breakers (all when ``names`` is empty)."""
        request = risk_pb2.ResetCircuitBreakersRequest(names=_names(names))
        return self._unary(self._risk.ResetCircuitBreakers, request, _reset_of)

    def risk_events(self) -> ResponseStream[dict[str, Any]]:
        """A stream of risk events as dicts: time_ms, kind, outcome, reason_code, message,
        details."""
        request = risk_pb2.StreamRiskEventsRequest()
        return ResponseStream(self._stream(self._risk.StreamRiskEvents, request), _risk_event)

    # -- backtests --------------------------------------------------------------------------------

    def run_backtest(
        self,
        strategies: str | Sequence[str | tuple[Any, ...]],
        *,
        bars: BarBatch | Iterable[Bar] | Any = None,
        simulated: tuple[Any, ...] | Mapping[str, Any] | None = None,
        initial_cash: float | None = None,
        fee_bps: float | None = None,
        slippage_bps: float | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Backtest on the server (a Ray worker). ``strategies``: names, ``(name, params)`` or
        ``(name, params, symbols)``. Data: ``bars`` (BarBatch, DataFrame or Bars, sent in one
        message) or ``simulated=(symbols, n_bars[, seed])``. Unset costs take the server's
        defaults (100000 cash, 1 bp fee, 1 bp slippage). ``on_progress(bars_done,
        bars_total)`` is called as the server reports progress.

        Returns the report as a dict (``BacktestReport.to_dict()``: figures, equity_curve as
        ``[time_ms, equity]`` pairs, trade_list, orders_by_status, risk_denials, ...)."""
        request = _backtest_request(
            strategies, bars, simulated, initial_cash, fee_bps, slippage_bps
        )
        run = _BacktestRun(on_progress)
        call = self._stream(self._backtest.RunBacktest, request)
        try:
            for message in call:
                run.feed(message)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc
        except BaseException:
            call.cancel()
            raise
        return run.result()


# -- asyncio client ---------------------------------------------------------------------------


class AsyncResponseStream(_Stream[T]):
    """The asyncio twin of :class:`ResponseStream`: ``async for``, ``cancel()``,
    ``async with``."""

    def __aiter__(self) -> AsyncResponseStream[T]:
        return self

    async def __anext__(self) -> T:
        if self._pending:
            return self._pending.popleft()
        while True:
            try:
                message = await self._call.read()
            except asyncio.CancelledError:
                if self._cancelled:
                    raise StopAsyncIteration from None
                raise
            except grpc.RpcError as exc:
                if self._cancelled and _code(exc) is grpc.StatusCode.CANCELLED:
                    raise StopAsyncIteration from None
                raise error_from_rpc(exc) from exc
            if message is grpc.aio.EOF:
                raise StopAsyncIteration
            item = self._take(message)
            if item is not None:
                return item

    async def __aenter__(self) -> AsyncResponseStream[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.cancel()


class AsyncSignalStream(AsyncResponseStream[Signal]):
    """The asyncio twin of :class:`SignalStream` (made by ``subscribe_signals``)."""

    subscription_id: str
    params: dict[str, float]
    symbols: list[str]

    @classmethod
    async def _open(cls, call: Any, start_timeout: float | None) -> AsyncSignalStream:
        stream = cls(call, _signal_event)
        try:
            first = await asyncio.wait_for(call.read(), start_timeout)
        except TimeoutError as exc:
            call.cancel()
            raise DeadlineExceededError(
                f"the server did not confirm the subscription within {start_timeout} s"
            ) from exc
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc
        except BaseException:
            call.cancel()
            raise
        if first is grpc.aio.EOF:
            raise InternalError("the signal stream ended before it started")
        try:
            started = _Started(first)
        except InternalError:
            call.cancel()
            raise
        stream.subscription_id = started.subscription_id
        stream.params = started.params
        stream.symbols = started.symbols
        return stream


class AsyncSupremeClient(_ClientBase):
    """The asyncio client: the methods of :class:`SupremeClient`, awaited (streams are async
    iterators). ``AsyncSupremeClient(channel)`` wraps any ``grpc.aio.Channel``."""

    @classmethod
    def connect(
        cls,
        target: str,
        *,
        token: str | None = None,
        tls: bool | grpc.ChannelCredentials | None = None,
        tls_ca: str | Path | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        options: Iterable[tuple[str, Any]] = (),
    ) -> AsyncSupremeClient:
        """As :meth:`SupremeClient.connect`, with a ``grpc.aio`` channel."""
        credentials = _credentials(tls, tls_ca, tls_cert, tls_key)
        opts = _channel_options(options)
        channel = (
            grpc.aio.insecure_channel(target, options=opts)
            if credentials is None
            else grpc.aio.secure_channel(target, credentials, options=opts)
        )
        return cls(channel, token=token, timeout=timeout, close_channel=True)

    @property
    def channel(self) -> grpc.aio.Channel:
        return self._channel

    async def close(self) -> None:
        if self._close_channel:
            await self._channel.close()

    async def __aenter__(self) -> AsyncSupremeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def wait_until_ready(self, timeout: float | None = None) -> None:
        try:
            await asyncio.wait_for(self._channel.channel_ready(), timeout)
        except TimeoutError as exc:
            raise UnavailableError(
                f"the server did not become reachable within {timeout} s"
            ) from exc

    async def _unary(
        self, method: Any, request: Any, parse: Callable[[Any], T], timeout: Any = _DEFAULT
    ) -> T:
        try:
            response = await method(
                request,
                timeout=self.timeout if timeout is _DEFAULT else timeout,
                metadata=self._metadata,
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc
        return _parse(parse, response)

    def _stream(self, method: Any, request: Any) -> Any:
        return method(request, metadata=self._metadata)

    async def health(self, service: str = "") -> str:
        request = health_pb2.HealthCheckRequest(service=service)
        return await self._unary(self._health.Check, request, _health_of)

    async def publish_bars(
        self,
        bars: Iterable[Bar] | BarBatch | Any,
        *,
        batch_size: int = 5000,
        rate: float | None = None,
    ) -> PublishResult:
        feed = _PublishFeed(_publish_plan(bars, batch_size, rate), rate)
        call = self._market.PublishBars(feed.aiter(), metadata=self._metadata)
        try:
            response = await call
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc
        except BaseException:
            call.cancel()
            raise
        return feed.result(response)

    async def get_bars(self, symbol: str, limit: int = 0) -> BarBatch:
        request = market_data_pb2.GetBarsRequest(symbol=symbol, limit=limit)
        return await self._unary(self._market.GetBars, request, _bars_of)

    async def list_strategies(self) -> list[Any]:
        request = strategy_pb2.ListStrategiesRequest()
        return await self._unary(self._strategy.ListStrategies, request, _strategies_of)

    async def subscribe_signals(
        self,
        symbols: str | Iterable[str],
        strategy: str,
        params: Mapping[str, float] | None = None,
    ) -> AsyncSignalStream:
        request = strategy_pb2.SubscribeSignalsRequest(
            symbols=_names(symbols),
            strategy=strategy,
            params=_numbers(params, "param"),
            max_batch=SIGNAL_BATCH,
        )
        call = self._stream(self._strategy.SubscribeSignals, request)
        return await AsyncSignalStream._open(call, self.timeout)

    async def start_strategy(
        self,
        strategy: str,
        symbols: str | Iterable[str],
        params: Mapping[str, float] | None = None,
        instance_id: str | None = None,
    ) -> StrategyInstanceInfo:
        request = strategy_pb2.StartStrategyRequest(
            strategy=strategy,
            symbols=_names(symbols),
            params=_numbers(params, "param"),
            instance_id=instance_id or "",
        )
        return await self._unary(self._strategy.StartStrategy, request, _instance_of)

    async def stop_strategy(self, instance_id: str) -> StrategyInstanceInfo:
        request = strategy_pb2.StopStrategyRequest(instance_id=instance_id)
        return await self._unary(self._strategy.StopStrategy, request, _instance_of)

    async def strategy_instances(self) -> list[StrategyInstanceInfo]:
        request = strategy_pb2.ListStrategyInstancesRequest()
        return await self._unary(self._strategy.ListStrategyInstances, request, _instances_of)

    async def submit_order(
        self,
        symbol: str,
        side: Side | str,
        quantity: float | None = None,
        *,
        order_type: OrderType | str = OrderType.MARKET,
        limit_price: float | None = None,
        stop_price: float | None = None,
        time_in_force: TimeInForce | str = TimeInForce.GTC,
        client_order_id: str | None = None,
        strategy: str = "manual",
        stop_loss: float | None = None,
        take_profit: float | None = None,
        reduce_only: bool = False,
    ) -> RemoteOrder:
        request = _submit_request(
            symbol,
            side,
            quantity,
            order_type,
            limit_price,
            stop_price,
            time_in_force,
            client_order_id,
            strategy,
            stop_loss,
            take_profit,
            reduce_only,
        )
        return await self._unary(self._orders.SubmitOrder, request, _order_of)

    async def cancel_order(self, client_order_id: str) -> RemoteOrder:
        request = order_pb2.CancelOrderRequest(client_order_id=client_order_id)
        return await self._unary(self._orders.CancelOrder, request, _order_of)

    async def get_order(self, client_order_id: str) -> RemoteOrder:
        request = order_pb2.GetOrderRequest(client_order_id=client_order_id)
        return await self._unary(self._orders.GetOrder, request, _order_of)

    async def orders(
        self,
        status: OrderStatus | str | None = None,
        symbol: str | None = None,
        open_only: bool = False,
        limit: int = 0,
    ) -> list[RemoteOrder]:
        request = _list_orders_request(status, symbol, open_only, limit)
        return await self._unary(self._orders.ListOrders, request, _orders_of)

    def order_updates(
        self, symbols: str | Iterable[str] | None = None
    ) -> AsyncResponseStream[OrderUpdate]:
        request = order_pb2.StreamOrderUpdatesRequest(symbols=_names(symbols))
        call = self._stream(self._orders.StreamOrderUpdates, request)
        return AsyncResponseStream(call, _order_update)

    async def positions(self) -> list[PositionView]:
        request = order_pb2.ListPositionsRequest()
        return await self._unary(self._orders.ListPositions, request, _positions_of)

    async def portfolio(self) -> PortfolioView:
        request = order_pb2.GetPortfolioRequest()
        return await self._unary(self._orders.GetPortfolio, request, _portfolio_of)

    async def risk_state(self) -> RiskStateView:
        request = risk_pb2.GetRiskStateRequest()
        return await self._unary(self._risk.GetRiskState, request, _risk_state_of)

    async def set_trading_state(self, state: str | Any, reason: str = "") -> RiskStateView:
        request = risk_pb2.SetTradingStateRequest(state=_trading_state(state), reason=reason)
        return await self._unary(self._risk.SetTradingState, request, _risk_state_of)

    async def update_risk_limits(
        self, limits: Mapping[str, float] | None = None, clear: str | Iterable[str] = ()
    ) -> dict[str, float]:
        request = risk_pb2.UpdateRiskLimitsRequest(
            limits=_numbers(limits, "limit"), clear=_names(clear)
        )
        return await self._unary(self._risk.UpdateRiskLimits, request, _limits_of)

    async def reset_circuit_breakers(self, names: str | Iterable[str] = ()) -> BreakerReset:
        request = risk_pb2.ResetCircuitBreakersRequest(names=_names(names))
        return await self._unary(self._risk.ResetCircuitBreakers, request, _reset_of)

    def risk_events(self) -> AsyncResponseStream[dict[str, Any]]:
        request = risk_pb2.StreamRiskEventsRequest()
        return AsyncResponseStream(self._stream(self._risk.StreamRiskEvents, request), _risk_event)

    async def run_backtest(
        self,
        strategies: str | Sequence[str | tuple[Any, ...]],
        *,
        bars: BarBatch | Iterable[Bar] | Any = None,
        simulated: tuple[Any, ...] | Mapping[str, Any] | None = None,
        initial_cash: float | None = None,
        fee_bps: float | None = None,
        slippage_bps: float | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        request = _backtest_request(
            strategies, bars, simulated, initial_cash, fee_bps, slippage_bps
        )
        run = _BacktestRun(on_progress)
        call = self._stream(self._backtest.RunBacktest, request)
        try:
            while (message := await call.read()) is not grpc.aio.EOF:
                run.feed(message)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc
        except BaseException:
            call.cancel()
            raise
        return run.result()
