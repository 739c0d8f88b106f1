"""PKI: certificate creation and reuse, real TLS handshakes, kubeconfig and tokens."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import ipaddress
import os
import re
import ssl
import stat
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from minik import pki

HOSTNAMES = ["node-1.example.com"]
IPS = ["192.0.2.10"]


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    return tmp_path / "server" / "tls"


@pytest.fixture
def server_pki(tls_dir: Path) -> pki.ServerPKI:
    return pki.ensure_server_pki(tls_dir, hostnames=HOSTNAMES, ips=IPS)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leaf(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificates(pem)[0]


def _sans(pem: bytes) -> tuple[set[str], set[str]]:
    san = _leaf(pem).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)), {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


# --------------------------------------------------------------------------------------------------
# creation and reuse
# --------------------------------------------------------------------------------------------------


def test_first_call_creates_k3s_layout_with_private_modes(tls_dir: Path, server_pki: pki.ServerPKI) -> None:
    assert sorted(p.name for p in tls_dir.iterdir()) == [
        "client-admin.crt",
        "client-admin.key",
        "client-ca.crt",
        "client-ca.key",
        "server-ca.crt",
        "server-ca.key",
        "serving-kube-apiserver.crt",
        "serving-kube-apiserver.key",
    ]
    assert _mode(tls_dir) == 0o700
    for key in tls_dir.glob("*.key"):
        assert _mode(key) == 0o600, key
        assert key.read_bytes().startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert server_pki.server_ca_path.read_bytes() == server_pki.server_ca_pem
    assert server_pki.serving_cert_path.read_bytes() == server_pki.serving_cert_pem


def test_serving_certificate_names_and_issuer(server_pki: pki.ServerPKI) -> None:
    dns, ips = _sans(server_pki.serving_cert_pem)
    assert dns == {
        "localhost",
        "node-1.example.com",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    }
    assert ips == {"127.0.0.1", "::1", "192.0.2.10", "10.43.0.1"}
    leaf = _leaf(server_pki.serving_cert_pem)
    leaf.verify_directly_issued_by(_leaf(server_pki.server_ca_pem))
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_admin_certificate_identity(server_pki: pki.ServerPKI) -> None:
    admin = _leaf(server_pki.admin_cert_pem)
    assert admin.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:admin"
    assert [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:masters"]
    admin.verify_directly_issued_by(_leaf(server_pki.client_ca_pem))
    assert _leaf(server_pki.client_ca_pem).subject != _leaf(server_pki.server_ca_pem).subject


def test_second_call_reuses_every_byte(tls_dir: Path, server_pki: pki.ServerPKI) -> None:
    before = {p.name: p.read_bytes() for p in tls_dir.iterdir()}
    again = pki.ensure_server_pki(tls_dir, hostnames=HOSTNAMES, ips=IPS)
    assert again == server_pki
    assert {p.name: p.read_bytes() for p in tls_dir.iterdir()} == before
    # a subset of what the certificate covers needs nothing new either
    assert pki.ensure_server_pki(tls_dir, hostnames=[], ips=[]).serving_cert_pem == server_pki.serving_cert_pem


def test_new_address_reissues_only_the_serving_certificate(tls_dir: Path, server_pki: pki.ServerPKI) -> None:
    moved = pki.ensure_server_pki(tls_dir, hostnames=HOSTNAMES, ips=["198.51.100.7"])
    assert moved.serving_cert_pem != server_pki.serving_cert_pem
    assert "198.51.100.7" in _sans(moved.serving_cert_pem)[1]
    assert moved.server_ca_pem == server_pki.server_ca_pem
    assert moved.client_ca_pem == server_pki.client_ca_pem
    assert moved.admin_cert_pem == server_pki.admin_cert_pem
    renamed = pki.ensure_server_pki(tls_dir, hostnames=["Other.Example.com"], ips=["198.51.100.7"])
    assert "other.example.com" in _sans(renamed.serving_cert_pem)[0]
    assert renamed.server_ca_pem == server_pki.server_ca_pem


def test_certificates_close_to_expiry_are_renewed(
    tls_dir: Path, server_pki: pki.ServerPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=300)  # 65 days left on the leaves
    monkeypatch.setattr(pki, "_now", lambda: later)
    renewed = pki.ensure_server_pki(tls_dir, hostnames=HOSTNAMES, ips=IPS)
    assert renewed.serving_cert_pem != server_pki.serving_cert_pem
    assert renewed.admin_cert_pem != server_pki.admin_cert_pem
    assert renewed.server_ca_pem == server_pki.server_ca_pem  # the CA has ten years
    assert _leaf(renewed.serving_cert_pem).not_valid_after_utc > later + dt.timedelta(days=300)


def test_damaged_or_foreign_leaves_are_reissued(tls_dir: Path, server_pki: pki.ServerPKI) -> None:
    (tls_dir / "serving-kube-apiserver.key").write_bytes(b"garbage")
    repaired = pki.ensure_server_pki(tls_dir, hostnames=HOSTNAMES, ips=IPS)
    assert repaired.serving_cert_pem != server_pki.serving_cert_pem
    _leaf(repaired.serving_cert_pem).verify_directly_issued_by(_leaf(repaired.server_ca_pem))
    # a new server CA invalidates the serving certificate it did not sign
    for name in ("server-ca.crt", "server-ca.key"):
        (tls_dir / name).unlink()
    rotated = pki.ensure_server_pki(tls_dir, hostnames=HOSTNAMES, ips=IPS)
    assert rotated.server_ca_pem != server_pki.server_ca_pem
    _leaf(rotated.serving_cert_pem).verify_directly_issued_by(_leaf(rotated.server_ca_pem))
    assert rotated.admin_cert_pem == server_pki.admin_cert_pem  # the client CA did not change


def test_invalid_ip_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        pki.ensure_server_pki(tmp_path / "tls", hostnames=[], ips=["300.1.1.1"])


def test_issue_client_cert(server_pki: pki.ServerPKI) -> None:
    cert_pem, key_pem = server_pki.issue_client_cert("system:node:n1", ["system:nodes"], days=10)
    cert = _leaf(cert_pem)
    cert.verify_directly_issued_by(_leaf(server_pki.client_ca_pem))
    assert cert.subject.rfc4514_string() == "CN=system:node:n1,O=system:nodes"
    assert cert.not_valid_after_utc - cert.not_valid_before_utc < dt.timedelta(days=11)
    assert key_pem.startswith(b"-----BEGIN EC PRIVATE KEY-----")


# --------------------------------------------------------------------------------------------------
# TLS on loopback
# --------------------------------------------------------------------------------------------------


def _client_context(
    server_pki: pki.ServerPKI, tmp_path: Path, cert_and_key: tuple[bytes, bytes] | None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=server_pki.server_ca_pem.decode())
    if cert_and_key is not None:
        cert_path, key_path = tmp_path / "client.crt", tmp_path / "client.key"
        cert_path.write_bytes(cert_and_key[0])
        key_path.write_bytes(cert_and_key[1])
        context.load_cert_chain(cert_path, key_path)
    return context


async def _identity_over_tls(
    server_pki: pki.ServerPKI, client_context: ssl.SSLContext, server_hostname: str = "localhost"
) -> tuple[object, bytes]:
    """Start a TLS echo-identity server, connect once; return what the server saw and what came back."""
    seen: list[object] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        identity = pki.identity_from_peercert(writer.get_extra_info("ssl_object").getpeercert())
        seen.append(identity)
        writer.write(repr(identity).encode())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_pki.server_ssl_context())
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context, server_hostname=server_hostname
        )
        try:
            reply = await asyncio.wait_for(reader.read(), 5)
            alpn = writer.get_extra_info("ssl_object").selected_alpn_protocol()
            assert alpn is None  # the client offered none
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ssl.SSLError, ConnectionError):
                pass
    finally:
        server.close()
        await server.wait_closed()
    return (seen[0] if seen else "no handler"), reply


async def test_admin_certificate_handshake_yields_identity(server_pki: pki.ServerPKI, tmp_path: Path) -> None:
    context = _client_context(server_pki, tmp_path, (server_pki.admin_cert_pem, server_pki.admin_key_pem))
    identity, reply = await _identity_over_tls(server_pki, context)
    assert identity == ("system:admin", ["system:masters"])
    assert reply == b"('system:admin', ['system:masters'])"


async def test_anonymous_tls_still_connects(server_pki: pki.ServerPKI, tmp_path: Path) -> None:
    identity, reply = await _identity_over_tls(server_pki, _client_context(server_pki, tmp_path, None))
    assert identity is None and reply == b"None"


async def test_in_cluster_name_and_issued_node_certificate(server_pki: pki.ServerPKI, tmp_path: Path) -> None:
    node = server_pki.issue_client_cert("system:node:n1", ["system:nodes"])
    context = _client_context(server_pki, tmp_path, node)
    identity, _ = await _identity_over_tls(server_pki, context, server_hostname="kubernetes.default.svc")
    assert identity == ("system:node:n1", ["system:nodes"])


async def test_certificate_from_another_ca_is_rejected(server_pki: pki.ServerPKI, tmp_path: Path) -> None:
    stranger = pki.ensure_server_pki(tmp_path / "other", hostnames=[], ips=[])
    context = _client_context(server_pki, tmp_path, (stranger.admin_cert_pem, stranger.admin_key_pem))
    try:
        identity, reply = await _identity_over_tls(server_pki, context)
    except (ssl.SSLError, ConnectionError):
        return  # TLS 1.2 style: the handshake itself fails
    # TLS 1.3: the client finishes first, then reads the server's alert (or EOF); no handler runs
    assert identity == "no handler" and reply == b""


async def test_server_hostname_must_be_covered(server_pki: pki.ServerPKI, tmp_path: Path) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        context = _client_context(server_pki, tmp_path, None)
        await _identity_over_tls(server_pki, context, server_hostname="elsewhere.example")


@pytest.mark.parametrize(
    ("peercert", "expected"),
    [
        (None, None),
        ({}, None),
        ({"subject": ((("organizationName", "g"),),)}, None),
        (
            {"subject": ((("organizationName", "a"),), (("organizationName", "b"),), (("commonName", "alice"),))},
            ("alice", ["a", "b"]),
        ),
        ({"subject": ((("commonName", "first"),), (("commonName", "last"),))}, ("last", [])),
    ],
)
def test_identity_from_peercert(peercert: dict | None, expected: tuple[str, list[str]] | None) -> None:
    assert pki.identity_from_peercert(peercert) == expected


# --------------------------------------------------------------------------------------------------
# kubeconfig
# --------------------------------------------------------------------------------------------------


def test_write_kubeconfig(tmp_path: Path, server_pki: pki.ServerPKI) -> None:
    path = tmp_path / "etc" / "minik" / "minik.yaml"
    pki.write_kubeconfig(
        path,
        server_url="https://127.0.0.1:6443",
        ca_pem=server_pki.server_ca_pem,
        client_cert_pem=server_pki.admin_cert_pem,
        client_key_pem=server_pki.admin_key_pem,
    )
    config = yaml.safe_load(path.read_text())
    assert config["apiVersion"] == "v1" and config["kind"] == "Config"
    assert config["current-context"] == "default"
    assert config["clusters"] == [
        {
            "name": "default",
            "cluster": {
                "server": "https://127.0.0.1:6443",
                "certificate-authority-data": base64.b64encode(server_pki.server_ca_pem).decode(),
            },
        }
    ]
    assert config["contexts"] == [{"name": "default", "context": {"cluster": "default", "user": "default"}}]
    (user,) = config["users"]
    assert user["name"] == "default"
    assert base64.b64decode(user["user"]["client-certificate-data"]) == server_pki.admin_cert_pem
    assert base64.b64decode(user["user"]["client-key-data"]) == server_pki.admin_key_pem
    assert _mode(path) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["minik.yaml"]  # no temp file left behind


def test_write_kubeconfig_replaces_file_and_applies_mode(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("old")
    path.chmod(0o666)
    pki.write_kubeconfig(
        path, server_url="https://h:1", ca_pem=b"ca", client_cert_pem=b"c", client_key_pem=b"k", mode=0o644, name="lab"
    )
    config = yaml.safe_load(path.read_text())
    assert _mode(path) == 0o644
    assert config["current-context"] == "lab" and config["users"][0]["name"] == "lab"
    assert config["contexts"][0]["context"] == {"cluster": "lab", "user": "lab"}


# --------------------------------------------------------------------------------------------------
# tokens
# --------------------------------------------------------------------------------------------------


def test_node_token_format_and_reuse(tmp_path: Path, server_pki: pki.ServerPKI) -> None:
    path = tmp_path / "server" / "node-token"
    token = pki.ensure_node_token(path, server_pki.server_ca_pem)
    digest = hashlib.sha256(server_pki.server_ca_pem).hexdigest()
    assert re.fullmatch(rf"K10{digest}::server:[0-9a-f]{{32}}", token)
    assert path.read_text().strip() == token and _mode(path) == 0o600
    assert pki.ensure_node_token(path, server_pki.server_ca_pem) == token
    ca_hash, username, password = pki.parse_token(token)
    assert (ca_hash, username) == (digest, "server") and token.endswith(password)


def test_node_token_keeps_secret_when_ca_changes(tmp_path: Path, server_pki: pki.ServerPKI) -> None:
    path = tmp_path / "node-token"
    token = pki.ensure_node_token(path, server_pki.server_ca_pem)
    other_ca = pki.ensure_server_pki(tmp_path / "other", hostnames=[], ips=[]).server_ca_pem
    updated = pki.ensure_node_token(path, other_ca)
    assert pki.parse_token(updated)[2] == pki.parse_token(token)[2]
    assert pki.parse_token(updated)[0] == hashlib.sha256(other_ca).hexdigest()
    path.write_text("::\n")  # unreadable content is replaced
    assert pki.parse_token(pki.ensure_node_token(path, other_ca))[1] == "server"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("K10" + "a" * 64 + "::server:secret", ("a" * 64, "server", "secret")),
        ("K10::node:pw:with:colons", (None, "node", "pw:with:colons")),
        ("justapassword", (None, "", "justapassword")),
        ("user:pw\n", (None, "", "user:pw")),  # without K10, the whole text is the password
    ],
)
def test_parse_token(text: str, expected: tuple[str | None, str, str]) -> None:
    assert pki.parse_token(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "token must not be empty"),
        ("K10abc::server:x", "invalid token CA hash length"),
        ("K10" + "a" * 64 + "::server:", "invalid token format"),
        ("K10" + "a" * 64 + "::nocolon", "invalid token format"),
        ("abcdef.0123456789abcdef", "bootstrap tokens are not supported"),
        ("K10" + "a" * 64 + "::abcdef.0123456789abcdef", "bootstrap tokens are not supported"),
    ],
)
def test_parse_token_errors(text: str, message: str) -> None:
    with pytest.raises(pki.TokenError) as info:
        pki.parse_token(text)
    assert str(info.value) == message


def test_format_token_hashes_the_ca_file_bytes(server_pki: pki.ServerPKI) -> None:
    token = pki.format_token(server_pki.server_ca_pem, "server", "pw")
    assert token == f"K10{hashlib.sha256(server_pki.server_ca_pem).hexdigest()}::server:pw"
    # a bundle hashes the DER of its root, so the hash survives a new intermediate in front of it
    bundle = server_pki.serving_cert_pem  # leaf followed by the server CA
    root_der = _leaf(server_pki.server_ca_pem).public_bytes(serialization.Encoding.DER)
    assert pki.hash_ca(bundle) == hashlib.sha256(root_der).hexdigest()


def test_admin_token(tmp_path: Path) -> None:
    path = tmp_path / "admin-token"
    token = pki.ensure_admin_token(path)
    assert re.fullmatch("[0-9a-f]{64}", token)
    assert _mode(path) == 0o600
    path.chmod(0o644)
    assert pki.ensure_admin_token(path) == token
    assert _mode(path) == 0o600
    assert pki.ensure_admin_token(tmp_path / "another") != token


def test_serving_spec_normalises_addresses() -> None:
    spec = pki._serving_spec(["LocalHost", ""], ["::0001", "10.43.0.1"])
    assert spec.dns_names.count("localhost") == 1 and "" not in spec.dns_names
    assert [ipaddress.ip_address(i) for i in spec.ips].count(ipaddress.ip_address("::1")) == 1


def test_server_process_never_loads_cryptography(tmp_path: Path) -> None:
    """Creating certificates runs in a child process; checking them needs only ssl and hashlib."""
    import subprocess
    import sys

    script = (
        "import sys, pathlib; from minik.pki import ensure_server_pki\n"
        "d = pathlib.Path(sys.argv[1])\n"
        "first = ensure_server_pki(d, hostnames=['h'], ips=['192.0.2.7'])\n"
        "again = ensure_server_pki(d, hostnames=['h'], ips=['192.0.2.7'])\n"
        "assert first == again\n"
        "first.server_ssl_context()\n"
        "print('cryptography' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "tls")], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert "192.0.2.7" in _sans((tmp_path / "tls" / "serving-kube-apiserver.crt").read_bytes())[1]
