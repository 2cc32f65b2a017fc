"""`hwsim tiny --export DIR`: the arena plan header is checked by reading the C text itself, not hwsim's objects.

The checker below parses arena_plan.h with regular expressions and asserts, from the header alone:
every tensor inside the arena; no two tensors whose op ranges intersect share a byte; every op's inputs and
outputs are live when it runs; every input was written by an earlier op unless it is the image or a trainable
copy, accumulator or momentum buffer (persistent state, loaded or zeroed before the step); the op count and arena size agree with the tables. It is run on a matrix of
models, schemes, reorder on/off, patch grids and both targets, and shown to fail on corrupted headers.
"""
import json
import re
from pathlib import Path
import subprocess
import sys

import pytest

import hwsim
from hwsim.cli import main
from hwsim.ondevice.export import GRAPH_FILE, HEADER_FILE, c_header, graph_dict

_TENSOR = re.compile(r'\{"((?:[^"\\]|\\.)*)", (\d+)u, (\d+)u, (\d+)u, (\d+)u, HWSIM_KIND_(\w+), ([01])u\}')
_OP = re.compile(r'\{"((?:[^"\\]|\\.)*)", "((?:[^"\\]|\\.)*)", (\d), (\d+)u, (\d+)u, (\d+)u, (\d+)u\}')


def _block(text: str, name: str) -> str:
    m = re.search(rf"{name}\[[^\]]*\] = \{{(.*?)\n\}};", text, re.S)
    assert m, f"{name} table missing"
    return m.group(1)


def parse_header(text: str) -> dict:
    define = {k: int(v) for k, v in re.findall(r"#define (HWSIM_\w+) (\d+)u", text)}
    tensors = [{"name": n, "offset": int(o), "bytes": int(b), "first": int(f), "last": int(la), "kind": k,
                "persistent": p == "1"} for n, o, b, f, la, k, p in _TENSOR.findall(_block(text, "hwsim_tensors"))]
    args = [int(a) for a in re.findall(r"(\d+)u", _block(text, "hwsim_op_args"))]
    ops = []
    for name, kernel, phase, r_at, n_r, w_at, n_w in _OP.findall(_block(text, "hwsim_ops")):
        r_at, n_r, w_at, n_w = int(r_at), int(n_r), int(w_at), int(n_w)
        ops.append({"name": name, "kernel": kernel, "phase": int(phase), "reads": args[r_at:r_at + n_r],
                    "writes": args[w_at:w_at + n_w]})
    return {"define": define, "tensors": tensors, "ops": ops}


def check_header(text: str) -> None:
    """Raise AssertionError on any violation of the plan's contract (see the module doc)."""
    h = parse_header(text)
    arena, tensors, ops = h["define"]["HWSIM_ARENA_BYTES"], h["tensors"], h["ops"]
    assert len(tensors) == h["define"]["HWSIM_N_TENSORS"] and len(ops) == h["define"]["HWSIM_N_OPS"] > 0
    for t in tensors:
        assert 0 <= t["offset"] and t["offset"] + t["bytes"] <= arena, f"{t['name']} outside the arena"
        assert 0 <= t["first"] <= t["last"] < len(ops), f"{t['name']}: bad op range"
        if t["persistent"]:
            assert (t["first"], t["last"]) == (0, len(ops) - 1), f"{t['name']}: state not live through the step"
    assert arena == max(t["offset"] + t["bytes"] for t in tensors), "arena size is not the highest byte used"
    sized = sorted((t for t in tensors if t["bytes"]), key=lambda t: t["offset"])
    for i, a in enumerate(sized):
        for b in sized[i + 1:]:
            if b["offset"] >= a["offset"] + a["bytes"]:
                break  # sorted by offset: no later tensor overlaps a in bytes
            assert not (a["first"] <= b["last"] and b["first"] <= a["last"]), \
                f"{a['name']} and {b['name']} share bytes while both live"
    written: set[int] = set()
    for t, op in enumerate(ops):
        for k in op["reads"] + op["writes"]:
            assert tensors[k]["first"] <= t <= tensors[k]["last"], \
                f"op {t} ({op['name']}) touches {tensors[k]['name']} outside its lifetime"
        for k in op["reads"]:
            assert k in written or tensors[k]["kind"] == "INPUT" or tensors[k]["persistent"], \
                f"op {t} ({op['name']}) reads {tensors[k]['name']} before anything wrote it"
        written.update(op["writes"])


EXAMPLES = Path(__file__).resolve().parents[2] / "models" / "examples"
CASES = [("mcunet-5fps", "mcunet-5fps:99kb", {}), ("mcunet-5fps", "mcunet-5fps:99kb", {"reorder": False}),
         ("mbv2-w0.35", "mbv2-w0.35:99kb", {"patches": 2}), ("proxyless-w0.3", "proxyless-w0.3:98kb", {}),
         ("mbv2-w0.35", "mbv2-w0.35:99kb", {"patches": 1, "reorder": False}),
         ("mcunet-5fps", "last-4", {"target": "npu-256k"}),
         ("mcunet-5fps", "mcunet-5fps:99kb", {"batch": 4, "momentum": True}),
         ("proxyless-w0.3", "proxyless-w0.3:98kb", {"momentum": True}),
         (str(EXAMPLES / "digits-cnn.yaml"), "full", {}), (str(EXAMPLES / "cifar-cnn.yaml"), "bias-only", {})]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0].split('/')[-1]}-{c[1]}-{c[2]}")
def exported(request):
    model, scheme, kw = request.param
    r = hwsim.tiny(model, scheme, **kw)
    g = graph_dict(r)
    return r, g, c_header(g)


def test_header_passes_the_independent_checker(exported):
    check_header(exported[2])


def test_header_agrees_with_the_result(exported):
    r, _, text = exported
    h = parse_header(text)
    assert h["define"]["HWSIM_ARENA_BYTES"] == round(r.peak_sram_kb * 1024)
    assert [o["name"] for o in h["ops"]] == list(r.ops["name"])
    live = [sum(t["bytes"] for t in h["tensors"] if t["first"] <= i <= t["last"]) for i in range(len(h["ops"]))]
    assert live == list(r.ops["live_bytes"])


@pytest.mark.parametrize("corrupt", ["overlap", "short_life", "late_write", "arena"])
def test_checker_catches_a_corrupted_plan(exported, corrupt):
    _, g, _ = exported
    g = json.loads(json.dumps(g))
    ts = g["tensors"]
    if corrupt == "overlap":  # move a tensor onto a live neighbour's bytes
        a, b = next((a, b) for a in ts for b in ts if a is not b and a["bytes"] and b["bytes"] and
                    a["first_op"] <= b["last_op"] and b["first_op"] <= a["last_op"])
        b["offset"] = a["offset"]
    elif corrupt == "short_life":  # a tensor dies one op before its last reader
        t = next(t for t in ts if t["last_op"] > t["first_op"] and not t["persistent"])
        t["last_op"] -= 1
    elif corrupt == "late_write":  # the first op reads an activation nobody wrote yet
        g["ops"][0]["reads"].append(next(t["name"] for t in ts if t["kind"] == "act" and t["first_op"] > 0))
        next(t for t in ts if t["name"] == g["ops"][0]["reads"][-1])["first_op"] = 0
    else:
        g["arena_bytes"] -= 1
    with pytest.raises(AssertionError):
        check_header(c_header(g))


def test_graph_json_marks_kept_inplace_and_updated_channels():
    r = hwsim.tiny("mcunet-5fps", "mcunet-5fps:99kb")
    g = graph_dict(r)
    kinds = {t["name"]: t for t in g["tensors"]}
    assert all(t["kept"] for t in g["tensors"] if t["kind"] in ("mask", "saved"))  # kept for the backward pass
    assert not any(t["kept"] for t in g["tensors"] if t["kind"] in ("grad", "wgrad"))
    assert all(kinds[n]["persistent"] for o in g["ops"] if o["phase"] == "update" for n in o["inplace"])
    clamps = [o for o in g["ops"] if o["kernel"] == "clamp"]
    assert clamps and all(o["inplace"] == [o["reads"][0]] for o in clamps)  # dX = dY * mask over dY
    up = {u["layer"]: u for u in g["updated"]}
    convs = [n for n in r.graph.nodes if n.kind == "conv"]
    # the 99kb scheme: conv 36 at ratio 1/8, conv 39 at 1/4 (docs/tiny.md); int(C x ratio) input channels
    assert up[convs[36].name]["channels"] == int(convs[36].in_channels * 0.125)
    assert up[convs[39].name]["channels"] == int(convs[39].in_channels * 0.25)
    assert up[convs[21].name]["channels"] == convs[21].in_channels
    assert sum(1 for u in g["updated"] if u["bias"]) == 22 + 1  # bias depth 22 and the classifier
    assert g["arena_bytes"] == round(r.peak_sram_kb * 1024)


def test_cli_export_writes_both_files_and_the_header_compiles_in_c(tmp_path, capsys):
    out = tmp_path / "dev"
    assert main(["tiny", "--model", "mcunet-5fps", "--scheme", "mcunet-5fps:99kb", "--export", str(out), "--json"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([GRAPH_FILE, HEADER_FILE])
    check_header((out / HEADER_FILE).read_text())
    assert json.loads((out / GRAPH_FILE).read_text())["format"] == "hwsim-tiny-graph"
    cc = next((c for c in ("cc", "gcc", "clang") if __import__("shutil").which(c)), None)
    if cc is None:
        pytest.skip("no C compiler to compile the header")
    src = tmp_path / "use.c"
    src.write_text(f'#include "{out / HEADER_FILE}"\nint main(void) {{ return hwsim_tensors[T_INPUT].offset '
                   '+ hwsim_ops[0].n_reads > HWSIM_ARENA_BYTES; }\n')
    subprocess.run([cc, "-std=c99", "-Wall", "-Werror", "-Wno-unused-const-variable", "-c", str(src), "-o",
                    str(tmp_path / "use.o")], check=True)


def test_cli_export_bad_input_leaves_nothing(tmp_path, capsys):
    target = tmp_path / "afile"
    target.write_text("x")
    assert main(["tiny", "--model", "mcunet-5fps", "--scheme", "99kb", "--export", str(target)]) == 2
    assert "expected a folder" in capsys.readouterr().err
    out = tmp_path / "new"
    assert main(["tiny", "--model", "mcunet-5fps", "--scheme", "nonsense", "--export", str(out)]) == 2
    assert not out.exists() and list(tmp_path.iterdir()) == [target]


def test_cli_plot_any_model(tmp_path):
    for name in ("t.png", "t.svg", "t.pdf"):
        assert main(["tiny", "--model", str(EXAMPLES / "digits-cnn.yaml"), "--scheme", "last-2", "--plot",
                     str(tmp_path / name)]) == 0
        assert (tmp_path / name).stat().st_size > 1000
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    r = subprocess.run([sys.executable, "-m", "hwsim.cli", "tiny", "--model", "mcunet-5fps", "--scheme", "99kb",
                        "--plot", str(tmp_path / "t.jpg")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "expected a file name ending in" in r.stderr
    assert not (tmp_path / "t.jpg").exists()


def test_cli_json_has_per_op_and_per_tensor_tables(capsys):
    assert main(["tiny", "--model", "mcunet-5fps", "--scheme", "99kb", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    r = hwsim.tiny("mcunet-5fps", "mcunet-5fps:99kb")
    assert [o["name"] for o in d["ops_table"]] == list(r.ops["name"])
    assert max(o["live_bytes"] for o in d["ops_table"]) == round(d["max_live_kb"] * 1024)
    assert sum(o["cycles"] for o in d["ops_table"]) == sum(p["cycles"] for p in d["phases"].values())
    assert {t["name"] for t in d["tensors_table"]} == set(r.tensors["name"])
    assert max(t["offset"] + t["bytes"] for t in d["tensors_table"]) == round(d["peak_sram_kb"] * 1024)


def test_timeline_series_add_up_to_the_bytes_alive():
    """Every tensor kind is drawn: the stacked series sum to live_bytes at every op (un-fused casts, momentum)."""
    import numpy as np

    from hwsim.figures.timeline import kind_series

    for kw in ({"fused_casts": False}, {"momentum": True, "batch": 2}):
        r = hwsim.tiny("mcunet-5fps", "mcunet-5fps:99kb", **kw)
        total = sum(kind_series(r).values())
        assert np.allclose(total * 1024, r.ops["live_bytes"].to_numpy())
