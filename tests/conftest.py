"""Test-suite settings shared by every test module.

Property tests (hypothesis) explore random inputs on a developer's machine, where a new failing
example is worth finding; in CI (``CI=true``) they run derandomized, so a run is reproducible and a
red CI always means a change, never a lucky draw. The database of failing examples keeps replaying
anything found locally.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    settings.load_profile("ci")
