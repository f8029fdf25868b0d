"""Encryption at rest (AES-256-GCM): the authenticated file format of the store.

Every file the store writes except the database and the audit log is encrypted with a data key
of the key ring (:mod:`addictidx.store.keyring`). One file format serves both whole files
(``meta.json``, ``audit.head``) and files appended to while recording (``eeg.f64``, ``rr.f64``)::

    header  (32 bytes)   b"AXENC1\\n\\0" | key id (8 bytes) | random file id (16 bytes)
    record  (repeated)   length n (uint32 LE) | nonce (12 bytes) | ciphertext + tag (n bytes)

Each record is sealed with a fresh random nonce and authenticated together with the header and
its own index (``AAD = header | index as uint64 LE``), so a record cannot be changed, moved to
another file or to another position without failing authentication. A record cut short by a
crash (the last one) is ignored on reading, like a partial row of the plaintext format.
"""

from __future__ import annotations

import os
import secrets
import struct
from collections.abc import Iterator
from pathlib import Path

from addictidx._core.errors import DataFormatError
from addictidx.store.files import write_atomic

__all__ = [
    "MAGIC",
    "HEADER_SIZE",
    "seal",
    "open_sealed",
    "open_records",
    "write_sealed",
    "is_encrypted",
    "EncryptedAppender",
    "iter_records",
    "reencrypt_file",
    "encrypted_files",
]

MAGIC = b"AXENC1\n\0"
HEADER_SIZE = 32
_REC = struct.Struct("<I")
_NONCE = 12
_TAG = 16
#: Largest record accepted on reading (a corrupt length field must not allocate gigabytes).
MAX_RECORD = 64 * 1024 * 1024


def _aesgcm(key: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def _new_header(ring) -> bytes:
    return MAGIC + ring.current + secrets.token_bytes(16)


def _seal_record(aead, header: bytes, index: int, plaintext: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE)
    ct = aead.encrypt(nonce, plaintext, header + struct.pack("<Q", index))
    return _REC.pack(len(ct)) + nonce + ct


def seal(ring, plaintext: bytes) -> bytes:
    """Encrypt a whole file's content (header + one record)."""
    header = _new_header(ring)
    return header + _seal_record(_aesgcm(ring.current_key), header, 0, bytes(plaintext))


def is_encrypted(data: bytes) -> bool:
    """Whether ``data`` (a file's first bytes) starts like an encrypted addictidx file."""
    return bytes(data[: len(MAGIC)]) == MAGIC


def iter_records(ring, data: bytes, where: object = "") -> Iterator[tuple[int, bytes]]:
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


def open_records(ring, data: bytes, where: object = "") -> tuple[list[bytes], int]:
    """All complete records' plaintexts and the number of trailing bytes of an incomplete one."""
    out: list[bytes] = []
    end = HEADER_SIZE
    for off, pt in iter_records(ring, data, where):
        out.append(pt)
        end = off + _REC.size + _NONCE + len(pt) + _TAG
    return out, len(data) - end


def open_sealed(ring, data: bytes, where: object = "") -> bytes:
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

    def __init__(self, path: str | Path, ring) -> None:
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


def write_sealed(path: str | Path, ring, plaintext: bytes) -> None:
    """Atomically replace ``path`` by the encryption of ``plaintext`` (temporary file, fsync,
    rename; mode 0600)."""
    write_atomic(path, seal(ring, plaintext))


def reencrypt_file(path: str | Path, ring) -> bool:
    """Re-encrypt one encrypted file under the ring's current key (atomic); True if rewritten."""
    path = Path(path)
    data = path.read_bytes()
    if not is_encrypted(data) or data[8:16] == ring.current:
        return False
    recs, _partial = open_records(ring, data, path)
    header = _new_header(ring)
    aead = _aesgcm(ring.current_key)
    body = b"".join(_seal_record(aead, header, i, pt) for i, pt in enumerate(recs))
    write_atomic(path, header + body)
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
