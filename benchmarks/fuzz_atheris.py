"""Coverage-guided fuzzing (atheris / libFuzzer) of the decoders, file readers and the encrypted
store formats.

Run briefly in CI by ``tests/test_fuzz.py::test_atheris_target_runs_briefly`` (3000 runs), or
longer by hand::

    python benchmarks/fuzz_atheris.py -atheris_runs=200000

Any exception other than the documented ones (``DecodeError`` from a decoder,
``DataFormatError``/``StoreError`` from a reader) is a finding: libFuzzer stops and prints the
input.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["addictidx"]):
    from addictidx._core.errors import DataFormatError, DecodeError, StoreError
    from addictidx.acquire.decoders import DECODERS
    from addictidx.readers import read_recording
    from addictidx.store import crypto, keyring
    from addictidx.store.audit import verify_audit

KEYS = sorted(DECODERS)
SUFFIXES = (".bdf", ".edf", ".csv", ".tsv", ".xdf", ".csv.gz")
TMP = Path(tempfile.mkdtemp(prefix="addictidx-fuzz-"))
RING, AUDIT_KEY = keyring.init_keys(TMP / "store")


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    target = fdp.ConsumeIntInRange(0, 4)
    if target == 0:
        fn = DECODERS[KEYS[fdp.ConsumeIntInRange(0, len(KEYS) - 1)]]
        try:
            fn(fdp.ConsumeBytes(fdp.remaining_bytes()))
        except DecodeError:
            pass
    elif target == 1:
        suffix = SUFFIXES[fdp.ConsumeIntInRange(0, len(SUFFIXES) - 1)]
        p = TMP / ("f" + suffix)
        p.write_bytes(fdp.ConsumeBytes(fdp.remaining_bytes()))
        try:
            read_recording(p)
        except DataFormatError:
            pass
    elif target == 2:
        body = fdp.ConsumeBytes(fdp.remaining_bytes())
        try:
            crypto.open_records(RING, crypto.MAGIC + RING.current + bytes(16) + body, "f")
        except DataFormatError:
            pass
    elif target == 3:
        d = TMP / "audit"
        d.mkdir(exist_ok=True)
        (d / "audit.jsonl").write_bytes(fdp.ConsumeBytes(fdp.remaining_bytes()))
        verify_audit(d, AUDIT_KEY, "fuzz", db_checked=False)
    else:
        d = TMP / "keys"
        kf = keyring.key_file_path(d)
        kf.parent.mkdir(parents=True, exist_ok=True)
        kf.write_bytes(fdp.ConsumeBytes(fdp.remaining_bytes()))
        kf.chmod(0o600)
        try:
            keyring.load_keyring(d)
        except StoreError:
            pass


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
