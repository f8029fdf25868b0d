"""Imports every command module so that its commands register on the app."""

# One line per area; each module only decorates functions with ``@app.command``.
from addictidx.cli import prescribe_loop  # noqa: F401
from addictidx.cli import train  # noqa: F401
from addictidx.cli import decode  # noqa: F401
from addictidx.cli import bench  # noqa: F401
from addictidx.cli import sessions  # noqa: F401
from addictidx.cli import trust  # noqa: F401
from addictidx.cli import dashboard  # noqa: F401
