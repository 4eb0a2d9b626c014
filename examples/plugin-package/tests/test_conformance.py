"""graphengine's conformance kit on everything this plugin registers.

``parametrize_with_checks`` makes one test per check, with ids such as
``op-prelu-gradient`` or ``optimizer-lion-state_round_trips``; run one with
``pytest -k "lion and round_trips"``.
"""

import numpy as np

from graphengine.testing import op_case, optimizer_case, parametrize_with_checks, regularizer_case
from graphengine_example_plugin import ElasticNet, Lion, PReLU

rng = np.random.default_rng(0)
# sample inputs away from 0, where PReLU has its kink (finite differences would straddle it)
x = rng.uniform(0.1, 2.0, (5, 3)) * rng.choice([-1.0, 1.0], (5, 3))


def prelu_reference(x, alpha):
    return np.where(x > 0, x, alpha * x)


@parametrize_with_checks(
    op_case(PReLU(), [x, np.array([0.1, 0.2, 0.3])], reference=prelu_reference),       # one slope per feature
    op_case(PReLU(), [x, np.array(0.25)], reference=prelu_reference, id="prelu_shared_slope"),
    optimizer_case(Lion, hyper={"lr": 0.01}),  # Lion moves lr per step: the default 1e-4 is too slow for the check
    regularizer_case(ElasticNet, options={"l1_ratio": 0.3}),
)
def test_conformance(check):
    check()
