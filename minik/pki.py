"""TLS material, kubeconfig and join tokens, laid out the way k3s lays them out.

Role in the flow: at start-up the server calls `ensure_server_pki` before it opens its listener, serves
HTTPS with `ServerPKI.server_ssl_context()`, writes the admin kubeconfig with `write_kubeconfig` and
the node/admin tokens; the authentication layer maps a verified client certificate to a user with
`identity_from_peercert` (CN = user, O = groups, as kube-apiserver's x509 authenticator does), and
node/agent code asks `issue_client_cert` for kubelet credentials.

Files under the TLS directory (k3s names): server-ca.crt/key, client-ca.crt/key,
serving-kube-apiserver.crt/key, client-admin.crt/key. Keys are EC P-256, mode 0600, in a 0700 dir.
Everything is created once and reused; only leaf certificates are re-issued (when they no longer
cover the requested names, were signed by another CA, or expire within 90 days).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import re
import secrets
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import yaml

CA_VALIDITY_DAYS = 3650
LEAF_VALIDITY_DAYS = 365
RENEW_BEFORE = dt.timedelta(days=90)
CLOCK_SKEW = dt.timedelta(minutes=5)  # backdate certificates so a slightly late peer clock accepts them

DEFAULT_HOSTNAMES = ("localhost",)
DEFAULT_IPS = ("127.0.0.1", "::1")
# The in-cluster names of the API server and the first address of k3s' service CIDR (10.43.0.0/16).
KUBERNETES_SERVICE_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
KUBERNETES_SERVICE_IP = "10.43.0.1"

ADMIN_USER = "system:admin"
ADMIN_GROUP = "system:masters"

TOKEN_PREFIX = "K10"
NODE_TOKEN_USER = "server"
_CA_HASH_LENGTH = 64  # hex sha256
_BOOTSTRAP_TOKEN_RE = re.compile(r"[a-z0-9]{6}\.[a-z0-9]{16}")  # kubeadm's <id>.<secret>


class TokenError(ValueError):
    """A token that does not parse; the messages are k3s'."""


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write via a temp file in the same directory and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)  # before any byte is written, and independent of the umask
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    os.chmod(path, mode)


def _read_optional(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


# --------------------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _ordered_unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


class ServingSpec(NamedTuple):
    """What the serving certificate must cover (names lower-cased, addresses normalised)."""

    dns_names: tuple[str, ...]
    ips: tuple[str, ...]


def _serving_spec(hostnames: Iterable[str], ips: Iterable[str]) -> ServingSpec:
    names = _ordered_unique(
        name.strip().lower() for name in (*DEFAULT_HOSTNAMES, *hostnames, *KUBERNETES_SERVICE_NAMES) if name.strip()
    )
    # normalise ("::0001" and "::1" are one address) and reject junk early with ipaddress' message
    addresses = _ordered_unique(
        str(ipaddress.ip_address(ip.strip())) for ip in (*DEFAULT_IPS, *ips, KUBERNETES_SERVICE_IP)
    )
    return ServingSpec(names, addresses)




@dataclass(frozen=True)
class ServerPKI:
    """The server's TLS material: file paths, PEM bytes, and what can be made from them."""

    tls_dir: Path
    server_ca_pem: bytes
    client_ca_pem: bytes
    serving_cert_pem: bytes  # leaf followed by the server CA, as k3s writes it
    serving_key_pem: bytes = field(repr=False)
    admin_cert_pem: bytes = b""
    admin_key_pem: bytes = field(default=b"", repr=False)
    client_ca_key_pem: bytes = field(default=b"", repr=False)

    @property
    def server_ca_path(self) -> Path:
        return self.tls_dir / "server-ca.crt"

    @property
    def server_ca_key_path(self) -> Path:
        return self.tls_dir / "server-ca.key"

    @property
    def client_ca_path(self) -> Path:
        return self.tls_dir / "client-ca.crt"

    @property
    def client_ca_key_path(self) -> Path:
        return self.tls_dir / "client-ca.key"

    @property
    def serving_cert_path(self) -> Path:
        return self.tls_dir / "serving-kube-apiserver.crt"

    @property
    def serving_key_path(self) -> Path:
        return self.tls_dir / "serving-kube-apiserver.key"

    @property
    def admin_cert_path(self) -> Path:
        return self.tls_dir / "client-admin.crt"

    @property
    def admin_key_path(self) -> Path:
        return self.tls_dir / "client-admin.key"

    def server_ssl_context(self) -> ssl.SSLContext:
        """TLS server context. Client certificates are requested and, when sent, verified against the
        client CA; sending none is allowed, so anonymous and token clients still connect (and get 401
        or their token's identity from the application)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.serving_cert_path, self.serving_key_path)
        context.load_verify_locations(cadata=self.client_ca_pem.decode("ascii"))
        context.verify_mode = ssl.CERT_OPTIONAL
        # aiohttp speaks HTTP/1.1 only; say so, or Go clients that offer h2 may pick it
        context.set_alpn_protocols(["http/1.1"])
        return context

    def issue_client_cert(
        self, common_name: str, organizations: Iterable[str], *, days: int = LEAF_VALIDITY_DAYS
    ) -> tuple[bytes, bytes]:
        """A client certificate (user `common_name`, groups `organizations`) signed by the client CA."""
        from .certs import issue_client_cert

        return issue_client_cert(self.client_ca_pem, self.client_ca_key_pem, common_name, organizations,
                                 days=days)


# The files of a server's PKI, and the record of what they are (written by `minik.certs`).
PKI_FILES = (
    "server-ca.crt", "server-ca.key", "client-ca.crt", "client-ca.key",
    "serving-kube-apiserver.crt", "serving-kube-apiserver.key", "client-admin.crt", "client-admin.key",
)
STATE_SUFFIX = ".state.json"  # beside the TLS directory (its contents are exactly k3s' layout)


def state_file(tls_dir: Path) -> Path:
    return tls_dir.with_name(tls_dir.name + STATE_SUFFIX)


def ensure_server_pki(tls_dir: Path, *, hostnames: list[str], ips: list[str]) -> ServerPKI:
    """Create the CAs and certificates on first use; afterwards reuse them, re-issuing only leaves
    that are missing, unreadable, signed by another CA, expiring within 90 days, or (serving
    certificate) missing one of `hostnames`/`ips`. Raises ValueError for an unparsable IP.

    Checking is cheap and needs no `cryptography`: the files must match the fingerprints recorded when
    they were made, and the record says what they cover and until when. Anything else (first start,
    a new address, files replaced by hand) goes through `minik.certs`, which verifies properly.
    """
    tls_dir = Path(tls_dir)
    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o700)
    serving = _serving_spec(hostnames, ips)  # validates the IPs before anything is written
    if not _current(tls_dir, serving):
        _make_certificates(tls_dir, serving)
    return _load(tls_dir)


def _current(tls_dir: Path, serving: ServingSpec) -> bool:
    try:
        state = json.loads(state_file(tls_dir).read_text())
        for name in PKI_FILES:
            if hashlib.sha256((tls_dir / name).read_bytes()).hexdigest() != state["sha256"][name]:
                return False
        not_after = dt.datetime.fromisoformat(state["not_after"])
        covered_dns, covered_ips = set(state["serving_dns"]), set(state["serving_ips"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not_after - _now() < RENEW_BEFORE:
        return False
    return set(serving.dns_names) <= covered_dns and set(serving.ips) <= covered_ips


def _make_certificates(tls_dir: Path, serving: ServingSpec) -> None:
    if "cryptography" in sys.modules:  # already paid for (tests, an agent issuing certificates)
        from .certs import ensure_certificates

        ensure_certificates(tls_dir, serving)
        return
    package_root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (package_root, os.environ.get("PYTHONPATH"))))}
    result = subprocess.run(
        [sys.executable, "-m", "minik.certs", str(tls_dir), "--dns", ",".join(serving.dns_names),
         "--ips", ",".join(serving.ips)],
        env=env, capture_output=True, text=True, timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cannot create TLS certificates in {tls_dir}: {result.stderr.strip()[-2000:]}")


def _load(tls_dir: Path) -> ServerPKI:
    def read(name: str) -> bytes:
        return (tls_dir / name).read_bytes()

    return ServerPKI(
        tls_dir=tls_dir,
        server_ca_pem=read("server-ca.crt"),
        client_ca_pem=read("client-ca.crt"),
        serving_cert_pem=read("serving-kube-apiserver.crt"),
        serving_key_pem=read("serving-kube-apiserver.key"),
        admin_cert_pem=read("client-admin.crt"),
        admin_key_pem=read("client-admin.key"),
        client_ca_key_pem=read("client-ca.key"),
    )


def identity_from_peercert(peercert: dict | None) -> tuple[str, list[str]] | None:
    """(user, groups) from `SSLObject.getpeercert()`: CN is the user, each O a group.

    None when there is no (verified) certificate or it has no CN; with several CNs the last one
    counts, as Go's pkix.Name does.
    """
    if not peercert:
        return None
    common_name = ""
    groups: list[str] = []
    for rdn in peercert.get("subject", ()):
        for attribute, value in rdn:
            if attribute == "commonName":
                common_name = value
            elif attribute == "organizationName":
                groups.append(value)
    if not common_name:
        return None
    return common_name, groups


# --------------------------------------------------------------------------------------------------
# kubeconfig
# --------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def write_kubeconfig(
    path: Path,
    *,
    server_url: str,
    ca_pem: bytes,
    client_cert_pem: bytes,
    client_key_pem: bytes,
    mode: int = 0o600,
    name: str = "default",
) -> None:
    """Write a self-contained kubeconfig (data embedded, cluster/context/user all named `name`,
    current-context set), atomically, with `mode` applied even when the file already existed."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server_url, "certificate-authority-data": _b64(ca_pem)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
        "users": [
            {
                "name": name,
                "user": {"client-certificate-data": _b64(client_cert_pem), "client-key-data": _b64(client_key_pem)},
            }
        ],
    }
    text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    _write_atomic(Path(path), text.encode("utf-8"), mode)


# --------------------------------------------------------------------------------------------------
# Tokens (k3s pkg/clientaccess/token.go)
# --------------------------------------------------------------------------------------------------


def hash_ca(ca_pem: bytes) -> str:
    """k3s' CA hash: sha256 hex of the file bytes for a single certificate; for a bundle, of the DER
    of its self-signed root (so a renewed intermediate keeps the hash)."""
    if ca_pem.count(b"-----BEGIN CERTIFICATE-----") <= 1:
        return hashlib.sha256(ca_pem).hexdigest()
    from cryptography import x509  # a bundle (rare): find its root
    from cryptography.hazmat.primitives import serialization

    try:
        certs = x509.load_pem_x509_certificates(ca_pem)
    except ValueError:
        certs = []
    if len(certs) > 1:
        roots = [c for c in certs[1:] if c.subject == c.issuer]
        if roots:
            return hashlib.sha256(roots[-1].public_bytes(serialization.Encoding.DER)).hexdigest()
    return hashlib.sha256(ca_pem).hexdigest()


def format_token(ca_pem: bytes, username: str, password: str) -> str:
    """`K10<ca hash>::<username>:<password>`."""
    return f"{TOKEN_PREFIX}{hash_ca(ca_pem)}::{username}:{password}"


def parse_token(text: str) -> tuple[str | None, str, str]:
    """(ca_hash or None, username, password) from a full K10 token or a bare password.

    As in k3s, anything without the K10 prefix is a bare password (empty username), colons
    included. Kubeadm-style bootstrap tokens (`abcdef.0123456789abcdef`), which k3s also accepts,
    are refused here.
    """
    token = text.strip()
    if not token:
        raise TokenError("token must not be empty")
    if not token.startswith(TOKEN_PREFIX):
        token = f"{TOKEN_PREFIX}::{token}" if _BOOTSTRAP_TOKEN_RE.fullmatch(token) else f"{TOKEN_PREFIX}:::{token}"
    token = token[len(TOKEN_PREFIX) :]
    ca_hash: str | None = None
    if "::" in token:
        ca_hash, token = token.split("::", 1)
        if ca_hash and len(ca_hash) != _CA_HASH_LENGTH:
            raise TokenError("invalid token CA hash length")
    if _BOOTSTRAP_TOKEN_RE.fullmatch(token):
        raise TokenError("bootstrap tokens are not supported")
    username, sep, password = token.partition(":")
    if not sep or not password:
        raise TokenError("invalid token format")
    return ca_hash or None, username, password


def ensure_node_token(path: Path, ca_pem: bytes) -> str:
    """The join token agents use; the secret in an existing file is kept, the CA hash refreshed."""
    path = Path(path)
    existing = _read_optional(path)
    credentials = (NODE_TOKEN_USER, secrets.token_hex(16))
    if existing is not None:
        try:
            _, username, password = parse_token(existing.decode("utf-8"))
            credentials = (username or NODE_TOKEN_USER, password)
        except (TokenError, UnicodeDecodeError):
            pass  # unreadable: replace it with a fresh token
    token = format_token(ca_pem, *credentials)
    if existing is None or existing.decode("utf-8", "replace").strip() != token:
        _write_atomic(path, (token + "\n").encode("utf-8"), 0o600)
    else:
        os.chmod(path, 0o600)
    return token


def ensure_admin_token(path: Path) -> str:
    """A static bearer token for the admin, created once (0600) and reused."""
    path = Path(path)
    existing = _read_optional(path)
    if existing is not None:
        token = existing.decode("utf-8", "replace").strip()
        if token:
            os.chmod(path, 0o600)
            return token
    token = secrets.token_hex(32)
    _write_atomic(path, (token + "\n").encode("utf-8"), 0o600)
    return token
