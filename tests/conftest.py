import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=40, deadline=None, derandomize=True)
# HYPOTHESIS_PROFILE=fuzz runs the property tests with a larger, randomised example budget.
settings.register_profile(
    "fuzz",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().data
