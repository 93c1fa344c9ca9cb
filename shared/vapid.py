"""VAPID keys (RFC 8292) and the P-256 keys of push subscriptions (RFC 8291): one place.

Keys travel as unpadded base64url, as browsers and ``livefeed vapid-keys`` write them: the
private key as its 32-byte scalar, public keys as 65-byte uncompressed points.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

P256_POINT_BYTES = 65
AUTH_SECRET_BYTES = 16


def b64url_decode(text: str) -> bytes:
    """Unpadded (or padded) base64url; ValueError on anything else."""
    if not text or any(c not in _B64URL for c in text.rstrip("=")):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def b64url_encode(raw: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def public_point(key: ec.EllipticCurvePublicKey) -> bytes:
    """The uncompressed point (65 bytes) of a P-256 public key."""
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def load_public(text: str) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from its base64url uncompressed point; ValueError unless on the curve."""
    raw = b64url_decode(text)
    if len(raw) != P256_POINT_BYTES or raw[0] != 4:
        raise ValueError("must be an uncompressed P-256 point (65 bytes, base64url)")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


def load_private(text: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from its base64url 32-byte scalar."""
    raw = b64url_decode(text)
    if len(raw) != 32:
        raise ValueError("must be a 32-byte P-256 private key, base64url")
    return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())


def generate_keys() -> tuple[str, str]:
    """A new VAPID key pair: (private, public), base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    return b64url_encode(private), b64url_encode(public_point(key.public_key()))


def check_vapid(private: str, public: str) -> None:
    """ValueError unless both keys parse and the public key is the private key's."""
    try:
        key = load_private(private)
    except ValueError as exc:
        raise ValueError(f"LIVEFEED_VAPID_PRIVATE_KEY {exc}") from None
    try:
        given = public_point(load_public(public))
    except ValueError as exc:
        raise ValueError(f"LIVEFEED_VAPID_PUBLIC_KEY {exc}") from None
    if public_point(key.public_key()) != given:
        raise ValueError(
            "LIVEFEED_VAPID_PUBLIC_KEY is not the public key of LIVEFEED_VAPID_PRIVATE_KEY"
        )
