"""The gateway's metrics: risk events and the account status map onto the right series."""

from supreme.server.metrics import GatewayMetrics


def _value(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels or None)


def test_risk_events_count_decisions_breaker_trips_and_move_the_state():
    m = GatewayMetrics()
    events = [
        {"kind": "DECISION", "outcome": "APPROVED", "reason_code": "OK", "details": {}},
        {"kind": "DECISION", "outcome": "DENIED", "reason_code": "HALTED", "details": {}},
        {"kind": "DECISION", "outcome": "DENIED", "reason_code": "HALTED", "details": {}},
        {"kind": "BREAKER_TRIPPED", "outcome": "TRIPPED", "details": {"breaker": "drawdown"}},
        {"kind": "STATE_CHANGED", "outcome": "HALTED", "details": {}},
        {"kind": "FILL_CHECK", "outcome": "OK", "details": {}},  # not a metric
    ]
    for event in events:
        m.observe_risk_event(event)
    total = "supreme_risk_decisions_total"
    assert _value(m, total, outcome="APPROVED", reason="OK") == 1
    assert _value(m, total, outcome="DENIED", reason="HALTED") == 2
    assert _value(m, "supreme_circuit_breaker_trips_total", breaker="drawdown") == 1
    states = {s: _value(m, "supreme_trading_state", state=s) for s in ("ACTIVE", "HALTED")}
    assert states == {"ACTIVE": 0, "HALTED": 1}


def test_account_status_sets_the_gauges_and_ignores_what_is_missing():
    m = GatewayMetrics()
    m.set_account(
        {
            "state": "REDUCING",
            "equity": 98_000.0,
            "drawdown": 0.12,
            "gross_exposure": 15_000.0,
            "realized_pnl": -1_500.0,
            "unrealized_pnl": None,  # not a number: left alone
        }
    )
    assert _value(m, "supreme_equity") == 98_000.0
    assert _value(m, "supreme_drawdown_ratio") == 0.12
    assert _value(m, "supreme_realized_pnl") == -1_500.0
    assert _value(m, "supreme_unrealized_pnl") == 0.0
    assert _value(m, "supreme_trading_state", state="REDUCING") == 1
    assert _value(m, "supreme_trading_state", state="ACTIVE") == 0


def test_two_gateways_in_one_process_keep_separate_series():
    a, b = GatewayMetrics(), GatewayMetrics()
    a.bars_received.inc(5)
    assert _value(a, "supreme_bars_received_total") == 5
    assert _value(b, "supreme_bars_received_total") == 0


def test_known_breakers_and_rejection_reasons_start_at_zero():
    from supreme.core.risk import breakers
    from supreme.server.metrics import BREAKERS

    names = {
        cls.name
        for cls in vars(breakers).values()
        if isinstance(cls, type)
        and issubclass(cls, breakers.Breaker)
        and cls is not breakers.Breaker
    }
    assert names == set(BREAKERS)  # a new breaker must be added to the metrics' list
    m = GatewayMetrics()
    assert _value(m, "supreme_circuit_breaker_trips_total", breaker="drawdown") == 0
    assert _value(m, "supreme_bars_rejected_total", reason="DUPLICATE") == 0
