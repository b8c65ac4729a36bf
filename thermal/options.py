"""Tuning of the meshing strategies, passed as one value instead of module globals.

:class:`MeshingOptions` gathers the constants the predicted and adaptive strategies are tuned
by. Its defaults are the shipped settings, each documented (meaning, units, and the benchmark
that chose it) where it is used; ``benchmarks/size_safety.py`` compares other values by passing
``thermal.solve(..., options=MeshingOptions(size_safety=2.0))``, never by reassigning a module.

>>> MeshingOptions().size_safety
1.7
>>> MeshingOptions(max_size_fraction=1 / 24).start_fraction("ml")
0.041666666666666664
"""

from __future__ import annotations

from dataclasses import dataclass

from .adapt import CORRECTION_BLOCK_FRACTION, MAX_BISECTIONS
from .predict import MAX_SIZE_FRACTION, OFF_DIE_GRADING, OFF_DIE_SIZE_FRACTION, SIZE_SAFETY
from .strategies import PREDICTED, START_FRACTION

__all__ = ["MeshingOptions"]


@dataclass(frozen=True)
class MeshingOptions:
    """Constants of the meshing strategies (defaults: the shipped settings).

    Attributes
    ----------
    size_safety : float
        Factor on the forest's predicted element size (:data:`thermal.predict.SIZE_SAFETY`).
    max_size_fraction : float
        Largest predicted size, and the predicted strategies' initial mesh bound, as a fraction
        of the die's shorter side (:data:`thermal.predict.MAX_SIZE_FRACTION`).
    off_die_size_fraction : float
        Element size off the die at its edge, fraction of the die's shorter side
        (:data:`thermal.predict.OFF_DIE_SIZE_FRACTION`).
    off_die_grading : float
        Growth of that size with the distance from the die, m per m
        (:data:`thermal.predict.OFF_DIE_GRADING`).
    uniform_start_fraction : float
        Initial mesh bound of the uniform and estimator strategies, fraction of the die's
        shorter side (:data:`thermal.strategies.START_FRACTION`).
    correction_block_fraction : float
        A predicted strategy's correction marks a block's triangles down to this fraction of
        its largest indicator (:data:`thermal.adapt.CORRECTION_BLOCK_FRACTION`).
    max_bisections : int
        Most bisections of one marked triangle in one correction round
        (:data:`thermal.adapt.MAX_BISECTIONS`).
    """

    size_safety: float = SIZE_SAFETY
    max_size_fraction: float = MAX_SIZE_FRACTION
    off_die_size_fraction: float = OFF_DIE_SIZE_FRACTION
    off_die_grading: float = OFF_DIE_GRADING
    uniform_start_fraction: float = START_FRACTION
    correction_block_fraction: float = CORRECTION_BLOCK_FRACTION
    max_bisections: int = MAX_BISECTIONS

    def __post_init__(self):
        for name in ("size_safety", "max_size_fraction", "off_die_size_fraction",
                     "uniform_start_fraction", "correction_block_fraction"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < float("inf")):
                raise ValueError(f"MeshingOptions.{name} must be a positive number, got {value!r}")
        if not self.off_die_grading >= 0:
            raise ValueError(f"MeshingOptions.off_die_grading must be ≥ 0, got "
                             f"{self.off_die_grading!r}")
        if int(self.max_bisections) != self.max_bisections or self.max_bisections < 1:
            raise ValueError(f"MeshingOptions.max_bisections must be a whole number ≥ 1, got "
                             f"{self.max_bisections!r}")

    def start_fraction(self, strategy: str) -> float:
        """The initial mesh's size bound of ``strategy`` (triangles' circumradius), as a fraction
        of the die's shorter side: the largest predicted size for the predicted strategies
        (they bisect to their size anyway), else :attr:`uniform_start_fraction`."""
        return self.max_size_fraction if strategy in PREDICTED else self.uniform_start_fraction
