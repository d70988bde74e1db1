"""Credentials from the environment or files never show in reprs, errors or log lines."""

import io
import logging

import pytest

from supreme.core.errors import InvalidArgument
from supreme.logs import JsonFormatter
from supreme.secrets import load_secret, venue_credentials

PLANTED = "binance-secret-4f9d2a7c81e3"


def test_from_the_environment_or_a_file_never_both(monkeypatch, tmp_path):
    monkeypatch.setenv("SUPREME_BINANCE_API_KEY", "key-from-env-123")
    assert load_secret("SUPREME_BINANCE_API_KEY").reveal() == "key-from-env-123"
    secret_file = tmp_path / "secret"
    secret_file.write_text(PLANTED + "\n")  # as Docker and Kubernetes mount them
    monkeypatch.setenv("SUPREME_BINANCE_SECRET_FILE", str(secret_file))
    creds = venue_credentials("binance")
    assert creds["secret"].reveal() == PLANTED and creds["apiKey"].reveal() == "key-from-env-123"
    assert "password" not in creds
    monkeypatch.setenv("SUPREME_BINANCE_SECRET", "also-set")
    with pytest.raises(InvalidArgument, match="not both"):
        load_secret("SUPREME_BINANCE_SECRET")
    with pytest.raises(InvalidArgument, match=r"SUPREME_NOPE .*not set"):
        load_secret("SUPREME_NOPE")
    monkeypatch.setenv("SUPREME_GONE_FILE", str(tmp_path / "missing"))
    with pytest.raises(InvalidArgument) as caught:
        load_secret("SUPREME_GONE")
    assert "missing" in str(caught.value)


def test_a_loaded_secret_stays_out_of_reprs_and_logs(monkeypatch):
    monkeypatch.setenv("SUPREME_KRAKEN_SECRET", PLANTED)
    secret = venue_credentials("kraken")["secret"]
    assert PLANTED not in repr(secret) and PLANTED not in str(secret)
    assert PLANTED not in repr({"secret": secret})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("supreme.test.secrets")
    logger.addHandler(handler)
    try:
        # Even a careless line that reveals it is redacted on the way out.
        logger.warning("venue rejected signature for %s", secret.reveal())
        logger.warning("config: %s", {"apiKey": "x", "secret": secret.reveal()})
    finally:
        logger.removeHandler(handler)
    assert PLANTED not in stream.getvalue() and stream.getvalue().count("***") >= 2


def test_tokens_create_prints_the_token_once_and_stores_its_hash(tmp_path, capsys):
    import json

    from supreme.client.cli import main
    from supreme.server.auth import TokenStore

    path = tmp_path / "tokens.json"
    assert (
        main(["tokens", "create", "--scope", "trade", "--ttl", "30d", "--tokens-file", str(path)])
        == 0
    )
    out = capsys.readouterr()
    token = out.out.strip()
    assert token.startswith("sup_") and "only time it is shown" in out.err
    assert token not in path.read_text()
    (record,) = json.loads(path.read_text())
    assert record["scope"] == "trade" and record["expires_ms"] > record["created_ms"]
    store = TokenStore.load(path)
    assert store.check(token, record["created_ms"]).scope == "trade"
    assert store.check(token, record["expires_ms"]) is None  # expired at its end
    assert store.check(token[:-1] + ("x" if token[-1] != "x" else "y"), 0) is None
