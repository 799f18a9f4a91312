import logging

import bilby
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def seed_everything():
    """Every test starts from the same global random state."""
    np.random.seed(1234)
    bilby.core.utils.random.seed(1234)


@pytest.fixture(autouse=True, scope="session")
def quiet_bilby():
    bilby.core.utils.setup_logger(log_level="WARNING")
    logging.getLogger("bilby").setLevel(logging.WARNING)
