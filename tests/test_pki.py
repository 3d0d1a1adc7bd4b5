"""The data space CA, party certificates, and real TLS 1.3 handshakes between parties."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shuyu import pki
from shuyu.errors import (
    CaExists,
    CaMissing,
    CertificateExists,
    IdentityError,
    InvalidInput,
    InvalidName,
    UntrustedPeer,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    """One data space with parties alice and bob, and a foreign one with mallory."""
    root = tmp_path_factory.mktemp("space")
    pki.init_ca(root / "ca")
    alice = pki.issue_certificate(root / "ca", "alice", out_dir=root / "alice")
    bob = pki.issue_certificate(root / "ca", "bob", out_dir=root / "bob")
    pki.init_ca(root / "foreign-ca", name="other-space")
    mallory = pki.issue_certificate(root / "foreign-ca", "mallory")
    return {"root": root, "alice": alice, "bob": bob, "mallory": mallory}


# --- the CA --------------------------------------------------------------------------------


def test_init_ca_writes_a_ca_certificate_and_key(tmp_path):
    paths = pki.init_ca(tmp_path / "ca", name="bank-space")
    assert paths.cert_path == tmp_path / "ca" / "ca.pem"
    assert paths.key_path == tmp_path / "ca" / "ca-key.pem"
    cert = load_cert(paths.cert_path)
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "bank-space"
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    cert.verify_directly_issued_by(cert)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(days=3650) <= lifetime <= datetime.timedelta(days=3651)
    key_text = paths.key_path.read_text()
    assert key_text.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted


@posix_only
def test_ca_directory_is_0700_and_key_0600_even_with_a_lax_umask(tmp_path):
    old = os.umask(0)
    try:
        paths = pki.init_ca(tmp_path / "nested" / "ca")
    finally:
        os.umask(old)
    assert mode(paths.directory) == 0o700
    assert mode(paths.key_path) == 0o600
    assert mode(paths.cert_path) == 0o644


@posix_only
def test_keys_are_created_0600_not_chmodded_afterwards(tmp_path, monkeypatch):
    # Record the mode every file is created with: a key must never exist with a wider mode.
    created: dict[str, int] = {}
    real_open = os.open

    def recording_open(path, flags, mode=0o777, *args, **kwargs):
        if flags & os.O_CREAT:
            created[os.fspath(path)] = mode
        return real_open(path, flags, mode, *args, **kwargs)

    def no_chmod(*args, **kwargs):
        raise AssertionError("files must be created with their final mode")

    monkeypatch.setattr(os, "open", recording_open)
    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    (tmp_path / "ca").mkdir()  # an existing directory: no chmod needed
    pki.init_ca(tmp_path / "ca")
    pki.issue_certificate(tmp_path / "ca", "alice")
    keys = {path: value for path, value in created.items() if path.endswith("-key.pem")}
    assert len(keys) == 2
    assert set(keys.values()) == {0o600}


def test_refuses_to_overwrite_a_ca(tmp_path):
    paths = pki.init_ca(tmp_path / "ca")
    before = (paths.cert_path.read_bytes(), paths.key_path.read_bytes())
    with pytest.raises(CaExists):
        pki.init_ca(tmp_path / "ca")
    paths.cert_path.unlink()  # half a CA is still a CA
    with pytest.raises(CaExists):
        pki.init_ca(tmp_path / "ca")
    assert paths.key_path.read_bytes() == before[1]


@pytest.mark.parametrize(
    "name",
    ["", "A", "Alice", "1abc", "-abc", "abc-", "a_b", "a.b", "a b", "é", "a" * 64, "ca", "ca-key"],
)
def test_invalid_names_are_refused(tmp_path, space, name):
    with pytest.raises(InvalidName):
        pki.init_ca(tmp_path / "ca", name=name)
    assert not (tmp_path / "ca").exists()
    with pytest.raises(InvalidName):
        pki.issue_certificate(space["root"] / "ca", name, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["a", "alice", "bank-a", "node-1", "a" * 63, "x9-y8"])
def test_valid_names(name):
    assert pki.validate_name(name) == name


# --- party certificates --------------------------------------------------------------------


def test_issue_certificate_contents(tmp_path):
    ca = pki.init_ca(tmp_path / "ca")
    identity = pki.issue_certificate(
        tmp_path / "ca",
        "bank-a",
        dns_names=["bank-a.example.com", "localhost"],
        ip_addresses=["10.0.0.5", "::1"],
    )
    assert identity == pki.IdentityPaths(
        name="bank-a",
        cert_path=tmp_path / "ca" / "bank-a.pem",
        key_path=tmp_path / "ca" / "bank-a-key.pem",
        ca_path=ca.cert_path,
    )
    cert, ca_cert = load_cert(identity.cert_path), load_cert(ca.cert_path)
    cert.verify_directly_issued_by(ca_cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "bank-a"
    assert cert.issuer == ca_cert.subject
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["bank-a", "localhost", "bank-a.example.com"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.0.0.5"),
        ipaddress.ip_address("::1"),
    ]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and not basic.value.ca
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(days=825) <= lifetime <= datetime.timedelta(days=826)
    assert cert.serial_number > 0


def test_serial_numbers_are_random(tmp_path):
    pki.init_ca(tmp_path / "ca")
    serials = {
        load_cert(pki.issue_certificate(tmp_path / "ca", f"party-{n}").cert_path).serial_number
        for n in range(4)
    }
    assert len(serials) == 4
    assert all(serial.bit_length() > 64 for serial in serials)


def test_certificate_never_outlives_its_ca(tmp_path):
    ca = pki.init_ca(tmp_path / "ca", validity_days=30)
    identity = pki.issue_certificate(tmp_path / "ca", "alice", validity_days=825)
    assert (
        load_cert(identity.cert_path).not_valid_after_utc
        <= load_cert(ca.cert_path).not_valid_after_utc
    )


@posix_only
def test_out_dir_is_a_complete_private_identity_directory(tmp_path):
    ca = pki.init_ca(tmp_path / "ca")
    identity = pki.issue_certificate(tmp_path / "ca", "alice", out_dir=tmp_path / "alice")
    assert mode(tmp_path / "alice") == 0o700
    assert mode(identity.key_path) == 0o600
    assert identity.ca_path == tmp_path / "alice" / "ca.pem"
    assert identity.ca_path.read_bytes() == ca.cert_path.read_bytes()
    assert not (tmp_path / "alice" / "ca-key.pem").exists()
    assert pki.load_identity(tmp_path / "alice", "alice") == identity
    # A second identity in the same directory reuses the copy of ca.pem.
    pki.issue_certificate(tmp_path / "ca", "alice-2", out_dir=tmp_path / "alice")


def test_out_dir_of_another_ca_is_refused(tmp_path):
    pki.init_ca(tmp_path / "ca")
    pki.init_ca(tmp_path / "other")
    pki.issue_certificate(tmp_path / "other", "x", out_dir=tmp_path / "out")
    with pytest.raises(IdentityError, match="another CA"):
        pki.issue_certificate(tmp_path / "ca", "alice", out_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "alice-key.pem").exists()


def test_refuses_to_overwrite_a_certificate(tmp_path):
    pki.init_ca(tmp_path / "ca")
    identity = pki.issue_certificate(tmp_path / "ca", "alice")
    before = identity.key_path.read_bytes()
    with pytest.raises(CertificateExists):
        pki.issue_certificate(tmp_path / "ca", "alice")
    identity.cert_path.unlink()
    with pytest.raises(CertificateExists):
        pki.issue_certificate(tmp_path / "ca", "alice")
    assert identity.key_path.read_bytes() == before


def test_issue_without_a_ca(tmp_path):
    with pytest.raises(CaMissing):
        pki.issue_certificate(tmp_path / "nothing", "alice")
    assert not (tmp_path / "nothing").exists()


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("dns_names", ["*.example.com"]),
        ("dns_names", ["Bad_Host"]),
        ("dns_names", [""]),
        ("ip_addresses", ["300.1.1.1"]),
        ("ip_addresses", ["localhost"]),
        ("validity_days", 0),
    ],
)
def test_invalid_extra_names(tmp_path, keyword, value):
    pki.init_ca(tmp_path / "ca")
    with pytest.raises(InvalidInput):
        pki.issue_certificate(tmp_path / "ca", "alice", **{keyword: value})
    assert not (tmp_path / "ca" / "alice-key.pem").exists()


@posix_only
def test_keys_readable_by_others_are_refused(tmp_path):
    ca = pki.init_ca(tmp_path / "ca")
    identity = pki.issue_certificate(tmp_path / "ca", "alice")
    identity.key_path.chmod(0o644)
    with pytest.raises(IdentityError, match="other users may read it"):
        pki.load_identity(tmp_path / "ca", "alice")
    with pytest.raises(IdentityError, match="other users may read it"):
        pki.server_context(identity)
    ca.key_path.chmod(0o640)
    with pytest.raises(IdentityError, match="mode 0640") as raised:
        pki.issue_certificate(tmp_path / "ca", "bob")
    assert "chmod 600" in raised.value.hint


def test_load_identity_checks_the_files(tmp_path, space):
    with pytest.raises(IdentityError, match="missing"):
        pki.load_identity(space["root"] / "alice", "carol")
    with pytest.raises(CaMissing):
        pki.load_identity(space["root"] / "nowhere", "alice")
    # bob's certificate beside another CA's ca.pem: not issued by that CA.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for source, target in (
        (space["bob"].cert_path, "bob.pem"),
        (space["bob"].key_path, "bob-key.pem"),
        (space["mallory"].ca_path, "ca.pem"),
    ):
        (mixed / target).write_bytes(source.read_bytes())
    (mixed / "bob-key.pem").chmod(0o600)
    with pytest.raises(IdentityError, match="not issued by"):
        pki.load_identity(mixed, "bob")


def test_fingerprint(space):
    fingerprint = pki.certificate_fingerprint(space["alice"].ca_path)
    assert len(fingerprint.split(":")) == 32
    assert fingerprint == fingerprint.upper()


# --- TLS -----------------------------------------------------------------------------------


def test_context_settings(space):
    server = pki.server_context(space["alice"])
    client = pki.client_context(space["alice"])
    for context in (server, client):
        assert context.minimum_version == ssl.TLSVersion.TLSv1_3
        assert context.maximum_version == ssl.TLSVersion.TLSv1_3
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.verify_flags & ssl.VERIFY_X509_STRICT
        # The data space's CA is the only trust anchor (no system roots).
        anchors = context.get_ca_certs()
        assert len(anchors) == 1
        assert anchors[0]["subject"] == ((("commonName", "shuyu-data-space"),),)
    assert server.num_tickets == 0
    assert client.check_hostname
    assert not server.check_hostname


@dataclass
class Side:
    peer: str | None = None
    received: bytes | None = None
    error: BaseException | None = None
    session_ticket: bool | None = None
    extra: dict = field(default_factory=dict)


def handshake(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext, server_hostname: str
) -> tuple[Side, Side]:
    """Connect a client to a server over loopback TCP; each sends one message and reads one."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]
    server, client = Side(), Side()

    def serve() -> None:
        try:
            connection, _ = listener.accept()
            connection.settimeout(10)
            with server_context.wrap_socket(connection, server_side=True) as tls:
                server.peer = pki.peer_name(tls)
                tls.sendall(b"from server")
                server.received = tls.recv(64)
        except (OSError, ssl.SSLError, UntrustedPeer) as exc:
            server.error = exc

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            client_context.wrap_socket(raw, server_hostname=server_hostname) as tls,
        ):
            client.peer = pki.peer_name(tls)
            client.extra["version"] = tls.version()
            # TLS 1.3: a refusal of the client's certificate arrives on this first read.
            client.received = tls.recv(64)
            tls.sendall(b"from client")
            session = tls.session
            client.session_ticket = bool(session and session.has_ticket)
    except (OSError, ssl.SSLError, UntrustedPeer) as exc:
        client.error = exc
    finally:
        thread.join(20)
        listener.close()
    assert not thread.is_alive()
    return server, client


def mixed_identity(certificate_of: pki.Identity, trusting: pki.Identity) -> pki.Identity:
    """``certificate_of``'s certificate and key, trusting ``trusting``'s CA."""
    return pki.Identity(
        name=certificate_of.name,
        cert_path=certificate_of.cert_path,
        key_path=certificate_of.key_path,
        ca_path=trusting.ca_path,
    )


def test_mutual_tls13_handshake_between_two_parties(space):
    alice = pki.load_identity(space["root"] / "alice", "alice")
    bob = pki.load_identity(space["root"] / "bob", "bob")
    server, client = handshake(pki.server_context(alice), pki.client_context(bob), "alice")
    assert server.error is None and client.error is None
    assert server.peer == "bob"
    assert client.peer == "alice"
    assert client.extra["version"] == "TLSv1.3"
    assert client.received == b"from server"
    assert server.received == b"from client"
    assert client.session_ticket is False  # num_tickets = 0


def test_connecting_by_address_still_checks_the_party_name(space):
    alice, bob = space["alice"], space["bob"]
    server, client = handshake(pki.server_context(alice), pki.client_context(bob), "127.0.0.1")
    assert client.error is None and client.peer == "alice"
    # Expecting carol but reaching alice is refused by the client.
    server, client = handshake(pki.server_context(alice), pki.client_context(bob), "carol")
    assert isinstance(client.error, ssl.SSLCertVerificationError)
    assert isinstance(pki.as_untrusted_peer(client.error, "carol"), UntrustedPeer)
    assert isinstance(pki.as_untrusted_peer(server.error, "bob"), UntrustedPeer)


def test_client_rejects_a_server_from_another_ca(space):
    # mallory's certificate is from the foreign CA, though mallory trusts our CA.
    mallory = mixed_identity(space["mallory"], trusting=space["alice"])
    server, client = handshake(
        pki.server_context(mallory), pki.client_context(space["bob"]), "mallory"
    )
    assert isinstance(client.error, ssl.SSLCertVerificationError)
    assert client.peer is None
    assert server.peer is None
    assert isinstance(server.error, ssl.SSLError)
    for side, error in (("client", client.error), ("server", server.error)):
        mapped = pki.as_untrusted_peer(error, "peer")
        assert isinstance(mapped, UntrustedPeer), side
        assert mapped.code == "identity.untrusted_peer"


def test_server_rejects_a_client_from_another_ca(space):
    mallory = mixed_identity(space["mallory"], trusting=space["alice"])
    server, client = handshake(
        pki.server_context(space["alice"]), pki.client_context(mallory), "alice"
    )
    assert isinstance(server.error, ssl.SSLCertVerificationError)
    assert server.peer is None
    assert isinstance(client.error, ssl.SSLError)
    assert client.received is None
    assert isinstance(pki.as_untrusted_peer(server.error, "mallory"), UntrustedPeer)
    assert isinstance(pki.as_untrusted_peer(client.error, "alice"), UntrustedPeer)


def test_foreign_party_fails_in_both_directions(space):
    # The foreign party as it really is: its own certificate, trusting its own CA.
    server, client = handshake(
        pki.server_context(space["alice"]), pki.client_context(space["mallory"]), "alice"
    )
    assert client.error is not None and server.error is not None
    assert server.peer is None


def test_client_without_a_certificate_is_rejected(space):
    anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anonymous.load_verify_locations(cafile=space["alice"].ca_path)
    server, client = handshake(pki.server_context(space["alice"]), anonymous, "alice")
    assert isinstance(server.error, ssl.SSLError)
    assert server.error.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE"
    assert server.peer is None
    assert isinstance(client.error, ssl.SSLError)
    assert client.received is None
    assert isinstance(pki.as_untrusted_peer(server.error, "client"), UntrustedPeer)
    assert isinstance(pki.as_untrusted_peer(client.error, "alice"), UntrustedPeer)


def test_tls12_peer_is_refused(space):
    legacy = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    legacy.maximum_version = ssl.TLSVersion.TLSv1_2
    legacy.load_cert_chain(space["alice"].cert_path, space["alice"].key_path)
    server, client = handshake(legacy, pki.client_context(space["bob"]), "alice")
    assert isinstance(client.error, ssl.SSLError)
    assert server.error is not None
    assert pki.as_untrusted_peer(client.error, "alice") is None  # not a certificate problem


def test_peer_name_without_a_verified_certificate(space):
    # A server that does not ask for certificates has no verified peer to name.
    lax = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    lax.load_cert_chain(space["alice"].cert_path, space["alice"].key_path)
    server, _ = handshake(lax, pki.client_context(space["bob"]), "alice")
    assert isinstance(server.error, UntrustedPeer)
    with socket.socket() as plain:
        unconnected = ssl.create_default_context().wrap_socket(
            plain, server_hostname="x", do_handshake_on_connect=False
        )
        with pytest.raises(UntrustedPeer):
            pki.peer_name(unconnected)


def test_a_party_certificate_cannot_act_as_the_ca(tmp_path, space):
    fake = tmp_path / "fake-ca"
    fake.mkdir()
    (fake / "ca.pem").write_bytes(space["alice"].cert_path.read_bytes())
    (fake / "ca-key.pem").write_bytes(space["alice"].key_path.read_bytes())
    (fake / "ca-key.pem").chmod(0o600)
    with pytest.raises(IdentityError, match="not a CA certificate"):
        pki.issue_certificate(fake, "eve")


def test_a_ca_key_that_does_not_match_is_refused(tmp_path, space):
    fake = tmp_path / "fake-ca"
    fake.mkdir()
    (fake / "ca.pem").write_bytes(space["alice"].ca_path.read_bytes())
    (fake / "ca-key.pem").write_bytes(space["alice"].key_path.read_bytes())
    (fake / "ca-key.pem").chmod(0o600)
    with pytest.raises(IdentityError, match="not the private key"):
        pki.issue_certificate(fake, "eve")


@pytest.mark.parametrize("days", [0, -5, 36501, True])
def test_validity_must_be_sensible(tmp_path, days):
    with pytest.raises(InvalidInput):
        pki.init_ca(tmp_path / "ca", validity_days=days)
    assert not (tmp_path / "ca").exists()
