import json
import math

import numpy as np
import pytest

from supreme.client.cli import main
from supreme.core.backtest import Backtest, BacktestConfig, StrategySpec, run_backtest
from supreme.core.backtest.report import build_report
from supreme.core.errors import InvalidArgument, NotFound
from supreme.core.model import OrderStatus, Portfolio
from supreme.core.risk import RiskConfig, TradingState
from supreme.core.strategies import generate_signals
from supreme.data.simulator import simulate_bars

ALL = ["momentum", "mean_reversion", "breakout"]


@pytest.fixture(scope="module")
def bars():
    return simulate_bars(["AAA", "BBB"], 3_000, seed=11)


@pytest.fixture(scope="module")
def result(bars):
    backtest = Backtest(ALL, BacktestConfig(initial_cash=50_000.0))
    report = backtest.run(bars)
    return backtest, report


def test_accounting_closes_final_equity_equals_cash_plus_pnl_minus_fees(result):
    _, report = result
    expected = report.initial_cash + report.realized_pnl - report.fees + report.unrealized_pnl
    assert report.trades > 10 and report.fees > 0
    assert math.isclose(report.final_equity, expected, rel_tol=1e-9, abs_tol=1e-6)
    assert report.equity_curve[-1][1] == pytest.approx(report.final_equity)


def test_backtest_runs_the_same_strategies_as_the_batch_signal_path(result, bars):
    backtest, _ = result
    for symbol in ("AAA", "BBB"):
        for name in ALL:
            expected = generate_signals(name, bars.for_symbol(symbol), {})
            seen = [s for s in backtest.signals if s.symbol == symbol and s.strategy == name]
            key = [(s.time_ms, s.direction, s.price) for s in seen]
            assert key == [(s.time_ms, s.direction, s.price) for s in expected]
            # Strength comes from streaming vs batch indicator values: equal to rounding.
            assert [s.strength for s in seen] == pytest.approx([s.strength for s in expected])
            assert len(expected) > 3


def test_orders_never_fill_on_the_bar_that_produced_them(result):
    backtest, _ = result
    assert backtest.fills
    orders = backtest.orders
    for fill in backtest.fills:
        assert fill.time_ms > orders[fill.client_order_id].created_ms


def test_halted_risk_state_blocks_every_order_but_not_the_signals(bars):
    backtest = Backtest(["breakout"])
    backtest.risk.set_trading_state(TradingState.HALTED, "test", 0)
    report = backtest.run(bars.for_symbol("AAA"))
    assert report.signals > 3 and report.trades == 0 and not backtest.fills
    statuses = {o.status for o in backtest.orders.values()}
    assert statuses == {OrderStatus.DENIED}
    assert set(report.risk_denials) == {"HALTED"}


def test_order_notional_cap_limits_every_fill(bars):
    backtest = Backtest(["breakout"], BacktestConfig(risk=RiskConfig(max_order_notional=500.0)))
    backtest.run(bars.for_symbol("AAA"))
    opening = [o for o in backtest.orders.values() if o.filled_quantity > 0 and not o.reduce_only]
    assert opening
    # The cap applies at the decision's price; the fill comes one bar later, so allow drift.
    # Exits are exempt: a position can always be closed, whatever it is worth by then.
    for order in opening:
        assert order.filled_quantity * order.average_fill_price <= 500.0 * 1.15


def test_unknown_strategy_and_bad_params_are_refused_before_running(bars):
    with pytest.raises(NotFound):
        Backtest(["no_such_strategy"])
    with pytest.raises(InvalidArgument, match="fast"):
        Backtest([StrategySpec("momentum", {"fast": -3})])
    with pytest.raises(InvalidArgument):
        Backtest([])


def test_report_figures_on_a_known_equity_curve():
    report = build_report(
        initial_cash=100.0,
        portfolio=Portfolio(cash=120.0),
        prices={},
        times=[0, 86_400_000, 2 * 86_400_000, 3 * 86_400_000],
        equity=[110.0, 99.0, 120.0, 120.0],
        gross_exposure=[50.0, 0.0, 60.0, 0.0],
        trades=[],
        signals=0,
        decisions=[],
        orders=[],
        strategies=["x"],
        symbols=["A"],
        bars=4,
        periods_per_year=None,
    )
    assert report.periods_per_year == pytest.approx(365.0)
    assert report.total_return == pytest.approx(0.2)
    assert report.max_drawdown == pytest.approx(0.1)
    assert report.time_in_market == pytest.approx(0.5)
    returns = np.array([0.1, -0.1, 120 / 99 - 1, 0.0])
    assert report.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(365))
    downside = math.sqrt(np.mean(np.minimum(returns, 0) ** 2))
    assert report.sortino == pytest.approx(returns.mean() / downside * math.sqrt(365))
    assert report.annualized_return == pytest.approx(1.2 ** (365 / 4) - 1)


def test_report_serialises_to_strict_json(result):
    _, report = result
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["trades"] == report.trades
    assert len(data["trade_list"]) == report.trades
    assert {"pnl", "strategy", "symbol"} <= set(data["trade_list"][0])


def test_backtest_accepts_a_dataframe_with_dates(bars):
    frame = bars.for_symbol("AAA").to_frame()
    frame["date"] = frame.pop("time_ms").astype("datetime64[ms]")
    report = run_backtest(frame, ["mean_reversion"])
    assert report.bars == 3_000 and report.symbols == ["AAA"]


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory, bars):
    path = tmp_path_factory.mktemp("data") / "bars.csv"
    bars.to_frame().to_csv(path, index=False)
    return path


def test_cli_backtest_prints_json_and_writes_a_png(csv_path, tmp_path, capsys):
    png = tmp_path / "equity.png"
    code = main(
        [
            "backtest",
            "--data",
            str(csv_path),
            "--strategy",
            "breakout",
            "--symbol",
            "BBB",
            "--param",
            "channel=30",
            "--json",
            "--plot",
            str(png),
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["symbols"] == ["BBB"] and data["strategies"] == ["breakout"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_backtest_summary_and_progress_bar(csv_path, capsys):
    code = main(
        [
            "backtest",
            "--data",
            str(csv_path),
            "--strategy",
            "momentum",
            "--strategy",
            "breakout",
            "--param",
            "breakout.channel=25",
            "--progress",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "Sharpe" in captured.out and "Max drawdown" in captured.out
    assert "100.0%" in captured.err and "bars/s" in captured.err


def test_cli_reports_bad_parameters_clearly(csv_path, capsys):
    assert main(["backtest", "--data", str(csv_path), "--param", "nope=1"]) == 2
    assert "nope" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(
            [
                "backtest",
                "--data",
                str(csv_path),
                "--strategy",
                "momentum",
                "--strategy",
                "breakout",
                "--param",
                "fast=3",
            ]
        )
    assert main(["backtest", "--data", "/does/not/exist.csv"]) == 2


def test_demo_runs_all_three_strategies(capsys):
    assert main(["demo-backtest", "--bars", "800", "--symbols", "X,Y"]) == 0
    out = capsys.readouterr().out
    for name in ALL:
        assert f"== {name} ==" in out
