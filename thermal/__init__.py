"""thermal: adaptive-mesh thermal simulation of SoC floorplans.

>>> import thermal
>>> thermal.__version__
'0.1.0'
"""

from .errors import InputError, InputWarning, SolverError
from .floorplan import Floorplan
from .io.flp import read as read_floorplan
from .io.powermap import read as read_power_map
from .io.ptrace import read as read_ptrace
from .power import PowerMap, PowerTrace
from .solve import solve
from .transient import transient, transient_frames
from .stack import Layer, Stack

__version__ = "0.1.0"


def __getattr__(name: str):
    # MeshingOptions is read on first use: its module brings the predictor (scipy.ndimage),
    # which a solve on the uniform or estimator strategy never needs
    if name == "MeshingOptions":
        from .options import MeshingOptions

        return MeshingOptions
    raise AttributeError(f"module 'thermal' has no attribute {name!r}")


__all__ = ["Floorplan", "InputError", "InputWarning", "Layer", "PowerMap", "PowerTrace",
           "MeshingOptions", "SolverError", "Stack", "read_floorplan", "read_power_map",
           "read_ptrace", "solve",
           "transient", "transient_frames",
           "__version__"]
