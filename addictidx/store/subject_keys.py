"""Per-subject data keys: crypto-shredding.

Each subject gets a random 32-byte key when first registered. It encrypts the subject's raw
recordings and the paths of the reports and exports the tool made for them, and it holds the
subject's pseudonymous code and hash salt, so the database only ever names a subject by the
key's id (``k:<16 hex>``). One file per subject, ``<keys>/subjects/<key id>.key``, sealed with the
site data key (:mod:`addictidx.store.crypto`), mode 0600.

Erasing a subject destroys that file (:func:`destroy_subject_key`): every copy of the subject's
ciphertext anywhere (backups of the store, a WAL segment, PostgreSQL pages, a copied raw folder)
becomes unreadable, and the ids left in the database, the audit log and research exports can no
longer be linked to the code. Copies of the key folder itself are outside this reach: keep no
long-lived backup of ``<keys>/subjects/``.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from addictidx._core.errors import AddictIdxError, StoreError
from addictidx.store import crypto
from addictidx.store.files import private_dir, remove_file, write_atomic

__all__ = [
    "SUBJECT_ID_PREFIX",
    "SubjectKey",
    "subject_id",
    "key_id_of",
    "create_subject_key",
    "read_subject_key",
    "all_subject_keys",
    "destroy_subject_key",
    "reseal_subject_keys",
]

#: Prefix of subject ids in the database (codes never contain ``:``).
SUBJECT_ID_PREFIX = "k:"
_FORMAT = "addictidx-subject-key-1"


@dataclass(frozen=True)
class SubjectKey:
    """One subject's data key.

    Attributes
    ----------
    key_id : bytes
        8-byte id (names the key in file headers; the database's subject id is derived from it).
    key : bytes
    code : str
        The pseudonymous subject code.
    salt : str
        Random salt of the subject's keyed hashes.
    """

    key_id: bytes
    key: bytes = field(repr=False)
    code: str = field(repr=False)
    salt: str = field(repr=False)

    @property
    def subject_id(self) -> str:
        """The id naming the subject in the database (``k:<hex key id>``)."""
        return subject_id(self.key_id)


def subject_id(kid: bytes) -> str:
    """The database subject id of a subject key id."""
    return SUBJECT_ID_PREFIX + kid.hex()


def key_id_of(sid: str) -> bytes:
    """The key id of a database subject id."""
    return bytes.fromhex(sid[len(SUBJECT_ID_PREFIX) :])


def _site_only(ring):
    """The ring without subject-key lookup (subject key files are sealed with site keys)."""
    from addictidx.store.keyring import KeyRing

    return KeyRing(ring.current, ring.keys, ring.hash_key, ring.source, ring.path, None)


def _path(ring, kid: bytes) -> Path:
    if ring.subject_dir is None:
        raise StoreError("This key ring has no subject key folder.")
    return Path(ring.subject_dir) / f"{kid.hex()}.key"


def create_subject_key(ring, code: str, *, salt: str | None = None) -> SubjectKey:
    """Create, store (sealed, atomically, 0600) and return a new subject key for ``code``."""
    from addictidx.store.keyring import key_id

    key = secrets.token_bytes(32)
    sk = SubjectKey(key_id(key), key, code, salt or secrets.token_hex(16))
    doc = {
        "format": _FORMAT,
        "code": code,
        "key": base64.b64encode(key).decode(),
        "salt": sk.salt,
    }
    path = _path(ring, sk.key_id)
    private_dir(path.parent)
    write_atomic(path, crypto.seal(_site_only(ring), json.dumps(doc).encode()))
    return sk


def read_subject_key(ring, kid: bytes) -> SubjectKey | None:
    """The subject key with id ``kid``, or None when it does not exist (erased).

    Raises
    ------
    StoreError
        The file exists but is not an authentic subject key of this site.
    """
    from addictidx.store.keyring import key_id

    path = _path(ring, kid)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"Cannot read the subject key {path}: {exc}") from None
    try:
        doc = json.loads(crypto.open_sealed(_site_only(ring), data, path))
        key = base64.b64decode(doc["key"], validate=True)
        sk = SubjectKey(kid, key, str(doc["code"]), str(doc["salt"]))
    except AddictIdxError as exc:
        raise StoreError(f"{path}: not an authentic subject key ({exc}).") from None
    except (ValueError, KeyError, TypeError):
        raise StoreError(f"{path}: not an authentic subject key (bad content).") from None
    if key_id(key) != kid:
        raise StoreError(f"{path}: the key does not match its id (replaced?).")
    return sk


def all_subject_keys(ring) -> list[SubjectKey]:
    """Every subject key of the store."""
    d = ring.subject_dir
    if d is None or not Path(d).is_dir():
        return []
    out = []
    for p in sorted(Path(d).glob("*.key")):
        try:
            kid = bytes.fromhex(p.stem)
        except ValueError:
            continue
        sk = read_subject_key(ring, kid)
        if sk is not None:
            out.append(sk)
    return out


def destroy_subject_key(ring, kid: bytes) -> bool:
    """Overwrite and remove a subject key file; True if it existed."""
    return remove_file(_path(ring, kid))


def reseal_subject_keys(ring) -> int:
    """Re-seal every subject key file under the ring's current site key; return how many."""
    return sum(crypto.reencrypt_file(p, _site_only(ring)) for p in _key_files(ring))


def _key_files(ring) -> list[Path]:
    d = ring.subject_dir
    return sorted(Path(d).glob("*.key")) if d is not None and Path(d).is_dir() else []
