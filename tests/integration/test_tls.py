"""TLS and mutual TLS on a real gateway, with certificates from `supreme certs dev`."""

from __future__ import annotations

import stat

import pytest

from supreme.client.errors import UnauthenticatedError, UnavailableError
from supreme.client.sdk import SupremeClient
from supreme.core.errors import InvalidArgument
from supreme.server.app import _is_loopback
from supreme.server.auth import TokenStore, create_token
from supreme.server.certs import write_dev_certificates
from supreme.server.config import GatewayConfig
from tests.integration.test_gateway import LoopThread, start_gateway

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return write_dev_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def bound_tokens(certs, tmp_path_factory):
    """A token bound to the client certificate, one bound to another certificate, one free."""
    path = tmp_path_factory.mktemp("tls-tokens") / "tokens.json"
    other = write_dev_certificates(tmp_path_factory.mktemp("other-client"))
    made = {}
    for name, cert in (
        ("bound", certs.client_cert),
        ("elsewhere", other.client_cert),
        ("free", None),
    ):
        pem = cert.read_bytes() if cert else None
        made[name], record = create_token("read", cert_pem=pem)
        TokenStore.append(path, record)
    return path, made


@pytest.fixture(scope="module")
def mtls_gateway(certs, bound_tokens, tmp_path_factory, ray_session):
    loop = LoopThread()
    gateway = start_gateway(
        loop,
        tmp_path_factory.mktemp("tls-state"),
        f"{ray_session}-tls",
        tls_cert=str(certs.server_cert),
        tls_key=str(certs.server_key),
        tls_client_ca=str(certs.ca),
        tokens_file=str(bound_tokens[0]),
        open_health=False,
    )
    yield gateway
    loop.run(gateway.stop(grace=1.0))
    loop.close()


def _strategies(target, token=None, **tls):
    with SupremeClient.connect(target, timeout=5, token=token, **tls) as client:
        return [s.name for s in client.list_strategies()]


def test_a_client_with_the_ca_and_its_certificate_gets_in(mtls_gateway, certs, bound_tokens):
    target = f"localhost:{mtls_gateway.port}"
    tls = {"tls_ca": certs.ca, "tls_cert": certs.client_cert, "tls_key": certs.client_key}
    names = _strategies(target, bound_tokens[1]["free"], **tls)
    assert {"momentum", "mean_reversion", "breakout"} <= set(names)


def test_a_token_bound_to_a_certificate_works_only_with_it(mtls_gateway, certs, bound_tokens):
    target = f"localhost:{mtls_gateway.port}"
    tls = {"tls_ca": certs.ca, "tls_cert": certs.client_cert, "tls_key": certs.client_key}
    _, made = bound_tokens
    assert "momentum" in _strategies(target, made["bound"], **tls)
    with pytest.raises(UnauthenticatedError, match="bound to a client certificate"):
        _strategies(target, made["elsewhere"], **tls)
    # With open_health=False even the health check needs a token.
    with (
        SupremeClient.connect(target, timeout=5, **tls) as client,
        pytest.raises(UnauthenticatedError),
    ):
        client.health()


def test_without_a_client_certificate_or_over_plaintext_the_handshake_fails(mtls_gateway, certs):
    target = f"localhost:{mtls_gateway.port}"
    with pytest.raises(UnavailableError):
        _strategies(target, tls_ca=certs.ca)  # TLS, but no client certificate
    with pytest.raises(UnavailableError):
        _strategies(target)  # plaintext against a TLS port


def test_a_server_certificate_from_another_ca_is_refused(mtls_gateway, certs, tmp_path):
    other = write_dev_certificates(tmp_path / "other")
    with pytest.raises(UnavailableError):
        _strategies(
            f"localhost:{mtls_gateway.port}",
            tls_ca=other.ca,  # does not vouch for the gateway's certificate
            tls_cert=certs.client_cert,
            tls_key=certs.client_key,
        )


def test_dev_keys_are_private_files(certs):
    for key in (certs.server_key, certs.client_key, certs.ca.with_name("ca.key")):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert b"PRIVATE KEY" in key.read_bytes()


def test_tls_settings_are_checked_and_plaintext_off_loopback_is_recognised():
    with pytest.raises(InvalidArgument, match="go together"):
        GatewayConfig(tls_cert="server.pem")
    with pytest.raises(InvalidArgument, match="needs tls_cert"):
        GatewayConfig(tls_client_ca="ca.pem")
    assert _is_loopback("127.0.0.1") and _is_loopback("localhost") and _is_loopback("::1")
    assert not _is_loopback("0.0.0.0") and not _is_loopback("10.1.2.3") and not _is_loopback("")
