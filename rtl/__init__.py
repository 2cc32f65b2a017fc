"""Amaranth RTL of the SAT core, built from the same `SATConfig` as the simulator.

`params.CoreParams` (what is read from the config), `pe.SparsePE` (int8/int16/fp16), `fp` (fp16 x fp16 -> fp32
multiplier, fp32 adder), `array.PEArray` (OS/WS, skew), `core.SATCore` (buffers, controller, output stream),
`selector.Selector` (top-N-of-M lanes), `export` (Verilog, sidecar, README), `synth` (Yosys for UltraScale+ and
7-series, nextpnr), `progress` (stage and elapsed-time lines), `synthesis_table` (synthesized resources as a
DataFrame, the estimate's calibration). Importing this package does not import Amaranth; the modules that build
hardware do.
"""
