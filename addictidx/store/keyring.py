"""The site key ring: data keys, the subject-hash key, where they live and how they rotate.

Where the key lives (first match wins)
--------------------------------------
``ADDICTIDX_KEY``
    Base64 of 32-byte keys separated by commas: the first encrypts, all decrypt (put the new key
    first and keep the old one while ``addictidx keys rotate`` re-encrypts). The subject-hash key
    is ``ADDICTIDX_HASH_KEY`` (base64) or, when unset, derived from the *last* key of the list
    (the site's first key), so a rotation does not change the hashes.
``ADDICTIDX_KEY_FILE``
    Path of the key file (created with mode 0600 when missing).
default
    ``<store>.keys/site.key`` next to the store directory (e.g. ``demo-store/store.keys/`` for
    the store ``demo-store/store/``), created with mode 0600 (directory 0700). Every file inside
    the store other than the database and the audit log is ciphertext, and a copy of the store
    directory alone cannot be decrypted. A site that also wants a copy of the parent folder to
    be useless sets ``ADDICTIDX_KEY_FILE`` to a path on another volume (or a secrets mount), or
    ``ADDICTIDX_KEY``. Moving a store means moving its ``.keys`` folder with it.

The key file is JSON ``{"format", "current", "keys": {id: base64}, "hash_key": base64}``.
Rotation (:func:`rotate_key`) adds a new current key, re-encrypts every encrypted file of the
store and only then drops the old keys; the subject-hash key never rotates (research exports
and the audit log keep linking the same subject).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from addictidx._core.errors import StoreError
from addictidx.store.crypto import encrypted_files, reencrypt_file
from addictidx.store.files import fsync_dir

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "HASH_KEY_ENV",
    "KeyRing",
    "key_id",
    "load_keyring",
    "key_file_path",
    "rotate_key",
    "RotationResult",
    "subject_hash",
]

KEY_ENV = "ADDICTIDX_KEY"
KEY_FILE_ENV = "ADDICTIDX_KEY_FILE"
HASH_KEY_ENV = "ADDICTIDX_HASH_KEY"
KEY_FILE_FORMAT = "addictidx-keys-1"


def _b64d(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (ValueError, TypeError):
        raise StoreError(f"{where}: not valid base64.") from None
    if len(key) != 32:
        raise StoreError(f"{where}: a key must be 32 bytes (AES-256), got {len(key)}.")
    return key


def key_id(key: bytes) -> bytes:
    """The 8-byte id of a key (a hash of it; names the key in file headers and messages)."""
    return hashlib.sha256(b"addictidx key id\0" + key).digest()[:8]


@dataclass(frozen=True)
class KeyRing:
    """The site's data keys and subject-hash key.

    Attributes
    ----------
    current : bytes
        Key id (8 bytes) of the key that encrypts new files.
    keys : dict
        Key id -> 32-byte AES key (every key that may still decrypt a file).
    hash_key : bytes
        32-byte key of :func:`subject_hash`.
    source : str
        Where the keys came from (``"env"`` or the key file path), for messages.
    path : Path | None
        The key file (None for ``ADDICTIDX_KEY``).
    """

    current: bytes
    keys: dict = field(repr=False)
    hash_key: bytes = field(repr=False)
    source: str = ""
    path: Path | None = None

    def key(self, key_id: bytes, where: object = "") -> bytes:
        """The key with id ``key_id``; StoreError naming ``where`` when unknown."""
        try:
            return self.keys[key_id]
        except KeyError:
            raise StoreError(
                f"{where}: encrypted with key {key_id.hex()}, which is not in the site key ring "
                f"({self.source}); restore the key file or ADDICTIDX_KEY that wrote it."
            ) from None

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current]


def key_file_path(store_dir: str | Path) -> Path:
    """The key file of a store: ``$ADDICTIDX_KEY_FILE`` or ``<store>.keys/site.key``.

    The default sits next to the store directory, not inside it, so every file inside the store
    other than the database and the audit log is ciphertext and a copy of the store directory
    alone cannot be decrypted.
    """
    env = os.environ.get(KEY_FILE_ENV)
    if env:
        return Path(env)
    store = Path(store_dir).resolve()
    return store.parent / f"{store.name}.keys" / "site.key"


def load_keyring(store_dir: str | Path, *, create: bool = True) -> KeyRing:
    """The key ring of a store (see the module notes for where it is looked up).

    Parameters
    ----------
    store_dir : path-like
        The store directory (for the default key file).
    create : bool
        Create a key file with a fresh key when none exists.

    Raises
    ------
    StoreError
        A malformed key, a key file that is readable by others, or no key and ``create=False``.
    """
    env = os.environ.get(KEY_ENV)
    if env:
        keys = [
            _b64d(k, f"${KEY_ENV} key {i + 1}") for i, k in enumerate(env.split(",")) if k.strip()
        ]
        if not keys:
            raise StoreError(f"${KEY_ENV} is set but holds no key.")
        hk_env = os.environ.get(HASH_KEY_ENV)
        hash_key = (
            _b64d(hk_env, f"${HASH_KEY_ENV}")
            if hk_env
            else hmac.new(keys[-1], b"addictidx subject hash key", hashlib.sha256).digest()
        )
        return KeyRing(key_id(keys[0]), {key_id(k): k for k in keys}, hash_key, "env")
    path = key_file_path(store_dir)
    if not path.exists():
        if not create:
            raise StoreError(f"No site key at {path} (and ${KEY_ENV} is not set).")
        return _create_key_file(path)
    return _read_key_file(path)


def _create_key_file(path: Path) -> KeyRing:
    key = secrets.token_bytes(32)
    kid = key_id(key)
    ring = KeyRing(kid, {kid: key}, secrets.token_bytes(32), str(path), path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.parent.name.endswith(".keys"):
            os.chmod(path.parent, 0o700)
        _write_key_file(path, ring, exclusive=True)
    except FileExistsError:  # another process created it first: use that one
        return _read_key_file(path)
    except OSError as exc:
        raise StoreError(f"Cannot create the site key file {path}: {exc}") from None
    return ring


def _write_key_file(path: Path, ring: KeyRing, *, exclusive: bool = False) -> None:
    doc = {
        "format": KEY_FILE_FORMAT,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "current": ring.current.hex(),
        "keys": {k.hex(): base64.b64encode(v).decode() for k, v in ring.keys.items()},
        "hash_key": base64.b64encode(ring.hash_key).decode(),
    }
    data = (json.dumps(doc, indent=1) + "\n").encode()
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _read_key_file(path: Path) -> KeyRing:
    try:
        mode = path.stat().st_mode
        text = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"Cannot read the site key file {path}: {exc}") from None
    if os.name == "posix" and mode & 0o077:
        raise StoreError(
            f"{path}: the site key file is readable by other users (mode {mode & 0o777:o}); "
            f"run: chmod 600 {path}"
        )
    try:
        doc = json.loads(text)
        if doc.get("format") != KEY_FILE_FORMAT:
            raise KeyError("format")
        keys = {bytes.fromhex(k): _b64d(v, f"{path}, key {k}") for k, v in doc["keys"].items()}
        current = bytes.fromhex(doc["current"])
        hash_key = _b64d(doc["hash_key"], f"{path}, hash_key")
    except StoreError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StoreError(f"{path}: not an addictidx key file (bad or missing {exc}).") from None
    if current not in keys:
        raise StoreError(f"{path}: 'current' names a key that is not in 'keys'.")
    for kid, k in keys.items():
        if key_id(k) != kid:
            raise StoreError(f"{path}: key {kid.hex()} does not match its id (edited by hand?).")
    return KeyRing(current, keys, hash_key, str(path), path)


@dataclass(frozen=True)
class RotationResult:
    """What :func:`rotate_key` did."""

    old_key_ids: tuple[str, ...]
    new_key_id: str
    n_files: int
    key_source: str


def rotate_key(store_dir: str | Path) -> RotationResult:
    """Rotate the site data key and re-encrypt every encrypted file of the store.

    Key file: a new key becomes current (the old ones stay in the file until every file is
    re-encrypted, so a crash midway loses nothing; run again to finish), then the old keys are
    removed. ``ADDICTIDX_KEY``: the files are re-encrypted under the *first* key of the variable;
    afterwards remove the old keys from it.
    """
    store_dir = Path(store_dir)
    ring = load_keyring(store_dir, create=False)
    old = tuple(k.hex() for k in ring.keys if k != ring.current)
    if ring.path is not None:
        new = secrets.token_bytes(32)
        nid = key_id(new)
        ring = KeyRing(nid, {**ring.keys, nid: new}, ring.hash_key, ring.source, ring.path)
        _write_key_file(ring.path, ring)
        old = tuple(k.hex() for k in ring.keys if k != nid)
    n = sum(reencrypt_file(p, ring) for p in encrypted_files(store_dir))
    if ring.path is not None:
        _write_key_file(
            ring.path,
            KeyRing(
                ring.current,
                {ring.current: ring.current_key},
                ring.hash_key,
                ring.source,
                ring.path,
            ),
        )
    return RotationResult(old, ring.current.hex(), n, ring.source)


def subject_hash(ring: KeyRing, code: str, salt: str = "", purpose: str = "audit") -> str:
    """Keyed hash (HMAC-SHA256, 20 hex digits) naming a subject without their code.

    ``salt`` is the subject's random salt from the store (erased with the subject, after which
    the hash can no longer be linked to the code, even with the key); ``purpose`` separates the
    audit log's hashes from research exports'.
    """
    msg = f"{purpose}\0{salt}\0{code}".encode()
    return hmac.new(ring.hash_key, msg, hashlib.sha256).hexdigest()[:20]
