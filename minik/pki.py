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
import os
import re
import secrets
import ssl
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # SEC1 "EC PRIVATE KEY", the form k3s writes
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str, organizations: Iterable[str] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _new_ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_key()
    now = _now()
    subject = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=CA_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


@dataclass(frozen=True, slots=True)
class _LeafSpec:
    subject: x509.Name
    usage: x509.ObjectIdentifier  # serverAuth or clientAuth
    dns_names: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    days: int = LEAF_VALIDITY_DAYS


def _issue_leaf(
    spec: _LeafSpec, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_key()
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(spec.subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=spec.days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([spec.usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if spec.dns_names or spec.ips:
        general_names: list[x509.GeneralName] = [x509.DNSName(name) for name in spec.dns_names]
        general_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in spec.ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _load_first_cert(pem: bytes) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificates(pem)[0]
    except ValueError:
        return None


def _load_key(pem: bytes | None) -> ec.EllipticCurvePrivateKey | None:
    if pem is None:
        return None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _public_der(public_key: object) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _key_matches(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    return _public_der(cert.public_key()) == _public_der(key.public_key())


def _leaf_still_good(
    cert_pem: bytes | None,
    key_pem: bytes | None,
    *,
    ca_cert: x509.Certificate,
    spec: _LeafSpec,
) -> bool:
    """Reuse a leaf only if it parses, pairs with its key, is signed by `ca_cert`, covers the
    requested names and addresses, and has more than RENEW_BEFORE left."""
    cert = _load_first_cert(cert_pem) if cert_pem else None
    key = _load_key(key_pem)
    if cert is None or key is None or not _key_matches(cert, key):
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if cert.not_valid_after_utc - _now() < RENEW_BEFORE:
        return False
    if not spec.dns_names and not spec.ips:
        return True
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_dns = {name.lower() for name in san.get_values_for_type(x509.DNSName)}
    have_ips = set(san.get_values_for_type(x509.IPAddress))
    return {n.lower() for n in spec.dns_names} <= have_dns and {ipaddress.ip_address(i) for i in spec.ips} <= have_ips


def _ordered_unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _serving_spec(hostnames: Iterable[str], ips: Iterable[str]) -> _LeafSpec:
    names = _ordered_unique(
        name.strip().lower() for name in (*DEFAULT_HOSTNAMES, *hostnames, *KUBERNETES_SERVICE_NAMES) if name.strip()
    )
    # normalise ("::0001" and "::1" are one address) and reject junk early with ipaddress' message
    addresses = _ordered_unique(
        str(ipaddress.ip_address(ip.strip())) for ip in (*DEFAULT_IPS, *ips, KUBERNETES_SERVICE_IP)
    )
    return _LeafSpec(_name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, names, addresses)


_ADMIN_SPEC = _LeafSpec(_name(ADMIN_USER, [ADMIN_GROUP]), ExtendedKeyUsageOID.CLIENT_AUTH)


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
        ca_cert = _load_first_cert(self.client_ca_pem)
        ca_key = _load_key(self.client_ca_key_pem)
        if ca_cert is None or ca_key is None:
            raise ValueError("the client CA certificate or key is unreadable")
        spec = _LeafSpec(_name(common_name, list(organizations)), ExtendedKeyUsageOID.CLIENT_AUTH, days=days)
        cert, key = _issue_leaf(spec, ca_cert, ca_key)
        return _cert_pem(cert), _key_pem(key)


def _ensure_ca(tls_dir: Path, stem: str, common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, bool]:
    """Load `<stem>.crt/.key` or create them; the flag says whether a new CA was made."""
    cert_path, key_path = tls_dir / f"{stem}.crt", tls_dir / f"{stem}.key"
    cert_pem, key = _read_optional(cert_path), _load_key(_read_optional(key_path))
    cert = _load_first_cert(cert_pem) if cert_pem else None
    if cert is not None and key is not None and _key_matches(cert, key):
        return cert, key, False
    cert, key = _new_ca(f"{common_name}@{int(_now().timestamp())}")
    _write_atomic(key_path, _key_pem(key), 0o600)
    _write_atomic(cert_path, _cert_pem(cert), 0o644)
    return cert, key, True


def _ensure_leaf(
    tls_dir: Path,
    stem: str,
    *,
    spec: _LeafSpec,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
) -> tuple[bytes, bytes]:
    cert_path, key_path = tls_dir / f"{stem}.crt", tls_dir / f"{stem}.key"
    cert_pem, key_pem = _read_optional(cert_path), _read_optional(key_path)
    ca_cert, ca_key = ca
    if cert_pem is not None and key_pem is not None and _leaf_still_good(cert_pem, key_pem, ca_cert=ca_cert, spec=spec):
        return cert_pem, key_pem
    cert, key = _issue_leaf(spec, ca_cert, ca_key)
    cert_pem = _cert_pem(cert) + _cert_pem(ca_cert)
    key_pem = _key_pem(key)
    _write_atomic(key_path, key_pem, 0o600)
    _write_atomic(cert_path, cert_pem, 0o644)
    return cert_pem, key_pem


def ensure_server_pki(tls_dir: Path, *, hostnames: list[str], ips: list[str]) -> ServerPKI:
    """Create the CAs and certificates on first use; afterwards reuse them, re-issuing only leaves
    that are missing, unreadable, signed by another CA, expiring within 90 days, or (serving
    certificate) missing one of `hostnames`/`ips`. Raises ValueError for an unparsable IP."""
    tls_dir = Path(tls_dir)
    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o700)
    serving_spec = _serving_spec(hostnames, ips)  # validates the IPs before anything is written
    server_ca = _ensure_ca(tls_dir, "server-ca", "minik-server-ca")
    client_ca = _ensure_ca(tls_dir, "client-ca", "minik-client-ca")
    serving_cert_pem, serving_key_pem = _ensure_leaf(
        tls_dir, "serving-kube-apiserver", spec=serving_spec, ca=server_ca[:2]
    )
    admin_cert_pem, admin_key_pem = _ensure_leaf(tls_dir, "client-admin", spec=_ADMIN_SPEC, ca=client_ca[:2])
    return ServerPKI(
        tls_dir=tls_dir,
        server_ca_pem=_cert_pem(server_ca[0]),
        client_ca_pem=_cert_pem(client_ca[0]),
        serving_cert_pem=serving_cert_pem,
        serving_key_pem=serving_key_pem,
        admin_cert_pem=admin_cert_pem,
        admin_key_pem=admin_key_pem,
        client_ca_key_pem=_key_pem(client_ca[1]),
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
