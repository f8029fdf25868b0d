"""Test-suite settings shared by every test module.

Property tests (hypothesis) explore random inputs on a developer's machine, where a new failing
example is worth finding; in CI (``CI=true``) they run derandomized, so a run is reproducible and a
red CI always means a change, never a lucky draw. The database of failing examples keeps replaying
anything found locally.

No example is timed (``deadline=None`` in both profiles): Hypothesis's default 200-ms deadline
per example is a timed assertion, and on a loaded 2-core machine one stalled example of a
microsecond decoder fails the test as DeadlineExceeded or Flaky ("unreliable test timings").
"""

import os

from hypothesis import settings

settings.register_profile("untimed", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile(
    "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "untimed"
)
