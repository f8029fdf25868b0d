"""Rotating the site data key without losing a sample.

Rotation is refused while any recording of the store is open (its writer holds the raw folder's
lock, :func:`addictidx.store.raw.recording_is_open`), with or without ``--force``: re-encrypting
a file that is being appended to would drop every record written meanwhile. Files under the
site key are re-encrypted (atomically, one by one) and the subject key files re-sealed; files
under a subject's own key are left as they are (that key does not rotate, it is destroyed on
erasure). Key file: the new key is added first and the old ones removed only after every file
was rewritten, so a crash midway loses nothing (run again to finish).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from addictidx._core.errors import StoreError
from addictidx.store import crypto
from addictidx.store.keyring import KeyRing, key_id, write_key_file
from addictidx.store.raw import raw_dir_name, recording_is_open
from addictidx.store.subject_keys import reseal_subject_keys

__all__ = ["RotationResult", "open_recordings", "rotate_site_key"]


@dataclass(frozen=True)
class RotationResult:
    """What :func:`rotate_site_key` did."""

    old_key_ids: tuple[str, ...]
    new_key_id: str
    n_files: int
    n_subject_keys: int
    key_source: str


def open_recordings(directory: str | Path, session_ids) -> list[int]:
    """The sessions among ``session_ids`` whose recording is open right now."""
    return [s for s in session_ids if recording_is_open(Path(directory) / raw_dir_name(s))]


def rotate_site_key(directory: str | Path, ring: KeyRing, running: list[int]) -> RotationResult:
    """Rotate the site data key of the store in ``directory``.

    Parameters
    ----------
    directory : path-like
        The store directory.
    ring : KeyRing
        The store's current key ring.
    running : list of int
        Sessions the database marks running (any with an open recording refuses rotation).

    Raises
    ------
    StoreError
        A recording is open.
    """
    directory = Path(directory)
    busy = open_recordings(directory, running)
    if busy:
        raise StoreError(
            f"Session(s) {busy} are recording right now; rotate the key after they end "
            "(refused even with --force: files being written would lose samples)."
        )
    if ring.path is not None:
        new = secrets.token_bytes(32)
        nid = key_id(new)
        ring = ring.with_current(nid, new)
        write_key_file(ring)
    old = tuple(k for k in ring.keys if k != ring.current)
    n = 0
    for p in crypto.encrypted_files(directory):
        with open(p, "rb") as f:
            kid = f.read(crypto.HEADER_SIZE)[8:16]
        if kid in old:
            n += crypto.reencrypt_file(p, ring)
    n_sub = reseal_subject_keys(ring)
    if ring.path is not None:
        write_key_file(
            KeyRing(
                ring.current,
                {ring.current: ring.current_key},
                ring.hash_key,
                ring.source,
                ring.path,
                ring.subject_dir,
            )
        )
    return RotationResult(tuple(k.hex() for k in old), ring.current.hex(), n, n_sub, ring.source)
