"""Per-job join keys and keyed tags: what the matcher sees instead of the keys.

Key agreement (the two key owners, one round): each owner draws an ephemeral X25519 key pair,
sends the public key to the other over their mutually authenticated TLS connection (so each
knows whose key it received), and both derive

    K = HKDF-SHA256(X25519(own, peer), salt = job id,
                    info = "shuyu delegated join v1" ‖ party ids ‖ both public keys)

Both contribute fresh randomness, the key is new for every job, and the matcher never sees it.

Tags: ``tag = AES-128_K(block)`` on the 16-byte key block of :mod:`shuyu.psi.keys` (AES as a
pseudo-random permutation; a permutation never collides, so equal tags mean equal keys). The
matcher, lacking ``K``, sees pseudo-random 128-bit values: equal keys give equal tags, nothing
else can be learned from them, and tags of one job are unlinkable to those of another.
Vectorised: one AES-ECB call encrypts all blocks.
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shuyu.errors import ProtocolError
from shuyu.mpc.runtime import Runtime

INFO = b"shuyu delegated join v1"


def agree_key(rt: Runtime, owner_a: int, owner_b: int, job: bytes) -> bytes | None:
    """The owners' fresh 128-bit job key (one round); ``None`` at any other party."""
    step = rt.round()
    if rt.party not in (owner_a, owner_b):
        return None
    peer = owner_b if rt.party == owner_a else owner_a
    private = X25519PrivateKey.generate()
    mine = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    rt.send(peer, step, np.frombuffer(mine, dtype=np.uint8).copy())
    (theirs_array,) = rt.recv(peer, step, 1)
    if theirs_array.dtype != np.uint8 or theirs_array.shape != (32,):
        raise ProtocolError(f"party {peer} sent a malformed key-agreement message")
    theirs = theirs_array.tobytes()
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(theirs))
    except ValueError:
        raise ProtocolError(f"party {peer} sent an invalid X25519 public key") from None
    key_a, key_b = (mine, theirs) if rt.party == owner_a else (theirs, mine)
    info = INFO + bytes([owner_a, owner_b]) + key_a + key_b
    return HKDF(algorithm=hashes.SHA256(), length=16, salt=job, info=info).derive(shared)


def tag_blocks(key: bytes, blocks: np.ndarray) -> np.ndarray:
    """``AES-128_key`` of every 16-byte block; ``(n, 2)`` ``uint64`` in, ``(n, 2)`` out."""
    blocks = np.ascontiguousarray(blocks, dtype=np.uint64)
    # ECB here is AES used as a pseudo-random permutation on independent 16-byte blocks (one
    # evaluation per key), not as a mode for encrypting messages
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
    out = encryptor.update(blocks.tobytes()) + encryptor.finalize()
    return np.frombuffer(out, dtype=np.uint64).reshape(-1, 2).copy()
