"""A loopback TCP port for a server a test starts in another process or thread.

Not a test module (no ``test_`` prefix); test files load it by path, like fake_bleak.py.

``bind(("127.0.0.1", 0))`` then close returns a port from the kernel's *ephemeral* range, the
range it also hands to every outgoing connection: between the close and the server's own bind,
any connection made on the machine (a browser, gRPC, another test run) may take that very port,
and the server fails with EADDRINUSE. A client retrying a connection to a port nobody listens on
yet can even connect to itself when the kernel picks the same port as its source port. So the
port is chosen below the ephemeral range, where the kernel never assigns ports on its own, and is
checked free by binding it.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

__all__ = ["free_port"]

_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = (int(x) for x in _RANGE.read_text().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999  # Linux default (the IANA range starts at 49152)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that binds on ``host`` now and that the kernel does not hand out by itself."""
    lo, _hi = _ephemeral_range()
    first = 20000 if lo > 21000 else 1024  # below the ephemeral range, above well-known ports
    rng = random.SystemRandom()
    for _ in range(200 if lo - first >= 1000 else 0):
        port = rng.randrange(first, lo)
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # an unusual range: the kernel's choice
        s.bind((host, 0))
        return int(s.getsockname()[1])
