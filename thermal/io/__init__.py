"""Readers and writers for the file formats thermal exchanges with users and other tools.

One module per format, each with ``read`` and ``write`` (or ``dumps``) where both apply; the
types they build live in the domain modules (:class:`~thermal.floorplan.Floorplan`,
:class:`~thermal.power.PowerTrace`, :class:`~thermal.power.PowerMap`,
:class:`~thermal.stack.Stack`):

- :mod:`~thermal.io.flp`: HotSpot floorplans (``.flp``)
- :mod:`~thermal.io.ptrace`: HotSpot power traces (``.ptrace``)
- :mod:`~thermal.io.powermap`: raster power maps (``.csv``, ``.npy``)
- :mod:`~thermal.io.stack_toml`: thermal's native stack file (TOML)
- :mod:`~thermal.io.hotspot`: HotSpot ``.config`` and ``.materials``
- :mod:`~thermal.io.lcf`: HotSpot 3D layer files (``.lcf``)
- :mod:`~thermal.io.steady`: HotSpot ``.steady`` and grid steady files
- :mod:`~thermal.io.ttrace`: HotSpot transient temperature traces (``.ttrace``)
- :mod:`~thermal.io.blocks_csv`: thermal's ``blocks.csv``
- :mod:`~thermal.io.vtu`: the temperature field as VTK ``.vtu``

:mod:`~thermal.io.text` holds the plain-text plumbing they share (one clear error per
unreadable file, ``#`` comments, numbers, atomic writes).
"""
