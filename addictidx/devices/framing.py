"""Control-command framings a profile can name (``[control].framing``).

``muse-ascii``: :func:`encode_muse_command` (``len+1 | ascii | 0x0A``, PROTOCOLS.md §1.2);
``hex``: the command is the payload written in hex (Polar PMD, PROTOCOLS.md §3.2).
"""

from __future__ import annotations

__all__ = ["encode_muse_command", "encode_hex_command"]


def encode_muse_command(ascii_command: str) -> bytes:
    """Encode a control command for characteristic ``273e0001``.

    Parameters
    ----------
    ascii_command : str
        The command text, e.g. ``"v1"``, ``"p21"``, ``"d"``, ``"dc001"``.

    Returns
    -------
    payload : bytes
        ``len(ascii_command) + 1``, the ASCII bytes, then ``0x0A``.

    Examples
    --------
    >>> encode_muse_command("v1").hex()
    '0376310a'
    """
    if not isinstance(ascii_command, str) or not ascii_command:
        raise ValueError(f"Muse command must be a non-empty str, got {ascii_command!r}.")
    try:
        body = ascii_command.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"Muse command must be ASCII, got {ascii_command!r}.") from None
    if b"\n" in body or len(body) > 253:
        raise ValueError(
            f"Muse command must be <= 253 characters without a newline, got {ascii_command!r}."
        )
    return bytes([len(body) + 1]) + body + b"\n"


def encode_hex_command(hex_command: str) -> bytes:
    """The bytes of a command written in hex (``"0300"`` -> ``03 00``); ValueError if not hex."""
    return bytes.fromhex(hex_command)
