"""Synthesis at paper scale: a core too large for Yosys on a workstation (the 32 x 32 fp16 sat-vcu1525 has 4,096
fabric fp32 adders) is synthesized one PE at a time. The interior PE module (`sat_pe`, the one rows - 1 of every
column instantiate; its forwarding registers are kept as they drive the next PE) goes through the same
`synth_xilinx` flow, and its counts times rows x cols give the PE array; the buffers, skew lines and controller
are left to the calibrated estimate (`hwsim.resources.core_estimate`)."""
import tempfile
from pathlib import Path

from hwsim.rtl.params import CoreParams
from hwsim.rtl.progress import Progress

WHOLE_CORE_MAX_LUTS = 10_000
"""Largest core (estimated logic LUTs) `hwsim rtl --synth xilinx` synthesizes whole: the largest calibration row,
a 2x2 fp16 core of about 9,000 LUTs, takes about 18 minutes of Yosys on the shared 2-core machine."""
SCALED = ("LUT", "LUTRAM", "SRL", "FF", "DSP", "CARRY")


def synthesize_whole(est_luts: float) -> bool:
    """Whether a core of `est_luts` estimated logic LUTs is synthesized whole (else one PE, scaled)."""
    return est_luts <= WHOLE_CORE_MAX_LUTS


def synth_pe_xilinx(p: CoreParams, family: str, progress: "Progress | None" = None) -> dict:
    """`synth_xilinx` of one interior PE module of `p`'s core, and those counts times rows x cols."""
    from hwsim.rtl.export import pe_verilog
    from hwsim.rtl.pe import pe_module_name
    from hwsim.rtl.synth import synth_xilinx

    top = pe_module_name(top_row=False)
    with tempfile.TemporaryDirectory() as tmp:
        v = Path(tmp) / f"{top}.v"
        v.write_text(pe_verilog(p, top_row=False))
        res = synth_xilinx(v, top, family=family, progress=progress)
    pes = p.rows * p.cols
    return {"scope": "pe",
            "synthesized": f"{top}: one interior PE ({p.mults} x {p.dtype}, {p.nm_text}, pipeline depth "
                           f"{p.pe_latency}), scaled x {pes} PEs; buffers, skew lines and controller not synthesized",
            "pe": res, "pe_array": {k: res[k] * pes for k in SCALED}}
