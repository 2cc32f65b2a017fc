"""Run SCALE-Sim 3.0.0 on a topology CSV and print its per-layer compute cycles and wall time as JSON.

Runs in SCALE-Sim's own virtualenv (`make parity` makes it): imports nothing of hwsim.
Usage: python scalesim_driver.py TOPOLOGY.csv conv|gemm os|ws|is ROWS COLS WORKDIR [sparse]
(`sparse`: SCALE-Sim's sparse mode, ellpack_block, with each layer's N:M from the topology's sparsity column)
"""
import contextlib
import csv
import io
import json
import sys
import time
from pathlib import Path

CONFIG = """[general]
run_name = parity

[run_presets]
InterfaceBandwidth = CALC
UseRamulatorTrace = False

[architecture_presets]
ArrayHeight = {rows}
ArrayWidth = {cols}
ifmapsramszkB = 65536
filtersramszkB = 65536
ofmapsramszkB = 65536
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Dataflow = {dataflow}
ReadRequestBuffer = 32
WriteRequestBuffer = 32
Bandwidth = 10

[layout]
IfmapCustomLayout = False
IfmapSRAMBankBandwidth = 10
IfmapSRAMBankNum = 10
IfmapSRAMBankPort = 2
FilterCustomLayout = False
FilterSRAMBankBandwidth = 10
FilterSRAMBankNum = 10
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = {sparse}
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 8
RandomNumberGeneratorSeed = 40
"""


def main(topology: str, form: str, dataflow: str, rows: int, cols: int, work: str, sparse: bool = False) -> None:
    from scalesim.scale_sim import scalesim

    work_dir = Path(work)
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "parity.cfg").write_text(CONFIG.format(rows=rows, cols=cols, dataflow=dataflow,
                                                                  sparse=str(sparse).lower()))
    names = [row[0].strip() for row in list(csv.reader(open(topology)))[1:] if row and row[0].strip()]
    layout = ["Layer name, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o,"]
    layout += [f"{name}, 1, 1, 1, 1, 1, 1, 0, 1, 2, 0, 1, 2, 0, 1," for name in names]
    (work_dir / "layout.csv").write_text("\n".join(layout) + "\n")
    sim = scalesim(save_disk_space=True, verbose=False, config=str(work_dir / "parity.cfg"), topology=topology,
                   layout=str(work_dir / "layout.csv"), input_type_gemm=form == "gemm")
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        sim.run_scale(top_path=str(work_dir / "out"))
    seconds = time.perf_counter() - start
    report = list(csv.reader(open(work_dir / "out" / "parity" / "COMPUTE_REPORT.csv")))[1:]
    cycles = [int(row[2]) for row in report if row]  # "Total Cycles": compute, with stalls (none in CALC mode)
    print(json.dumps({"names": names, "cycles": cycles, "seconds": seconds}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6],
         len(sys.argv) > 7 and sys.argv[7] == "sparse")
