"""Shared pytest configuration: hypothesis profiles.

The "fuzz" profile (select it with the environment variable HYPOTHESIS_PROFILE=fuzz) runs the
property tests with a larger example budget than the default run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
