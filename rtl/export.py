"""Verilog export of the SAT core and selector, with a JSON sidecar (config, latencies, port map) and a README
for FPGA users. Amaranth's builtin Yosys writes the Verilog (AMARANTH_USE_YOSYS=builtin is set here)."""
import json
import os
from dataclasses import asdict
from pathlib import Path

from hwsim.config import SATConfig
from hwsim.rtl.params import CoreParams
from hwsim.rtl.progress import Progress, stage

CORE_TOP, SELECTOR_TOP = "sat_core", "sat_selector"


MAX_MULTIPLIERS = 4096
"""Largest core elaborated: the paper-scale sat-vcu1525 (32 x 32 PEs x 4 fp16 multipliers) takes about 4 minutes
and 2.7 GB (README, `make bench-rtl`); with the PE written once, elaboration grows with the array's wiring."""
MAX_BUFFER_BITS = 32 << 20
"""Largest A + B tile buffers elaborated (32 Mbit; sat-vcu1525's halves hold 24 Mbit): Amaranth builds memory
initial contents bit by bit, so a 1 GiB buffer alone would exhaust memory."""


def elaboration_size(p: CoreParams) -> tuple[int, int]:
    """The estimate of elaboration size checked before any work: (multipliers, A + B buffer bits)."""
    return p.rows * p.cols * p.mults, p.a_depth * p.a_word + p.b_depth * p.b_word


def check_size(p: CoreParams) -> None:
    """Refuse, in milliseconds, a core too big to elaborate in minutes and memory a workstation has."""
    from hwsim.errors import ConfigError

    mults, bits = elaboration_size(p)
    if mults > MAX_MULTIPLIERS:
        raise ConfigError(f"array: {p.rows}x{p.cols} PEs x {p.mults} = {mults:,} multipliers (expected at most "
                          f"{MAX_MULTIPLIERS:,} for RTL: the paper-scale core takes minutes already)", "--arch")
    if bits > MAX_BUFFER_BITS:
        raise ConfigError(f"buffers: A and B halves hold {bits / 8 / 1024:,.0f} KiB (expected at most "
                          f"{MAX_BUFFER_BITS // 8 // 1024:,} KiB for RTL elaboration)", "--arch")


def _convert(component, name: str) -> str:
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    from amaranth.back import verilog

    return verilog.convert(component, name=name, emit_src=False)


def pe_verilog(p: CoreParams, top_row: bool = False) -> str:
    """The PE as its own Verilog module (`pe.GatedPE`, named `pe.pe_module_name(top_row)`)."""
    from hwsim.rtl.pe import GatedPE, pe_module_name

    return _convert(GatedPE(p, top_row), pe_module_name(top_row))


def core_verilog(p: CoreParams, progress: "Progress | None" = None, shape: str = "") -> str:
    """The core: its PE modules (the top row's, and the other rows' when rows > 1), each written once, then
    `sat_core`, which instantiates them rows x cols times (the PE datapath is not elaborated per PE). With
    `progress`, each of these is a stage (Amaranth elaboration and Verilog)."""
    from hwsim.rtl.core import SATCore
    from hwsim.rtl.pe import pe_module_name

    texts = []
    for top_row in (True, False)[:2 if p.rows > 1 else 1]:
        with stage(progress, f"export PE module {pe_module_name(top_row)} ({p.mults} {p.dtype} multipliers)"):
            texts.append(pe_verilog(p, top_row))
    with stage(progress, f"export {CORE_TOP} ({shape or p.dtype}: PE instances, buffers, controller)"):
        texts.append(_convert(SATCore(p, pe_modules=True), CORE_TOP))
    return "\n".join(texts)


def selector_verilog(p: CoreParams) -> str:
    from hwsim.rtl.selector import Selector

    return _convert(Selector(p), SELECTOR_TOP)


def port_map(component) -> list[dict]:
    """Top-level Verilog ports of a component: name, direction, bits (clk and rst added by Amaranth)."""
    from amaranth.hdl import Shape
    from amaranth.lib.wiring import Flow

    ports = [{"name": "clk", "dir": "in", "bits": 1}, {"name": "rst", "dir": "in", "bits": 1}]
    for path, member, _ in component.signature.flatten(component):
        flow = member.flow
        ports.append({"name": "__".join(map(str, path)), "dir": "in" if flow == Flow.In else "out",
                      "bits": Shape.cast(member.shape).width})
    return ports


def _inspected(*components) -> None:
    """Mark components built only to read their signature and latencies (no UnusedElaboratable warning)."""
    for c in components:
        c._MustUse__silence = True


def describe(cfg: SATConfig, p: CoreParams) -> dict:
    """The sidecar: config, RTL parameters, latencies and the port maps of both tops."""
    from hwsim.resources import core_board_fit
    from hwsim.rtl.core import SATCore
    from hwsim.rtl.selector import Selector

    core = SATCore(p)
    _inspected(core, core.array)
    info = {
        "config": cfg.model_dump(mode="json"),
        "params": asdict(p) | {"k_step": p.k_step, "idx_width": p.idx_width, "nm": p.nm_text, "dtype": p.dtype,
                               "acc_dtype": p.acc_dtype,
                               "a_word_bits": p.a_word, "b_word_bits": p.b_word},
        "latency": {"pe": core.array.latency, "buffer_read": core.latency - core.array.latency,
                    "fill_cycles": core.fill_cycles,
                    "tile_os": "steps + fill_cycles", "tile_ws": "rows_of_A + fill_cycles (rows_of_A >= array rows)",
                    "preload_ws": p.rows + 1},
        "tops": {CORE_TOP: port_map(core)},
        # the generated core on the config's board, floating point as built (hwsim.resources.core_board_fit)
        "board_as_generated": core_board_fit(cfg, p.nm_text),
    }
    if not p.dense:
        sel = Selector(p)
        _inspected(sel, *sel.lanes)
        info["latency"]["selector"] = sel.latency
        info["latency"]["select_tile"] = "M * ceil(groups / lanes) + selector"
        info["tops"][SELECTOR_TOP] = port_map(sel)
    return info


README = """# SAT core RTL: {name}, {nm}, {dtype}

Generated by `hwsim rtl` from the `{name}` architecture spec. Files:

- `{core}.v`: the compute core: A/B tile buffers, a {rows}x{cols} systolic array of N:M sparse PEs
  ({mults} multipliers each, {nm}, {arith}), controller and output stream.
{sel_line}- `{stem}.json`: the config, the RTL parameters, latencies and the port maps.

Clocking: one clock `clk`, synchronous active-high reset `rst` (hold it for two cycles after power-up).

Core protocol (all inputs sampled on the rising edge):
1. Load buffers while `busy` is low: `a_wr_en/addr/data` ({a_word} bits a word, {a_depth} words) and
   `b_wr_en/addr/data` ({b_word} bits, {b_depth} words). OS: A word s = activations of k step s for all
   {rows} rows; WS: A word t = row t of A. B word s = the {mults} (value, index) lanes of every column for
   k step s (OS) or PE row s (WS).
2. WS only: pulse `load_w`; the weights of B words 0..{rows_m1} enter the PEs in {preload} cycles.
3. Pulse `start` with `mode` (0 output-stationary, 1 weight-stationary) and `count` (OS: k steps; WS: rows of A).
4. Results stream on `out__valid/out__ready/out__payload` (payload = {cols} {acc_dtype} values, column 0 in the low
   bits, then a `last` bit). Back-pressure stalls the whole core; nothing is lost. `busy` stays high until the
   last beat has been taken; start the next tile (or load) once it is low. A `start` with count 0 is ignored.

A tile takes `count + {fill}` cycles from the first buffer read to the last beat (OS: count = k steps,
WS: count = rows of A, at least {rows}), plus one per cycle the output is held back. PE pipeline depth:
{pe_lat} cycles. This is the per-tile compute time the hwsim simulator charges (`tile_compute_cycles`).
"""


ARITHMETIC = {
    False: "int{width} operands, exact products, int32 accumulation that wraps",
    True: "fp16 operands, exact fp32 products, fp32 accumulation rounded to nearest even after every product in "
          "ascending reduction order, subnormals kept, every NaN the quiet NaN 0x7FC00000",
}


def export(cfg: SATConfig, nm: str, out: Path, progress: "Progress | None" = None) -> dict:
    """Write the Verilog, sidecar JSON and README into `out` (created); return the sidecar dict. With `progress`,
    each generation step reports its stage and elapsed time (a paper-scale core takes minutes)."""
    p = CoreParams.from_config(cfg, nm)
    check_size(p)
    shape = f"{p.rows}x{p.cols} PEs x {p.mults} {p.dtype}"
    texts = {f"{CORE_TOP}.v": core_verilog(p, progress, shape)}
    if not p.dense:
        with stage(progress, f"export {SELECTOR_TOP} ({p.select_lanes} lanes)"):
            texts[f"{SELECTOR_TOP}.v"] = selector_verilog(p)
    info = describe(cfg, p)
    info["files"] = sorted(texts) + [f"{CORE_TOP}.json", "README.md"]
    texts[f"{CORE_TOP}.json"] = json.dumps(info, indent=2) + "\n"
    sel_line = (f"- `{SELECTOR_TOP}.v`: the top-{p.keep}-of-{p.group} selector, {p.select_lanes} lanes, one weight "
                f"per lane per cycle, result {p.select_latency} cycles after a group's last weight.\n"
                if not p.dense else "")
    texts["README.md"] = README.format(name=cfg.name, nm=p.nm_text, dtype=p.dtype, acc_dtype=p.acc_dtype,
                                       arith=ARITHMETIC[p.floating].format(width=p.width), core=CORE_TOP, stem=CORE_TOP,
                                       rows=p.rows, cols=p.cols, mults=p.mults, sel_line=sel_line, a_word=p.a_word,
                                       a_depth=p.a_depth, b_word=p.b_word, b_depth=p.b_depth, rows_m1=p.rows - 1,
                                       preload=p.rows + 1, fill=p.fill_cycles, pe_lat=p.pe_latency)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():  # everything generated before the first write: no partial output
        (out / name).write_text(text)
    return info
