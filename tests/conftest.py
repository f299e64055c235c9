import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("default", max_examples=40, deadline=None, derandomize=True)
settings.load_profile("default")


@pytest.fixture
def digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().data
