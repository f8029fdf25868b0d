"""Store keys: the site key ring (data keys, subject-hash key), the audit key, where they live.

Keys are never created implicitly: the first command that creates a store (``assess``,
``demo``, ``consent record``, the dashboard) or an explicit ``addictidx keys init`` makes them
(:func:`init_keys`); the store database records the ids it expects (table ``store_keys``), and a
missing or different key is an error naming the expected key id, never replaced by a new one.

Where the keys live (first match wins)
--------------------------------------
``ADDICTIDX_KEY``
    Base64 of 32-byte data keys separated by commas: the first encrypts, all decrypt. The
    subject-hash key is ``ADDICTIDX_HASH_KEY`` (base64) or, when unset, derived from the *last*
    key of the list (the site's first key), so a rotation does not change the hashes.
``ADDICTIDX_KEY_FILE``
    Path of the key file.
default
    ``<store>.keys/site.key`` next to the store directory (``$ADDICTIDX_KEY_DIR`` moves the
    whole key folder), mode 0600 in a 0700 folder. A copy of the store directory alone cannot
    be decrypted. Moving a store means moving its ``.keys`` folder with it.

The audit key (HMAC-SHA256 of the audit chain, :mod:`addictidx.store.audit`) is separate from
the data keys: ``ADDICTIDX_AUDIT_KEY`` (base64), ``ADDICTIDX_AUDIT_KEY_FILE``, or
``<keys>/audit.key``. A site that must detect an operator who can write the key folder keeps it
elsewhere (a secrets mount, another host). Per-subject data keys live in ``<keys>/subjects/``
(:mod:`addictidx.store.subject_keys`).

The key file is JSON ``{"format", "current", "keys": {id: base64}, "hash_key": base64}``.
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
from addictidx.store.files import private_dir, write_atomic

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "HASH_KEY_ENV",
    "KEY_DIR_ENV",
    "AUDIT_KEY_ENV",
    "AUDIT_KEY_FILE_ENV",
    "KeyRing",
    "AuditKey",
    "key_id",
    "keys_dir",
    "key_file_path",
    "audit_key_path",
    "load_keyring",
    "load_audit_key",
    "init_keys",
    "write_key_file",
    "subject_hash",
]

KEY_ENV = "ADDICTIDX_KEY"
KEY_FILE_ENV = "ADDICTIDX_KEY_FILE"
HASH_KEY_ENV = "ADDICTIDX_HASH_KEY"
KEY_DIR_ENV = "ADDICTIDX_KEY_DIR"
AUDIT_KEY_ENV = "ADDICTIDX_AUDIT_KEY"
AUDIT_KEY_FILE_ENV = "ADDICTIDX_AUDIT_KEY_FILE"
AUDIT_KEY_FORMAT = "addictidx-audit-key-1"
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
    subject_dir : Path | None
        Folder of the per-subject keys (looked up by id when a file names one).
    """

    current: bytes
    keys: dict = field(repr=False)
    hash_key: bytes = field(repr=False)
    source: str = ""
    path: Path | None = None
    subject_dir: Path | None = None

    def key(self, key_id: bytes, where: object = "") -> bytes:
        """The key with id ``key_id`` (a site key or a subject key); StoreError naming
        ``where`` and the key id when it is unknown or was destroyed."""
        if key_id in self.keys:
            return self.keys[key_id]
        if self.subject_dir is not None:
            from addictidx.store.subject_keys import read_subject_key

            sk = read_subject_key(self, key_id)
            if sk is not None:
                return sk.key
        raise StoreError(
            f"{where}: encrypted with key {key_id.hex()}, which is neither in the site key "
            f"ring ({self.source}) nor a subject key (erased subject, or the key folder is "
            "missing); restore the key folder or ADDICTIDX_KEY that wrote it."
        )

    def with_current(self, kid: bytes, key: bytes) -> KeyRing:
        """The same ring with ``key`` (e.g. a subject's key) encrypting new files."""
        return KeyRing(
            kid, {**self.keys, kid: key}, self.hash_key, self.source, self.path, self.subject_dir
        )

    @property
    def hash_key_id(self) -> str:
        """Id of the subject-hash key (hex), recorded by the store."""
        return key_id(self.hash_key).hex()

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current]


def keys_dir(store_dir: str | Path) -> Path:
    """The key folder of a store: ``$ADDICTIDX_KEY_DIR`` or ``<store>.keys`` beside it."""
    env = os.environ.get(KEY_DIR_ENV)
    if env:
        return Path(env)
    store = Path(store_dir).resolve()
    return store.parent / f"{store.name}.keys"


def key_file_path(store_dir: str | Path) -> Path:
    """The key file of a store: ``$ADDICTIDX_KEY_FILE`` or ``<keys>/site.key``.

    The default sits next to the store directory, not inside it, so a copy of the store
    directory alone cannot be decrypted.
    """
    env = os.environ.get(KEY_FILE_ENV)
    return Path(env) if env else keys_dir(store_dir) / "site.key"


def audit_key_path(store_dir: str | Path) -> Path:
    """The audit key file: ``$ADDICTIDX_AUDIT_KEY_FILE`` or ``<keys>/audit.key``."""
    env = os.environ.get(AUDIT_KEY_FILE_ENV)
    return Path(env) if env else keys_dir(store_dir) / "audit.key"


def _missing(what: str, expect: str | None, where: str, env: str) -> StoreError:
    exp = f" {expect}" if expect else ""
    return StoreError(
        f"The {what}{exp} of this store is missing: not at {where} and ${env} is not set. "
        "Restore the key folder (a new key would leave the store unreadable); a store that "
        "never had keys gets them with 'addictidx keys init'."
    )


def load_keyring(
    store_dir: str | Path, *, expect: str | None = None, expect_hash: str | None = None
) -> KeyRing:
    """The key ring of a store (see the module notes for where it is looked up); never creates.

    Parameters
    ----------
    store_dir : path-like
        The store directory (for the default key folder).
    expect, expect_hash : str | None
        Ids (hex) of the data key and subject-hash key the store recorded; a ring without them
        is refused.

    Raises
    ------
    StoreError
        No key (naming the expected key id), a key ring without the expected keys, a malformed
        key, or a key file that is readable by others.
    """
    subjects = keys_dir(store_dir) / "subjects"
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
        ring = KeyRing(key_id(keys[0]), {key_id(k): k for k in keys}, hash_key, "env")
        ring = KeyRing(ring.current, ring.keys, hash_key, "env", None, subjects)
    else:
        path = key_file_path(store_dir)
        if not path.exists():
            raise _missing("site data key", expect, str(path), KEY_ENV)
        ring = _read_key_file(path, subjects)
    if expect and bytes.fromhex(expect) not in ring.keys:
        have = ", ".join(k.hex() for k in ring.keys)
        raise StoreError(
            f"Wrong site key for this store: it expects data key {expect}, the key ring "
            f"({ring.source}) holds {have}. Restore the key that belongs to this store."
        )
    if expect_hash and ring.hash_key_id != expect_hash:
        raise StoreError(
            f"Wrong subject-hash key for this store: it expects {expect_hash}, the key ring "
            f"({ring.source}) holds {ring.hash_key_id}. Restore the key that belongs to it."
        )
    return ring


@dataclass(frozen=True)
class AuditKey:
    """The HMAC key of the audit chain (separate from the data keys).

    Attributes
    ----------
    key_id : str
        Hex id recorded by the store.
    key : bytes
    source : str
        Where it came from (``"env"`` or the file), for messages.
    """

    key_id: str
    key: bytes = field(repr=False)
    source: str = ""


def load_audit_key(store_dir: str | Path, *, expect: str | None = None) -> AuditKey:
    """The audit key of a store; never creates one.

    Raises
    ------
    StoreError
        Missing (naming the expected id), a different key than the store expects, malformed, or
        readable by others.
    """
    env = os.environ.get(AUDIT_KEY_ENV)
    if env:
        ak = _b64d(env, f"${AUDIT_KEY_ENV}")
        out = AuditKey(key_id(ak).hex(), ak, "env")
    else:
        path = audit_key_path(store_dir)
        if not path.exists():
            raise _missing("audit key", expect, str(path), AUDIT_KEY_ENV)
        doc = _read_json_key(path)
        if doc.get("format") != AUDIT_KEY_FORMAT or "key" not in doc:
            raise StoreError(f"{path}: not an addictidx audit key file.")
        ak = _b64d(doc["key"], f"{path}, key")
        out = AuditKey(key_id(ak).hex(), ak, str(path))
    if expect and out.key_id != expect:
        raise StoreError(
            f"Wrong audit key: this store expects audit key {expect}, {out.source} holds "
            f"{out.key_id}."
        )
    return out


def init_keys(store_dir: str | Path) -> tuple[KeyRing, AuditKey]:
    """Create the store's keys where none exist yet (site data + hash key, audit key) and
    return them; keys given by the environment or already present are used as they are."""
    if not os.environ.get(KEY_ENV) and not key_file_path(store_dir).exists():
        _create_key_file(key_file_path(store_dir))
    if not os.environ.get(AUDIT_KEY_ENV):
        path = audit_key_path(store_dir)
        if not path.exists():
            private_dir(path.parent)
            doc = {
                "format": AUDIT_KEY_FORMAT,
                "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "key": base64.b64encode(secrets.token_bytes(32)).decode(),
            }
            _create_exclusive(path, (json.dumps(doc, indent=1) + "\n").encode())
    return load_keyring(store_dir), load_audit_key(store_dir)


def _create_exclusive(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use that one
        return
    except OSError as exc:
        raise StoreError(f"Cannot create the key file {path}: {exc}") from None
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_json_key(path: Path) -> dict:
    try:
        mode = path.stat().st_mode
        text = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"Cannot read the key file {path}: {exc}") from None
    if os.name == "posix" and mode & 0o077:
        raise StoreError(
            f"{path}: the key file is readable by other users (mode {mode & 0o777:o}); "
            f"run: chmod 600 {path}"
        )
    try:
        doc = json.loads(text)
    except ValueError:
        raise StoreError(f"{path}: not an addictidx key file (not JSON).") from None
    if not isinstance(doc, dict):
        raise StoreError(f"{path}: not an addictidx key file.")
    return doc


def _create_key_file(path: Path) -> None:
    key = secrets.token_bytes(32)
    kid = key_id(key)
    ring = KeyRing(kid, {kid: key}, secrets.token_bytes(32), str(path), path)
    private_dir(path.parent)
    _create_exclusive(path, _key_file_bytes(ring))


def _key_file_bytes(ring: KeyRing) -> bytes:
    doc = {
        "format": KEY_FILE_FORMAT,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "current": ring.current.hex(),
        "keys": {k.hex(): base64.b64encode(v).decode() for k, v in ring.keys.items()},
        "hash_key": base64.b64encode(ring.hash_key).decode(),
    }
    return (json.dumps(doc, indent=1) + "\n").encode()


def write_key_file(ring: KeyRing) -> None:
    """Atomically replace the ring's key file by the ring (rotation)."""
    if ring.path is None:
        raise StoreError("The site keys come from $ADDICTIDX_KEY; there is no key file to write.")
    write_atomic(ring.path, _key_file_bytes(ring))


def _read_key_file(path: Path, subject_dir: Path) -> KeyRing:
    doc = _read_json_key(path)
    try:
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
    return KeyRing(current, keys, hash_key, str(path), path, subject_dir)


def subject_hash(ring: KeyRing, code: str, salt: str = "", purpose: str = "audit") -> str:
    """Keyed hash (HMAC-SHA256, 20 hex digits) naming a subject without their code.

    ``salt`` is the subject's random salt from the store (erased with the subject, after which
    the hash can no longer be linked to the code, even with the key); ``purpose`` separates the
    audit log's hashes from research exports'.
    """
    msg = f"{purpose}\0{salt}\0{code}".encode()
    return hmac.new(ring.hash_key, msg, hashlib.sha256).hexdigest()[:20]
