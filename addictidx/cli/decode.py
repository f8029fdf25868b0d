"""``addictidx decode PROFILE CHARACTERISTIC HEX [--json]``: decode one BLE payload offline."""

from __future__ import annotations

import json
import re

import typer

from addictidx.cli.app import app, clean_errors

_SEPARATORS = re.compile(r"[\s:\-_]")


def _parse_hex(text: str) -> bytes:
    """Bytes from ``"0001ab"``, ``"0x0001ab"``, ``"00 01 ab"`` or ``"00:01:ab"``."""
    from addictidx._core.errors import DecodeError

    s = _SEPARATORS.sub("", text.strip())
    if s[:2].lower() == "0x":
        s = s[2:]
    bad = next((i for i, ch in enumerate(s) if ch not in "0123456789abcdefABCDEF"), None)
    if bad is not None:
        raise DecodeError(f"HEX payload: character {s[bad]!r} at hex digit {bad} is not hex.")
    if len(s) % 2:
        raise DecodeError(f"HEX payload: odd number of hex digits ({len(s)}); give whole bytes.")
    return bytes.fromhex(s)


def _summary(p) -> str:
    head = f"{p.stream}"
    if p.sequence is not None:
        head += f" seq={p.sequence}"
    if p.timestamp_ns is not None:
        head += f" t={p.timestamp_ns}ns"
    parts = [head]
    for name, values in p.channels.items():
        vals = ", ".join(f"{v:.6g}" for v in values[:6]) + (", ..." if len(values) > 6 else "")
        parts.append(f"{name}[{len(values)}] {p.units[name]}: {vals}")
    if p.fields:
        parts.append(json.dumps(p.to_dict()["fields"]))
    return "  ".join(parts)


@app.command("decode")
@clean_errors
def decode_cmd(
    profile: str = typer.Argument(
        ..., help="Profile name (muse-2, muse-s-athena, polar-h10, generic-hrs, ...)."
    ),
    characteristic: str = typer.Argument(
        ...,
        help="Characteristic UUID; SIG characteristics also as 2a37 or 0x2A37.",
    ),
    payload_hex: str = typer.Argument(
        ..., metavar="HEX", help="Payload bytes in hex (spaces or colons allowed)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the packets as a JSON list."),
) -> None:
    """Decode one notification payload into packets (works without a device)."""
    from addictidx.acquire.decode_api import decode

    packets = decode(profile, characteristic, _parse_hex(payload_hex))
    if json_out:
        typer.echo(json.dumps([p.to_dict() for p in packets]))
        return
    if not packets:
        typer.echo("(no decodable blocks)")
    for p in packets:
        typer.echo(_summary(p))
