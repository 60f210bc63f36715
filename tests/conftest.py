"""Suite-wide settings.

Under CI (the ``CI`` environment variable set, as ``.ci/run`` runs), hypothesis runs
derandomized: the same examples every run, so a landing never depends on luck. Local runs
keep exploring new random examples (that is how the compiler's dac_resolution report was
found); a failure found there becomes a deterministic regression test.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
