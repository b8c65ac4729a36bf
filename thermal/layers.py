"""The layered stack's physics in one place: vertical couplings and the per-mode layer system.

Every layer ``l`` conducts laterally with its sheet conductance ``k_l t_l`` (W/K) and exchanges
heat with its neighbours through conductances per area between layer mid-planes (SPEC §2):

    g_{l,l+1} = 1 / (t_l/(2k_l) + t_{l+1}/(2k_{l+1})),      g_amb = 1 / (t_{L-1}/(2k_{L-1}) + 1/h),

in W/(m² K), ``h`` the heat-transfer coefficient at the bottom face. The FEM assembly
(:mod:`thermal.assemble`, through :class:`thermal.stack.Stack`), the exact cosine series
(:mod:`thermal.gallery`) and the predictor's physics features (:mod:`thermal.predict`) all take
them from here.

A lateral eigenmode ``cos(μx) cos(νy)`` of the Neumann Laplacian with eigenvalue ``λ`` turns the
layered problem into one small L x L system per mode,

    (diag(k t) λ + G) a = q,

``G`` tridiagonal with ``g_{l,l+1}`` off the diagonal and ``g_amb`` added on the last row: an
M-matrix, diagonally dominant, solved for all modes at once by :func:`solve_modes` (a Thomas
sweep over the layers, vectorised over the modes).

Examples
--------
One layer: a uniform mode (λ = 0) rises by q / g_amb.

>>> c = Couplings.of([1e-3], [100.0], h=1e4)
>>> round(float(c.ambient), 6)
9523.809524
>>> import numpy as np
>>> bool(np.isclose(mode_response(c, np.zeros(1), 0)[0, 0], 1 / c.ambient))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Couplings", "half_resistance", "between", "to_ambient", "mode_matrix",
           "solve_modes", "mode_response"]


def half_resistance(thickness_m, conductivity):
    """Resistance per area from a layer's mid-plane to its face, ``t/(2k)`` m² K/W (arrays or
    floats; a per-triangle conductivity gives one per triangle)."""
    return thickness_m / (2 * conductivity)


def between(half_a, half_b):
    """Conductance per area between two layers' mid-planes, W/(m² K), from their
    :func:`half_resistance`: ``1/(r_a + r_b)``."""
    return 1.0 / (half_a + half_b)


def to_ambient(half, h):
    """Conductance per area from the bottom layer's mid-plane to ambient, W/(m² K):
    ``1/(r + 1/h)`` with ``h`` the heat-transfer coefficient at its lower face."""
    return 1.0 / (half + 1.0 / h)


@dataclass(frozen=True)
class Couplings:
    """The vertical couplings and sheet conductances of a stack, top (0) to bottom.

    Attributes
    ----------
    sheet : (L,) float
        Sheet conductance ``k t`` of each layer, W/K (0 for a layer that does not conduct
        laterally).
    between : (L-1,) float
        Conductance per area from layer ``l`` to ``l + 1``, W/(m² K).
    ambient : float
        Conductance per area from the bottom layer to ambient, W/(m² K).
    """

    sheet: np.ndarray
    between: np.ndarray
    ambient: float

    @classmethod
    def of(cls, thickness_m, conductivity, h: float) -> "Couplings":
        """The couplings of layers with these thicknesses (m) and conductivities (W/(m K)),
        ``h`` W/(m² K) at the bottom face."""
        thickness = np.asarray(thickness_m, dtype=np.float64)
        conductivity = np.asarray(conductivity, dtype=np.float64)
        half = half_resistance(thickness, conductivity)
        return cls(sheet=thickness * conductivity, between=between(half[:-1], half[1:]),
                   ambient=to_ambient(half[-1], h))

    @property
    def n_layers(self) -> int:
        return len(self.sheet)

    @property
    def below(self) -> np.ndarray:
        """(L,) conductance per area from each layer to the next below it (the last: ambient)."""
        return np.r_[self.between, self.ambient]

    @property
    def above(self) -> np.ndarray:
        """(L,) conductance per area from each layer to the one above it (0 for the top)."""
        return np.r_[0.0, self.between]

    @property
    def total(self) -> np.ndarray:
        """(L,) each layer's whole vertical conductance per area: the diagonal of ``G``."""
        total = np.zeros(self.n_layers)
        total[:-1] += self.between
        total[1:] += self.between
        total[-1] += self.ambient
        return total


def mode_matrix(couplings: Couplings, lam: np.ndarray) -> np.ndarray:
    """The dense layer system ``diag(k t) λ + G`` of every mode: shape lam.shape + (L, L)."""
    n_layers = couplings.n_layers
    total = couplings.total
    k = np.zeros(np.shape(lam) + (n_layers, n_layers))
    for l in range(n_layers):
        k[..., l, l] = couplings.sheet[l] * lam + total[l]
        if l < n_layers - 1:
            k[..., l, l + 1] = k[..., l + 1, l] = -couplings.between[l]
    return k


def solve_modes(couplings: Couplings, lam: np.ndarray, rhs) -> np.ndarray:
    """Solve ``(diag(k t) λ + G) a = rhs`` for every mode ``λ``.

    Thomas sweep over the L layers, vectorised over the modes; the matrix is a diagonally
    dominant M-matrix, so no pivoting is needed.

    Parameters
    ----------
    couplings : Couplings
    lam : ndarray
        The modes' eigenvalues λ, 1/m², any shape.
    rhs : sequence of L arrays (or floats) broadcastable to ``lam.shape``
        The right-hand side of each layer.

    Returns
    -------
    (L,) + lam.shape ndarray
    """
    sheet, g, total = couplings.sheet, couplings.between, couplings.total
    n_layers = len(sheet)
    c_prime = []                   # super-diagonal after elimination (layers 0..L-2)
    d_prime = []                   # right-hand side after elimination
    for l in range(n_layers):
        diag = sheet[l] * lam + total[l]
        b = rhs[l]
        if l:
            diag = diag + g[l - 1] * c_prime[-1]       # sub-diagonal is -g
            b = b + g[l - 1] * d_prime[-1]
        if l < n_layers - 1:
            c_prime.append(-g[l] / diag)
        d_prime.append(b / diag)
    out = np.empty((n_layers,) + np.shape(lam))
    out[-1] = d_prime[-1]
    for l in range(n_layers - 2, -1, -1):
        out[l] = d_prime[l] - c_prime[l] * out[l + 1]
    return out


def mode_response(couplings: Couplings, lam: np.ndarray, source: int) -> np.ndarray:
    """``[(diag(k t) λ + G)^{-1}]_{l, source}`` for every λ: each layer's response to a unit
    source in layer ``source``, shape (L,) + lam.shape."""
    lam = np.asarray(lam)
    return solve_modes(couplings, lam, [np.full(lam.shape, 1.0 if l == source else 0.0)
                                        for l in range(couplings.n_layers)])
