"""Imports every command module so that its commands register on the app."""

# One line per area; each module only decorates functions with ``@app.command``.
from addictidx.cli import (
    bench,  # noqa: F401
    dashboard,  # noqa: F401
    decode,  # noqa: F401
    demo,  # noqa: F401
    federated,  # noqa: F401
    music,  # noqa: F401
    prescribe_loop,  # noqa: F401
    rescore,  # noqa: F401
    sessions,  # noqa: F401
    train,  # noqa: F401
    trust,  # noqa: F401
)
