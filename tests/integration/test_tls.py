"""TLS and mutual TLS on a real gateway, with certificates from `supreme certs dev`."""

from __future__ import annotations

import stat

import pytest

from supreme.client.errors import UnavailableError
from supreme.client.sdk import SupremeClient
from supreme.core.errors import InvalidArgument
from supreme.server.app import _is_loopback
from supreme.server.certs import write_dev_certificates
from supreme.server.config import GatewayConfig
from tests.integration.test_gateway import LoopThread, start_gateway

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return write_dev_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def mtls_gateway(certs, tmp_path_factory, ray_session):
    loop = LoopThread()
    gateway = start_gateway(
        loop,
        tmp_path_factory.mktemp("tls-state"),
        f"{ray_session}-tls",
        tls_cert=str(certs.server_cert),
        tls_key=str(certs.server_key),
        tls_client_ca=str(certs.ca),
    )
    yield gateway
    loop.run(gateway.stop(grace=1.0))
    loop.close()


def _strategies(target, **tls):
    with SupremeClient.connect(target, timeout=5, **tls) as client:
        return [s.name for s in client.list_strategies()]


def test_a_client_with_the_ca_and_its_certificate_gets_in(mtls_gateway, certs):
    target = f"localhost:{mtls_gateway.port}"
    names = _strategies(
        target, tls_ca=certs.ca, tls_cert=certs.client_cert, tls_key=certs.client_key
    )
    assert {"momentum", "mean_reversion", "breakout"} <= set(names)


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
