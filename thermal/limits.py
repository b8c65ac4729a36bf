"""Physical limits of the inputs: the range of every stack value, shared by the native stack
(:mod:`thermal.stack`), HotSpot's configs (:mod:`thermal.io.hotspot`) and floorplans' material
columns (:mod:`thermal.floorplan`)."""

RANGES = {
    "thickness": (1e-9, 1.0),            # m: a monolayer to a 1 m block
    "conductivity": (1e-4, 1e5),         # W/(m K): below aerogels (0.01) to above diamond (2e3)
    "heat_capacity": (1.0, 1e9),         # J/(m^3 K): gases ~1e3, solids ~1e6
    "size": (0.0, 1.0),                  # m: spreaders and sinks up to 1 m a side
    "ambient": (1.0, 1e4),               # K
    "convection.h": (1e-3, 1e9),         # W/(m^2 K): still air ~5, boiling ~1e5
    "convection.r": (1e-12, 1e9),        # K/W
    "convection.c": (0.0, 1e12),         # J/K
}
"""Physical range of each stack value (native TOML key): values outside are refused, as no chip
has them and beyond them the solve overflows or loses every digit (a 1e30 conductivity, a
1e300 m spreader)."""
