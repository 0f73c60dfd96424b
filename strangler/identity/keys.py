"""Ed25519 key pairs of the token issuer: made, named by `kid`, read from settings.

A key's id (`kid`) is derived from the public key itself (a SHA-256 thumbprint), so nobody has to
keep names and keys in step: a verifier lists public keys, the token's header says which one.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from strangler.identity.conf import IdentityConfigurationError, identity_settings

PEM_MARK = "-----BEGIN"
PUBLIC_FOLDER = "public"


@dataclass(frozen=True)
class KeyPair:
    kid: str
    private_pem: bytes
    public_pem: bytes


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key's id: 16 base64url characters of the SHA-256 of its raw public bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).decode()[:16]


def generate_key_pair() -> KeyPair:
    """A new Ed25519 key pair in PEM (PKCS#8 private, SubjectPublicKeyInfo public)."""
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    return KeyPair(
        kid=key_id(public),
        private_pem=private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        public_pem=public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def write_key_pair(signing_path: Path, pair: KeyPair, *, replace: bool = False) -> Path:
    """Write the private key to `signing_path` (mode 0600) and the public key to
    `<its folder>/public/<kid>.pem`; returns the public key's path.

    Without `replace`, an existing private key is kept (FileExistsError): several processes
    starting at once agree on one key.
    """
    signing_path = Path(signing_path)
    signing_path.parent.mkdir(parents=True, exist_ok=True)
    public_path = signing_path.parent / PUBLIC_FOLDER / f"{pair.kid}.pem"
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_bytes(pair.public_pem)
    descriptor, temporary = tempfile.mkstemp(dir=signing_path.parent, prefix=".signing-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pair.private_pem)
        os.chmod(temporary, 0o600)
        if replace:
            os.replace(temporary, signing_path)
        else:
            os.link(temporary, signing_path)  # atomic; FileExistsError when another won
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return public_path


def _is_pem(value: str) -> bool:
    return value.lstrip().startswith(PEM_MARK)


def _file_stamp(path: Path) -> tuple[str, float]:
    try:
        return (str(path), path.stat().st_mtime)
    except OSError:
        return (str(path), -1.0)


def signing_key() -> tuple[str, Ed25519PrivateKey]:
    """(kid, private key) of this side; IdentityConfigurationError when it holds none."""
    configured = identity_settings().signing_key
    if not configured:
        raise IdentityConfigurationError(
            "STRANGLER_IDENTITY['SIGNING_KEY'] is not set: only the issuer signs tokens; set it "
            "to the private key made by `manage.py identity_keys`."
        )
    if _is_pem(configured):
        return _load_private(configured.encode())
    path = Path(configured)
    if not path.exists():
        if not settings.DEBUG:
            raise IdentityConfigurationError(
                f"STRANGLER_IDENTITY['SIGNING_KEY'] names {path}, which does not exist: run "
                f"`manage.py identity_keys --signing-key {path}`."
            )
        # Another process may make it first; then read theirs.
        with contextlib.suppress(FileExistsError):
            write_key_pair(path, generate_key_pair())
    return _load_private_file(*_file_stamp(path))


@functools.lru_cache(maxsize=8)
def _load_private_file(path: str, mtime: float) -> tuple[str, Ed25519PrivateKey]:
    return _load_private(Path(path).read_bytes())


def _load_private(pem: bytes) -> tuple[str, Ed25519PrivateKey]:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityConfigurationError("STRANGLER_IDENTITY['SIGNING_KEY'] is not an Ed25519 key.")
    return key_id(key.public_key()), key


def verifying_keys() -> dict[str, Ed25519PublicKey]:
    """{kid: public key} this side accepts: VERIFYING_KEYS plus its own signing key's half."""
    conf = identity_settings()
    stamps: list[tuple[str, float]] = []
    texts: list[str] = []
    for entry in conf.verifying_keys:
        if _is_pem(entry):
            texts.append(entry)
            continue
        path = Path(entry)
        files = sorted(path.glob("*.pem")) if path.is_dir() else [path]
        stamps.append(_file_stamp(path))
        stamps.extend(_file_stamp(file) for file in files)
    keys = dict(_load_public(tuple(texts), tuple(stamps)))
    if conf.signing_key and (_is_pem(conf.signing_key) or Path(conf.signing_key).exists()):
        kid, private = signing_key()
        keys[kid] = private.public_key()
    return keys


@functools.lru_cache(maxsize=8)
def _load_public(
    texts: tuple[str, ...], stamps: tuple[tuple[str, float], ...]
) -> tuple[tuple[str, Ed25519PublicKey], ...]:
    found: list[tuple[str, Ed25519PublicKey]] = []
    pems = [text.encode() for text in texts]
    for name, mtime in stamps:
        path = Path(name)
        if mtime >= 0 and path.is_file():
            pems.append(path.read_bytes())
    for pem in pems:
        key = serialization.load_pem_public_key(pem)
        if not isinstance(key, Ed25519PublicKey):
            raise IdentityConfigurationError(
                "STRANGLER_IDENTITY['VERIFYING_KEYS'] lists a key that is not Ed25519."
            )
        found.append((key_id(key), key))
    return tuple(found)
