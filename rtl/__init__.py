"""Amaranth RTL of the SAT core, built from the same `SATConfig` as the simulator.

`params.CoreParams` (what is read from the config), `pe.SparsePE`, `array.PEArray` (OS/WS, skew), `core.SATCore`
(buffers, controller, output stream), `selector.Selector` (top-N-of-M lanes), `export` (Verilog, sidecar,
README), `synth` (Yosys, nextpnr), `report` (synthesized resources as a DataFrame). Importing this package
does not import Amaranth; the modules that build hardware do.
"""
