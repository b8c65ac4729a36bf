"""Reading a problem's inputs as the command line names them: the floorplan(s), the power and
the stack, read and checked against each other before anything is meshed.

Used by ``thermal solve``/``transient``/``mesh`` (:mod:`thermal.cli`) and by the sweeps
(:mod:`thermal.sweep`), so that every path reads files the same way.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError


def load_inputs(floorplan, power, stack=None, config=None, materials=None, overrides=None,
                row: int | None = None, map_extent=None, layers=None):
    """Read and check everything ``thermal solve`` needs before it meshes.

    Parameters
    ----------
    floorplan, power : str or path-like
        HotSpot ``.flp`` file (None when the stack names a floorplan for every power layer),
        and a ``.ptrace`` file or a ``.csv``/``.npy`` power map.
    stack, config : str or path-like, optional
        A native stack TOML or a HotSpot ``.config`` (at most one); neither: HotSpot's default.
    materials : str or path-like, optional
        HotSpot ``.materials`` for ``config``.
    overrides : mapping of str to str, optional
        ``--set`` values for ``config``.
    row : int, optional
        Power trace row; default the mean.
    map_extent : (x0, y0, x1, y1), optional
        The box a power map covers (see :func:`thermal.io.powermap.read`).
    layers : str or path-like, optional
        A HotSpot ``.lcf`` layer file (:func:`thermal.io.lcf.read_lcf_stack`): its layers, then
        ``config``'s spreader and sink.

    Returns
    -------
    floorplan : Floorplan or LayeredFloorplan
        A :class:`~thermal.layered.LayeredFloorplan` when the stack names per-layer floorplans.
    power : dict of str to float, or PowerMap
        W per block (matching the floorplan's names), or the power map (on the die).
    stack : Stack

    Raises
    ------
    InputError
        Anything wrong in any of the files, or between them (power names that don't match the
        floorplan, a spreader smaller than the die).
    """
    from .layered import read_layer_floorplans
    from .io import powermap, ptrace
    from .power import power_vector
    from .stack import Stack

    is_map = Path(power).suffix.lower() in powermap.SUFFIXES
    if is_map and row is not None:
        raise InputError("--row selects a row of a power trace, but this is a power map",
                         file=str(power))
    if map_extent is not None and not is_map:
        raise InputError("--map-extent applies to a .csv/.npy power map", file=str(power))
    if layers is not None:
        from .io.lcf import read_lcf_stack

        s = read_lcf_stack(layers, config=config, materials=materials, overrides=overrides)
    elif stack is not None:
        s = Stack.read(stack)
    elif config is not None:
        s = Stack.from_hotspot_config(config, materials=materials, overrides=overrides)
    else:
        s = Stack.default()
    fp = read_layer_floorplans(s, floorplan)
    layered = getattr(fp, "block_layer", None) is not None
    if is_map:
        if layered:
            raise InputError("a power map applies to a single power layer, not to per-layer "
                             "floorplans: give a power trace", file=str(power))
        block_power = powermap.read(power, extent=map_extent)
        block_power.extent_on(fp.bounds)
    else:
        trace = ptrace.read(power)
        block_power = trace.mean() if row is None else trace.row(row)
        if layered:
            fp.power_vector(block_power)
        else:
            power_vector(fp, block_power)
    for i in range(len(s.layers)):
        s.footprint(i, fp.bounds)
    s.g_ambient(fp.bounds)
    return fp, block_power, s
