"""The data space's certificate authority, party identities and TLS contexts.

Every node and the hub of a data space holds an X.509 identity issued by the data space's own
CA; all traffic between them is mutually authenticated TLS 1.3 that trusts that CA and nothing
else. ``docs/identity.md`` is the operator's guide to the files this module writes.

Guarantees:

* Private keys (ECDSA P-256, PKCS#8 PEM) are created with mode 0600 by ``os.open`` itself, so
  no other user can read them at any moment, and never overwrite an existing file (``O_EXCL``).
  Loading a key that group or others can read is refused (POSIX only), as ssh does.
* The CA and party directories this module creates have mode 0700.
* Existing CAs and identities are never overwritten: :func:`init_ca` raises
  :class:`~shuyu.errors.CaExists`, :func:`issue_certificate` raises
  :class:`~shuyu.errors.CertificateExists`.
* A party certificate names exactly one party (subject CN and the first DNS SAN are the party
  name), cannot sign other certificates (``CA:FALSE``), is good for TLS servers and clients
  only, has a random 159-bit serial number and never outlives its CA.
* :func:`server_context` and :func:`client_context` speak TLS 1.3 only, require and verify the
  peer's certificate against this data space's CA alone (no system roots), check the peer's
  host name on the client side, and send no session tickets, so after the handshake a
  connection carries nothing but application data.

What it leaks: certificates are public by design; they reveal party names, the host names and
addresses they were issued for, and their validity windows. Nothing here prints or logs key
material.

This module imports only :mod:`shuyu.errors` (layer 2 of the package).

Example:
    >>> import tempfile, pathlib
    >>> scratch = tempfile.TemporaryDirectory()
    >>> root = pathlib.Path(scratch.name)
    >>> ca = init_ca(root / "ca")
    >>> alice = issue_certificate(root / "ca", "alice", out_dir=root / "alice")
    >>> sorted(path.name for path in (root / "alice").iterdir())
    ['alice-key.pem', 'alice.pem', 'ca.pem']
    >>> server_context(load_identity(root / "alice", "alice")).minimum_version
    <TLSVersion.TLSv1_3: 772>
    >>> scratch.cleanup()
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shuyu.errors import (
    CaExists,
    CaMissing,
    CertificateExists,
    IdentityError,
    InvalidInput,
    InvalidName,
    UntrustedPeer,
)

__all__ = [
    "CA_CERT_FILE",
    "CA_KEY_FILE",
    "CaPaths",
    "Identity",
    "IdentityPaths",
    "as_untrusted_peer",
    "certificate_fingerprint",
    "client_context",
    "init_ca",
    "issue_certificate",
    "load_identity",
    "peer_name",
    "server_context",
    "validate_name",
]

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"

# RFC 1123 host-name label, narrowed to lower case and to a leading letter: a party name is
# also its certificate's DNS name, a file name and a CN, so it must be valid as all three.
_NAME_PATTERN = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
# These would make NAME.pem / NAME-key.pem collide with the CA's own files.
_RESERVED_NAMES = frozenset({"ca", "ca-key"})
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DEFAULT_DNS_NAMES = ("localhost",)
_DEFAULT_IP_ADDRESSES = ("127.0.0.1",)
# Certificates start slightly in the past so that a peer whose clock is a little behind
# still accepts a certificate issued a moment ago.
_CLOCK_SKEW = datetime.timedelta(minutes=5)
_MAX_VALIDITY_DAYS = 36500

# OpenSSL reasons (``ssl.SSLError.reason``) meaning that the *peer* refused our certificate,
# or that the peer sent none.
_REJECTION_REASONS = frozenset(
    {
        "PEER_DID_NOT_RETURN_A_CERTIFICATE",
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "CERTIFICATE_VERIFY_FAILED",
    }
)


@dataclass(frozen=True)
class CaPaths:
    """Where a data space's CA lives.

    Attributes:
        directory: the CA directory (mode 0700 when :func:`init_ca` created it).
        cert_path: the self-signed CA certificate, ``ca.pem``; public, copy it to every party.
        key_path: the CA's private key, ``ca-key.pem`` (mode 0600); keep it off the parties.
    """

    directory: Path
    cert_path: Path
    key_path: Path


@dataclass(frozen=True)
class Identity:
    """One party's TLS identity: everything :func:`server_context` and :func:`client_context` need.

    Attributes:
        name: the party name, also the certificate's CN and first DNS name.
        cert_path: the party certificate, ``NAME.pem``.
        key_path: the party's private key, ``NAME-key.pem`` (mode 0600).
        ca_path: the data space's CA certificate, the only trust anchor.
    """

    name: str
    cert_path: Path
    key_path: Path
    ca_path: Path


IdentityPaths = Identity
"""What :func:`issue_certificate` returns: the same record :func:`load_identity` builds."""


# --- names ---------------------------------------------------------------------------------


def validate_name(name: str) -> str:
    """Check a CA or party name and return it unchanged.

    A name has 1-63 characters: lower-case letters, digits and '-', starting with a letter and
    not ending with '-' (a valid DNS label, because it becomes the certificate's DNS name).

    Raises:
        InvalidName: the name breaks a rule above, or is reserved (``ca``, ``ca-key``).

    Example:
        >>> validate_name("bank-a")
        'bank-a'
        >>> validate_name("Bank_A")
        Traceback (most recent call last):
        ...
        shuyu.errors.InvalidName: [identity.invalid_name] invalid name 'Bank_A'
    """
    if not isinstance(name, str) or _NAME_PATTERN.fullmatch(name) is None:
        raise InvalidName(f"invalid name {name!r}")
    if name in _RESERVED_NAMES:
        raise InvalidName(
            f"the name {name!r} is reserved for the CA's own files",
            hint="Choose another name; 'ca' and 'ca-key' are reserved.",
        )
    return name


def _validate_dns_name(dns_name: str) -> str:
    labels = dns_name.split(".")
    if (
        not dns_name
        or len(dns_name) > 253
        or not all(_DNS_LABEL.fullmatch(label) for label in labels)
    ):
        raise InvalidInput(
            f"invalid DNS name {dns_name!r}",
            hint="Give a lower-case host name such as node-1.example.com (no wildcards).",
        )
    return dns_name


def _parse_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        raise InvalidInput(
            f"invalid IP address {address!r}",
            hint="Give an IPv4 or IPv6 address such as 10.0.0.5 or ::1.",
        ) from None


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- files ---------------------------------------------------------------------------------


def _make_private_directory(directory: Path) -> None:
    """Create ``directory`` with mode 0700 (parents as usual); leave an existing one alone."""
    if directory.is_dir():
        return
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        directory.mkdir(mode=0o700)
        # mkdir's mode is filtered by the umask; the directory is still empty here.
        directory.chmod(0o700)
    except OSError as exc:
        raise IdentityError(
            f"cannot create directory {directory}: {exc.strerror}",
            hint="Choose a directory you can write to.",
        ) from None


def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a file that must not exist yet, created with ``mode`` from the start.

    Raises:
        FileExistsError: the path exists (even as a dangling symbolic link).
        IdentityError: any other OS error.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags, mode)
    except FileExistsError:
        raise
    except OSError as exc:
        raise IdentityError(
            f"cannot create {path}: {exc.strerror}",
            hint="Choose a directory you can write to.",
        ) from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise IdentityError(f"cannot write {path}: {exc.strerror}") from None


def _check_private(path: Path) -> None:
    """Refuse a private key that group or others may read (as ssh does)."""
    if os.name != "posix":
        return
    try:
        mode = path.stat().st_mode & 0o777
    except OSError as exc:
        raise IdentityError(f"cannot read private key {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise IdentityError(
            f"private key {path} has mode {mode:04o}; other users may read it",
            hint=f"Run `chmod 600 {path}`, and issue a new key if others may have read it.",
        )


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IdentityError(f"cannot read {what} {path}: {exc.strerror}") from None


def _private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Path]:
    cert_path, key_path = directory / CA_CERT_FILE, directory / CA_KEY_FILE
    if not cert_path.is_file() or not key_path.is_file():
        raise CaMissing(
            f"no data space CA in {directory} (expected {CA_CERT_FILE} and {CA_KEY_FILE})"
        )
    _check_private(key_path)
    try:
        certificate = x509.load_pem_x509_certificate(_read_bytes(cert_path, "CA certificate"))
        key = serialization.load_pem_private_key(_read_bytes(key_path, "CA key"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise IdentityError(
            f"the CA files in {directory} are not a PEM certificate and unencrypted key",
            hint="Restore ca.pem and ca-key.pem as written by `shuyu ca init`.",
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or (
        key.public_key().public_numbers() != _ec_public_numbers(certificate)
    ):
        raise IdentityError(
            f"{key_path} is not the private key of {cert_path}",
            hint="Restore the matching pair written by `shuyu ca init`.",
        )
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise IdentityError(
            f"{cert_path} is not a CA certificate written by `shuyu ca init`",
            hint="Point at the data space's CA directory.",
        )
    if certificate.not_valid_after_utc <= _now():
        raise IdentityError(
            f"the data space CA in {directory} expired on "
            f"{certificate.not_valid_after_utc:%Y-%m-%d}",
            hint="Create a new CA and issue every party a new certificate.",
        )
    return certificate, key, cert_path


def _ec_public_numbers(certificate: x509.Certificate) -> ec.EllipticCurvePublicNumbers | None:
    public_key = certificate.public_key()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_numbers()
    return None


def _key_usage(
    *, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _check_days(validity_days: int) -> None:
    if (
        isinstance(validity_days, bool)
        or not isinstance(validity_days, int)
        or not 1 <= validity_days <= _MAX_VALIDITY_DAYS
    ):
        raise InvalidInput(
            f"validity must be a whole number of days from 1 to {_MAX_VALIDITY_DAYS}, "
            f"got {validity_days!r}",
            hint="Give the validity in days, e.g. --days 825.",
        )


# --- the CA --------------------------------------------------------------------------------


def init_ca(
    directory: str | os.PathLike[str],
    name: str = "shuyu-data-space",
    validity_days: int = 3650,
) -> CaPaths:
    """Create the data space's CA: a self-signed certificate and its ECDSA P-256 key.

    Writes ``ca.pem`` (mode 0644) and ``ca-key.pem`` (mode 0600 from creation) in
    ``directory``, which is created with mode 0700 if it does not exist. The certificate is
    ``CA:TRUE, pathlen:0`` (critical), may only sign certificates and CRLs, and carries subject
    and authority key identifiers.

    Args:
        directory: where to put the CA; an existing directory keeps its mode.
        name: the CA's common name (same rules as a party name).
        validity_days: how long the CA certificate is valid.

    Returns:
        The paths written.

    Raises:
        InvalidName: ``name`` is not a valid name.
        CaExists: ``directory`` already holds a CA certificate or key.
        IdentityError: the files cannot be written.
    """
    validate_name(name)
    _check_days(validity_days)
    directory = Path(directory)
    paths = CaPaths(directory, directory / CA_CERT_FILE, directory / CA_KEY_FILE)
    if paths.cert_path.exists() or paths.key_path.exists():
        raise CaExists(f"a data space CA already exists in {directory}")
    _make_private_directory(directory)

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    key_id = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(key_id, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(key_id),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    try:
        _write_new_file(paths.key_path, _private_key_pem(key), 0o600)
    except FileExistsError:
        raise CaExists(f"a data space CA already exists in {directory}") from None
    try:
        _write_new_file(
            paths.cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644
        )
    except FileExistsError:
        paths.key_path.unlink(missing_ok=True)
        raise CaExists(f"a data space CA already exists in {directory}") from None
    except IdentityError:
        paths.key_path.unlink(missing_ok=True)
        raise
    return paths


def _party_certificate(
    name: str,
    public_key: ec.EllipticCurvePublicKey,
    *,
    ca_certificate: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    dns: Sequence[str],
    ips: Sequence[str],
    validity_days: int,
) -> x509.Certificate:
    """Party ``name``'s certificate for ``key``, signed by the CA (see issue_certificate)."""
    now = _now()
    not_after = min(
        now + datetime.timedelta(days=validity_days), ca_certificate.not_valid_after_utc
    )
    san: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    san += [x509.IPAddress(_parse_ip(address)) for address in ips]
    ca_key_id = ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id.value),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def issue_certificate(
    ca_dir: str | os.PathLike[str],
    name: str,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    validity_days: int = 825,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
) -> IdentityPaths:
    """Issue a party certificate signed by the data space's CA.

    The certificate has CN=``name``; subject alternative names DNS ``name``, ``localhost``,
    IP ``127.0.0.1`` and any extra ``dns_names``/``ip_addresses``; extended key usage TLS
    server and client; ``CA:FALSE``; and a random serial number. It expires with the CA at the
    latest. The key is a fresh ECDSA P-256 key.

    Writes ``NAME.pem`` and ``NAME-key.pem`` (mode 0600 from creation) in ``out_dir``. When
    ``out_dir`` is not the CA directory it is created with mode 0700 and receives a copy of
    ``ca.pem`` as well, so that it is a complete identity directory to hand to the party
    (never the CA key).

    Args:
        ca_dir: the CA directory made by :func:`init_ca`.
        name: the party name.
        out_dir: where to write the identity (default: ``ca_dir``).
        validity_days: how long the certificate is valid (capped at the CA's expiry).
        dns_names: extra DNS names the party is reached at.
        ip_addresses: extra IP addresses the party is reached at.

    Returns:
        The identity's paths, ready for :func:`server_context` / :func:`client_context`.

    Raises:
        InvalidName: ``name`` is not a valid name.
        InvalidInput: a DNS name, IP address or validity is invalid.
        CaMissing: ``ca_dir`` holds no CA.
        CertificateExists: ``NAME.pem`` or ``NAME-key.pem`` exists in ``out_dir``.
        IdentityError: ``out_dir`` trusts another CA, or files cannot be read or written.
    """
    validate_name(name)
    _check_days(validity_days)
    dns = _unique([name, *_DEFAULT_DNS_NAMES, *(_validate_dns_name(d) for d in dns_names)])
    ips = _unique(str(_parse_ip(address)) for address in (*_DEFAULT_IP_ADDRESSES, *ip_addresses))
    ca_directory = Path(ca_dir)
    ca_certificate, ca_key, ca_cert_path = _load_ca(ca_directory)
    target = Path(out_dir) if out_dir is not None else ca_directory
    identity = Identity(
        name=name,
        cert_path=target / f"{name}.pem",
        key_path=target / f"{name}-key.pem",
        ca_path=target / CA_CERT_FILE,
    )
    if identity.cert_path.exists() or identity.key_path.exists():
        raise CertificateExists(f"an identity named {name!r} already exists in {target}")
    _make_private_directory(target)
    ca_pem = _read_bytes(ca_cert_path, "CA certificate")
    copy_ca = not identity.ca_path.exists()
    if not copy_ca and _read_bytes(identity.ca_path, "CA certificate") != ca_pem:
        raise IdentityError(
            f"{identity.ca_path} is the certificate of another CA",
            hint="Give each data space its own output directory.",
        )

    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _party_certificate(
        name,
        key.public_key(),
        ca_certificate=ca_certificate,
        ca_key=ca_key,
        dns=dns,
        ips=ips,
        validity_days=validity_days,
    )

    written: list[Path] = []
    try:
        for path, data, mode in (
            (identity.key_path, _private_key_pem(key), 0o600),
            (identity.cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644),
        ):
            _write_new_file(path, data, mode)
            written.append(path)
        if copy_ca:
            try:
                _write_new_file(identity.ca_path, ca_pem, 0o644)
            except FileExistsError:
                # Another issuance into the same directory copied it meanwhile; check it.
                if _read_bytes(identity.ca_path, "CA certificate") != ca_pem:
                    raise IdentityError(
                        f"{identity.ca_path} is the certificate of another CA"
                    ) from None
    except FileExistsError:
        for path in written:
            path.unlink(missing_ok=True)
        raise CertificateExists(f"an identity named {name!r} already exists in {target}") from None
    except IdentityError:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return identity


def make_request(name: str) -> tuple[bytes, bytes]:
    """A fresh ECDSA P-256 key and a certificate signing request for ``name`` (PEM, PEM): the
    key never leaves the party that calls this (``shuyu node join``)."""
    validate_name(name)
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    return _private_key_pem(key), request.public_bytes(serialization.Encoding.PEM)


def sign_request(
    ca_dir: str | os.PathLike[str],
    request_pem: bytes,
    name: str,
    *,
    validity_days: int = 825,
    ip_addresses: Sequence[str] = (),
) -> tuple[bytes, bytes]:
    """The CA's certificate for a signing request whose subject is ``name`` (certificate PEM,
    CA certificate PEM), with the same extensions as :func:`issue_certificate`.

    Raises:
        InvalidInput: the request does not parse, its signature is wrong, it names another
            party, or its key is not ECDSA P-256.
    """
    validate_name(name)
    _check_days(validity_days)
    try:
        request = x509.load_pem_x509_csr(request_pem)
    except ValueError:
        raise InvalidInput("the certificate signing request is not PEM") from None
    if not request.is_signature_valid:
        raise InvalidInput("the certificate signing request's signature is not valid")
    if _common_name(request.subject) != name:
        raise InvalidInput(f"the certificate signing request is not for {name!r}")
    public_key = request.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise InvalidInput("the certificate signing request's key must be ECDSA P-256")
    dns = _unique([name, *_DEFAULT_DNS_NAMES])
    ips = _unique(str(_parse_ip(address)) for address in (*_DEFAULT_IP_ADDRESSES, *ip_addresses))
    ca_certificate, ca_key, ca_cert_path = _load_ca(Path(ca_dir))
    certificate = _party_certificate(
        name,
        public_key,
        ca_certificate=ca_certificate,
        ca_key=ca_key,
        dns=dns,
        ips=ips,
        validity_days=validity_days,
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    return pem, _read_bytes(ca_cert_path, "CA certificate")


def write_identity(
    directory: str | os.PathLike[str], name: str, key_pem: bytes, cert_pem: bytes, ca_pem: bytes
) -> Identity:
    """Store an identity obtained through :func:`sign_request` (the key 0600 from creation)."""
    target = Path(directory)
    _make_private_directory(target)
    identity = Identity(
        name=name,
        cert_path=target / f"{name}.pem",
        key_path=target / f"{name}-key.pem",
        ca_path=target / CA_CERT_FILE,
    )
    try:
        _write_new_file(identity.key_path, key_pem, 0o600)
        _write_new_file(identity.cert_path, cert_pem, 0o644)
        _write_new_file(identity.ca_path, ca_pem, 0o644)
    except FileExistsError:
        raise CertificateExists(f"an identity named {name!r} already exists in {target}") from None
    return identity


def certificate_fingerprint(path: str | os.PathLike[str]) -> str:
    """The SHA-256 fingerprint of a PEM certificate, as colon-separated upper-case hex.

    This is what operators compare out of band when they install a CA certificate.

    Raises:
        IdentityError: the file is unreadable or not a PEM certificate.
    """
    path = Path(path)
    try:
        certificate = x509.load_pem_x509_certificate(_read_bytes(path, "certificate"))
    except ValueError:
        raise IdentityError(f"{path} is not a PEM certificate") from None
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2)).upper()


# --- identities and TLS --------------------------------------------------------------------


def load_identity(directory: str | os.PathLike[str], name: str) -> Identity:
    """Find party ``name``'s identity in ``directory`` (``NAME.pem``, ``NAME-key.pem``, ``ca.pem``).

    Checks that the files exist, that the key is private to its owner and that the certificate
    was issued to ``name`` by the CA in ``ca.pem``.

    Raises:
        InvalidName: ``name`` is not a valid name.
        CaMissing: ``ca.pem`` is missing.
        IdentityError: the certificate or key is missing, unreadable, readable by others, or
            the certificate is not ``name``'s or not signed by that CA.
    """
    validate_name(name)
    directory = Path(directory)
    identity = Identity(
        name=name,
        cert_path=directory / f"{name}.pem",
        key_path=directory / f"{name}-key.pem",
        ca_path=directory / CA_CERT_FILE,
    )
    if not identity.ca_path.is_file():
        raise CaMissing(
            f"no CA certificate {CA_CERT_FILE} in {directory}",
            hint="Copy the data space's ca.pem next to the party's certificate.",
        )
    for path in (identity.cert_path, identity.key_path):
        if not path.is_file():
            raise IdentityError(
                f"no identity {name!r} in {directory}: {path.name} is missing",
                hint=f"Issue one with `shuyu ca issue CA_DIR {name} --out {directory}`.",
            )
    _check_private(identity.key_path)
    try:
        certificate = x509.load_pem_x509_certificate(_read_bytes(identity.cert_path, "cert"))
        ca_certificate = x509.load_pem_x509_certificate(_read_bytes(identity.ca_path, "CA"))
    except ValueError:
        raise IdentityError(f"{identity.cert_path} or {identity.ca_path} is not PEM") from None
    if _common_name(certificate.subject) != name:
        raise IdentityError(f"{identity.cert_path} was not issued to {name!r}")
    try:
        certificate.verify_directly_issued_by(ca_certificate)
    except (ValueError, TypeError, InvalidSignature):
        raise IdentityError(
            f"{identity.cert_path} was not issued by the CA in {identity.ca_path}",
            hint="Issue a new certificate with this data space's CA.",
        ) from None
    return identity


def _common_name(name: x509.Name) -> str | None:
    attributes = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return None
    value = attributes[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _base_context(identity: Identity, *, server_side: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    # RFC 5280 checks the default chain builder skips (e.g. missing key identifiers).
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    _check_private(identity.key_path)
    try:
        context.load_cert_chain(identity.cert_path, identity.key_path)
        # The data space's CA is the only trust anchor: no load_default_certs().
        context.load_verify_locations(cafile=identity.ca_path)
    except (OSError, ssl.SSLError) as exc:
        raise IdentityError(
            f"cannot load identity {identity.name!r} ({identity.cert_path}): "
            f"{getattr(exc, 'reason', None) or exc.strerror or exc}",
            hint="Check that the certificate, its key and ca.pem belong together.",
        ) from None
    return context


def server_context(identity: Identity) -> ssl.SSLContext:
    """A TLS server context for a party: TLS 1.3 only, client certificate required.

    Clients must present a certificate issued by the data space's CA; the server sends no
    session tickets (``num_tickets = 0``), so after the handshake the connection carries only
    application data. Learn who connected with :func:`peer_name`.

    Raises:
        IdentityError: the identity's files cannot be loaded or do not belong together.
    """
    context = _base_context(identity, server_side=True)
    context.check_hostname = False
    context.num_tickets = 0
    return context


def client_context(identity: Identity) -> ssl.SSLContext:
    """A TLS client context for a party: TLS 1.3 only, presents the party's certificate.

    The server's certificate must be issued by the data space's CA and must name the host
    given as ``server_hostname`` when wrapping the socket. Pass the *peer's party name* there
    (it is always a DNS name in its certificate) to authenticate which party answered, whatever
    address it was reached at.

    Raises:
        IdentityError: the identity's files cannot be loaded or do not belong together.
    """
    context = _base_context(identity, server_side=False)
    context.check_hostname = True
    return context


def peer_name(connection: ssl.SSLSocket | ssl.SSLObject) -> str:
    """The party name (certificate CN) of the verified peer of a TLS connection.

    Works on a blocking :class:`ssl.SSLSocket` and on the :class:`ssl.SSLObject` of an asyncio
    stream (``writer.get_extra_info("ssl_object")``), after the handshake.

    Raises:
        UntrustedPeer: the peer presented no verified certificate, or one without a CN.
    """
    try:
        certificate = connection.getpeercert()
    except (ValueError, OSError):  # no handshake yet, or not connected
        certificate = None
    if not certificate:
        raise UntrustedPeer("the peer presented no verified certificate")
    for rdn in certificate.get("subject", ()):
        for attribute in rdn:
            if len(attribute) == 2 and attribute[0] == "commonName" and attribute[1]:
                return str(attribute[1])
    raise UntrustedPeer("the peer's certificate has no common name")


def as_untrusted_peer(exc: BaseException, peer: str) -> UntrustedPeer | None:
    """Translate a TLS handshake failure caused by a certificate into :class:`UntrustedPeer`.

    Covers both directions: we rejected the peer's certificate (``ssl.SSLCertVerificationError``:
    foreign CA, wrong party name, expired) and the peer rejected ours or we sent none (an alert
    such as ``TLSV1_ALERT_UNKNOWN_CA`` or ``TLSV13_ALERT_CERTIFICATE_REQUIRED``). In TLS 1.3 a
    client learns that the server refused its certificate only on its first read after the
    handshake, so call this on errors from reads too.

    Args:
        exc: the exception raised by the handshake, a read or a write.
        peer: who we were talking to, for the message (a party name or address).

    Returns:
        The error to raise, or None when ``exc`` is not about certificates (then the caller
        decides, e.g. ``PeerUnavailable`` for a refused connection).
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or "verification failed"
        return UntrustedPeer(f"rejected the certificate of {peer}: {detail}")
    if isinstance(exc, ssl.SSLError) and exc.reason in _REJECTION_REASONS:
        return UntrustedPeer(f"TLS with {peer} failed on a certificate check ({exc.reason})")
    return None
