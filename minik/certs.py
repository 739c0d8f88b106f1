"""Certificate creation: CAs, the serving certificate, client certificates (uses `cryptography`).

Part of the PKI beside the API layer, and deliberately separate from `minik.pki`: creating certificates
needs the `cryptography` package (about 8 MiB of native code once loaded), checking and using them does
not. `minik.pki.ensure_server_pki` runs this module in a short-lived child process (`python -m
minik.certs`) when certificates are missing or stale, so a running server never loads it; an agent that
issues node certificates loads it when it does. Time comes from `minik.pki._now` (tests move it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import ipaddress
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import pki
from .pki import (
    ADMIN_GROUP,
    ADMIN_USER,
    CA_VALIDITY_DAYS,
    CLOCK_SKEW,
    LEAF_VALIDITY_DAYS,
    PKI_FILES,
    RENEW_BEFORE,
    ServingSpec,
    _read_optional,
    _write_atomic,
    state_file,
)


def _now() -> dt.datetime:
    return pki._now()


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


_ADMIN_SPEC = _LeafSpec(_name(ADMIN_USER, [ADMIN_GROUP]), ExtendedKeyUsageOID.CLIENT_AUTH)


def _leaf_spec(serving: ServingSpec) -> _LeafSpec:
    return _LeafSpec(_name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, serving.dns_names, serving.ips)


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


def ensure_certificates(tls_dir: Path, serving: ServingSpec) -> None:
    """Create what is missing or stale under `tls_dir` (see `minik.pki.ensure_server_pki`), then record
    the files' fingerprints and what the leaves cover, so later starts can trust them without this module."""
    server_ca = _ensure_ca(tls_dir, "server-ca", "minik-server-ca")
    client_ca = _ensure_ca(tls_dir, "client-ca", "minik-client-ca")
    spec = _leaf_spec(serving)
    serving_cert_pem, _ = _ensure_leaf(tls_dir, "serving-kube-apiserver", spec=spec, ca=server_ca[:2])
    admin_cert_pem, _ = _ensure_leaf(tls_dir, "client-admin", spec=_ADMIN_SPEC, ca=client_ca[:2])
    serving = _load_first_cert(serving_cert_pem)
    san = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    state = {
        "sha256": {name: hashlib.sha256((tls_dir / name).read_bytes()).hexdigest() for name in PKI_FILES},
        "serving_dns": sorted(name.lower() for name in san.get_values_for_type(x509.DNSName)),
        "serving_ips": sorted(str(ip) for ip in san.get_values_for_type(x509.IPAddress)),
        "not_after": min(serving.not_valid_after_utc,
                         _load_first_cert(admin_cert_pem).not_valid_after_utc).isoformat(),
    }
    _write_atomic(state_file(tls_dir), json.dumps(state, indent=1).encode(), 0o600)


def issue_client_cert(client_ca_pem: bytes, client_ca_key_pem: bytes, common_name: str,
                      organizations: Iterable[str], *, days: int = LEAF_VALIDITY_DAYS) -> tuple[bytes, bytes]:
    """A client certificate (user `common_name`, groups `organizations`) signed by the client CA."""
    ca_cert = _load_first_cert(client_ca_pem)
    ca_key = _load_key(client_ca_key_pem)
    if ca_cert is None or ca_key is None:
        raise ValueError("the client CA certificate or key is unreadable")
    spec = _LeafSpec(_name(common_name, list(organizations)), ExtendedKeyUsageOID.CLIENT_AUTH, days=days)
    cert, key = _issue_leaf(spec, ca_cert, ca_key)
    return _cert_pem(cert), _key_pem(key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minik.certs")
    parser.add_argument("tls_dir", type=Path)
    parser.add_argument("--dns", default="")
    parser.add_argument("--ips", default="")
    args = parser.parse_args(argv)
    dns = tuple(n for n in args.dns.split(",") if n)
    ips = tuple(i for i in args.ips.split(",") if i)
    ensure_certificates(args.tls_dir, ServingSpec(dns, ips))
    return 0


if __name__ == "__main__":
    sys.exit(main())
