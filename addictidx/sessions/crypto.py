"""Encryption at rest (AES-256-GCM), the site key ring and keyed subject hashes.

Every file the store writes except the database and the audit log is encrypted with the site's
current data key (AES-256-GCM from ``cryptography``). One file format serves both whole files
(``meta.json``, ``audit.head``) and files appended to while recording (``eeg.f64``, ``rr.f64``)::

    header  (32 bytes)   b"AXENC1\\n\\0" | key id (8 bytes) | random file id (16 bytes)
    record  (repeated)   length n (uint32 LE) | nonce (12 bytes) | ciphertext + tag (n bytes)

Each record is sealed with a fresh random nonce and authenticated together with the header and
its own index (``AAD = header | index as uint64 LE``), so a record cannot be changed, moved to
another file or to another position without failing authentication. A record cut short by a
crash (the last one) is ignored on reading, like a partial row of the plaintext format.

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
    the store ``demo-store/store/``), created with mode 0600 (directory 0700) on first use, so a
    demo or a test needs no set-up. Every file inside the store other than the database and the
    audit log is ciphertext, and a copy of the store directory alone cannot be decrypted; other
    local users are kept out. A site that also wants a copy of the parent folder to be useless
    sets ``ADDICTIDX_KEY_FILE`` to a path on another volume (or a secrets mount), or
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
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from addictidx._core.errors import DataFormatError, StoreError

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "HASH_KEY_ENV",
    "MAGIC",
    "HEADER_SIZE",
    "KeyRing",
    "load_keyring",
    "key_file_path",
    "seal",
    "open_sealed",
    "open_records",
    "write_sealed",
    "is_encrypted",
    "EncryptedAppender",
    "iter_records",
    "reencrypt_file",
    "rotate_key",
    "RotationResult",
    "subject_hash",
    "encrypted_files",
]

KEY_ENV = "ADDICTIDX_KEY"
KEY_FILE_ENV = "ADDICTIDX_KEY_FILE"
HASH_KEY_ENV = "ADDICTIDX_HASH_KEY"
MAGIC = b"AXENC1\n\0"
HEADER_SIZE = 32
_REC = struct.Struct("<I")
_NONCE = 12
_TAG = 16
KEY_FILE_FORMAT = "addictidx-keys-1"
#: Largest record accepted on reading (a corrupt length field must not allocate gigabytes).
MAX_RECORD = 64 * 1024 * 1024


def _b64d(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (ValueError, TypeError):
        raise StoreError(f"{where}: not valid base64.") from None
    if len(key) != 32:
        raise StoreError(f"{where}: a key must be 32 bytes (AES-256), got {len(key)}.")
    return key


def _key_id(key: bytes) -> bytes:
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
        return KeyRing(_key_id(keys[0]), {_key_id(k): k for k in keys}, hash_key, "env")
    path = key_file_path(store_dir)
    if not path.exists():
        if not create:
            raise StoreError(f"No site key at {path} (and ${KEY_ENV} is not set).")
        return _create_key_file(path)
    return _read_key_file(path)


def _create_key_file(path: Path) -> KeyRing:
    key = secrets.token_bytes(32)
    kid = _key_id(key)
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
    _fsync_dir(path.parent)


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
        if _key_id(k) != kid:
            raise StoreError(f"{path}: key {kid.hex()} does not match its id (edited by hand?).")
    return KeyRing(current, keys, hash_key, str(path), path)


# -- the file format ---------------------------------------------------------------------------
def _aesgcm(key: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def _new_header(ring: KeyRing) -> bytes:
    return MAGIC + ring.current + secrets.token_bytes(16)


def _seal_record(aead, header: bytes, index: int, plaintext: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE)
    ct = aead.encrypt(nonce, plaintext, header + struct.pack("<Q", index))
    return _REC.pack(len(ct)) + nonce + ct


def seal(ring: KeyRing, plaintext: bytes) -> bytes:
    """Encrypt a whole file's content (header + one record)."""
    header = _new_header(ring)
    return header + _seal_record(_aesgcm(ring.current_key), header, 0, bytes(plaintext))


def is_encrypted(data: bytes) -> bool:
    """Whether ``data`` (a file's first bytes) starts like an encrypted addictidx file."""
    return bytes(data[: len(MAGIC)]) == MAGIC


def iter_records(ring: KeyRing, data: bytes, where: object = "") -> Iterator[tuple[int, bytes]]:
    """Decrypt the records of an encrypted file's bytes.

    Yields ``(offset, plaintext)``; stops at an incomplete last record (a crash mid-write), whose
    size is then ``len(data) - offset_after_last``. See :func:`open_records`.

    Raises
    ------
    DataFormatError
        Bad header, or a record that fails authentication (names the byte offset).
    StoreError
        The file's key is not in the key ring.
    """
    from cryptography.exceptions import InvalidTag

    if len(data) < HEADER_SIZE or not is_encrypted(data):
        raise DataFormatError(f"{where}: not an addictidx encrypted file (bad header).")
    header = bytes(data[:HEADER_SIZE])
    aead = _aesgcm(ring.key(header[8:16], where))
    off, i = HEADER_SIZE, 0
    while off + _REC.size + _NONCE <= len(data):
        (n,) = _REC.unpack_from(data, off)
        end = off + _REC.size + _NONCE + n
        if n < _TAG or n > MAX_RECORD:
            raise DataFormatError(
                f"{where}, byte {off}: record length {n} is not valid (corrupt file)."
            )
        if end > len(data):
            return
        nonce = bytes(data[off + _REC.size : off + _REC.size + _NONCE])
        try:
            pt = aead.decrypt(
                nonce, bytes(data[off + _REC.size + _NONCE : end]), header + struct.pack("<Q", i)
            )
        except InvalidTag:
            raise DataFormatError(
                f"{where}, byte {off}: record {i} fails authentication (corrupt or tampered)."
            ) from None
        yield off, pt
        off, i = end, i + 1


def open_records(ring: KeyRing, data: bytes, where: object = "") -> tuple[list[bytes], int]:
    """All complete records' plaintexts and the number of trailing bytes of an incomplete one."""
    out: list[bytes] = []
    end = HEADER_SIZE
    for off, pt in iter_records(ring, data, where):
        out.append(pt)
        end = off + _REC.size + _NONCE + len(pt) + _TAG
    return out, len(data) - end


def open_sealed(ring: KeyRing, data: bytes, where: object = "") -> bytes:
    """Decrypt a whole file written by :func:`seal` (DataFormatError if cut short)."""
    recs, partial = open_records(ring, data, where)
    if len(recs) != 1 or partial:
        raise DataFormatError(f"{where}: encrypted file is truncated or has extra data.")
    return recs[0]


class EncryptedAppender:
    """Append encrypted records to a file (one unbuffered ``write`` per record).

    Opening an existing encrypted file continues it with its own key and record count; a new (or
    empty) file gets a header with the ring's current key. An incomplete last record (a crash)
    is cut off before appending.
    """

    def __init__(self, path: str | Path, ring: KeyRing) -> None:
        self.path = Path(path)
        existing = self.path.read_bytes() if self.path.exists() else b""
        if existing:
            recs = 0
            end = HEADER_SIZE
            for off, pt in iter_records(ring, existing, self.path):
                recs += 1
                end = off + _REC.size + _NONCE + len(pt) + _TAG
            self.header = existing[:HEADER_SIZE]
            self.index = recs
            key = ring.key(self.header[8:16], self.path)
            self._f = open(self.path, "r+b", buffering=0)
            self._f.truncate(end)
            self._f.seek(end)
        else:
            self.header = _new_header(ring)
            self.index = 0
            key = ring.current_key
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            self._f = open(fd, "wb", buffering=0)
            _write_all(self._f, self.header)
        self._aead = _aesgcm(key)
        self.size = self._f.tell()

    def append(self, plaintext: bytes) -> None:
        """Encrypt and append one record (all or nothing: a failed write is cut off again)."""
        rec = _seal_record(self._aead, self.header, self.index, plaintext)
        try:
            _write_all(self._f, rec)
        except OSError:
            try:
                self._f.truncate(self.size)
                self._f.seek(self.size)
            except OSError:  # pragma: no cover - the reader ignores a partial record anyway
                pass
            raise
        self.index += 1
        self.size += len(rec)

    def fileno(self) -> int:
        return self._f.fileno()

    @property
    def closed(self) -> bool:
        return self._f.closed

    def close(self) -> None:
        self._f.close()


def _write_all(f, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = f.write(view)
        if n is None or n <= 0:  # pragma: no cover - regular files never do this
            raise OSError(28, "No space left on device (short write)")
        view = view[n:]


def write_sealed(path: str | Path, ring: KeyRing, plaintext: bytes) -> None:
    """Atomically replace ``path`` by the encryption of ``plaintext`` (write, fsync, rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(seal(ring, plaintext))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def reencrypt_file(path: str | Path, ring: KeyRing) -> bool:
    """Re-encrypt one encrypted file under the ring's current key (atomic); True if rewritten."""
    path = Path(path)
    data = path.read_bytes()
    if not is_encrypted(data) or data[8:16] == ring.current:
        return False
    recs, _partial = open_records(ring, data, path)
    header = _new_header(ring)
    aead = _aesgcm(ring.current_key)
    tmp = path.with_name(path.name + ".rekey")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(header)
        for i, pt in enumerate(recs):
            f.write(_seal_record(aead, header, i, pt))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return True


def encrypted_files(store_dir: str | Path) -> list[Path]:
    """Every encrypted file under a store directory."""
    out = []
    for p in sorted(Path(store_dir).rglob("*")):
        if p.is_file():
            try:
                with open(p, "rb") as f:
                    if is_encrypted(f.read(len(MAGIC))):
                        out.append(p)
            except OSError:
                continue
    return out


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
        nid = _key_id(new)
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


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
