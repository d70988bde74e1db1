"""The deployment files checked by the real tools: promtool (Debian package `prometheus`) for the
Prometheus config, alert rules and their unit tests, and docker-compose (Debian package
`docker-compose`) for the compose file. A missing tool fails the test (never skips): .ci/run
installs both packages.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` not found on PATH: install the Debian package `{package}` "
            f"(apt-get install -y --no-install-recommends {package}; .ci/run does it)",
            pytrace=False,
        )
    return path


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        f"{' '.join(args)} (in {cwd}) exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def test_alert_rules_are_valid() -> None:
    promtool = _tool("promtool", "prometheus")
    out = _run([promtool, "check", "rules", "alerts.yml"], PROMETHEUS_DIR)
    assert "SUCCESS" in out.stdout


def test_alert_rules_unit_tests_pass() -> None:
    promtool = _tool("promtool", "prometheus")
    out = _run([promtool, "test", "rules", "alerts_test.yml"], PROMETHEUS_DIR)
    assert "SUCCESS" in out.stdout


def test_prometheus_config_is_valid() -> None:
    # Run from the config's directory, as Prometheus resolves rule_files (alerts.yml) relative
    # to the config file: the check also loads and checks the rule file.
    promtool = _tool("promtool", "prometheus")
    out = _run([promtool, "check", "config", "prometheus.yml"], PROMETHEUS_DIR)
    assert "1 rule files found" in out.stdout


def test_docker_compose_file_is_valid() -> None:
    compose = _tool("docker-compose", "docker-compose")
    _run([compose, "config", "-q"], ROOT)
