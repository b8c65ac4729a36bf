"""thermal.layers: the stack's couplings and the per-mode layer solve."""

import numpy as np

from thermal.layers import Couplings, mode_matrix, mode_response, solve_modes
from thermal.stack import Stack


def test_thomas_sweep_solves_the_dense_mode_system():
    rng = np.random.default_rng(18)
    c = Couplings.of(rng.uniform(1e-5, 1e-2, 5), rng.uniform(1.0, 400.0, 5), h=3e3)
    lam = rng.uniform(0.0, 1e8, (7, 3))
    rhs = rng.normal(size=(5, 7, 3))
    a = solve_modes(c, lam, rhs)
    dense = np.linalg.solve(mode_matrix(c, lam), np.moveaxis(rhs, 0, -1)[..., None])[..., 0]
    np.testing.assert_allclose(np.moveaxis(a, 0, -1), dense, rtol=1e-12, atol=0)
    unit = mode_response(c, lam, 2)
    np.testing.assert_allclose(unit, solve_modes(c, lam, np.eye(5)[:, 2, None, None] + 0 * lam))


def test_stack_couplings_are_the_stacks_own():
    s = Stack.default()
    die = (0.0, 0.0, 0.016, 0.016)
    c = s.couplings(die)
    assert c.between.tolist() == [s.g_between(l, l + 1) for l in range(3)]
    assert c.ambient == s.g_ambient(die)
    # the uniform mode: heat in the top layer reaches ambient through every layer in series
    rise = mode_response(c, np.zeros(1), 0)[0, 0]
    resistance = (sum(1 / g for g in c.between) + 1 / c.ambient)
    assert np.isclose(rise, resistance, rtol=1e-12)
