"""hwsim.keys: content-hashed resume keys, and MODEL_VERSION kept honest by a fingerprint of reference numbers."""
import json
import os
import shutil
from pathlib import Path

import pytest

import hwsim
from hwsim import models
from hwsim import keys
from hwsim.config import load_arch

FINGERPRINT = Path(__file__).with_name("model_fingerprint.json")
RECORD = "HWSIM_RECORD_FINGERPRINT"
EXAMPLE = Path(__file__).parents[2] / "models" / "examples" / "cifar-cnn.yaml"


def _sig(x: float) -> float:
    return float(f"{x:.9g}")


def reference_numbers() -> dict:
    """A few cheap runs touching every cost model: the SAT engine (dense, BDWP, offline scheduling, energy,
    DRAM), a model file, and the 256KB engines (memory plan and latency on the MCU and the NPU)."""
    out = {}
    for model, method, nm in (("resnet9", "dense", None), ("resnet9", "bdwp", "2:8"), ("vit", "bdwp", "2:8"),
                              (str(EXAMPLE), "srste", "2:4")):
        r = hwsim.simulate(model, "sat-vcu1525", method, nm, batch=8)
        name = f"{Path(model).stem}/{method}{':' + nm if nm else ''}"
        out[name] = {"cycles": int(r.cycles), "energy_j": _sig(r.energy_j), "dram_bytes": int(r.dram_bytes)}
    for target in ("mcu-stm32f746", "npu-256k"):
        t = hwsim.tiny("mcunet-5fps", "mcunet-5fps:99kb", target=target)
        out[f"tiny/{target}"] = {k: _sig(getattr(t, k)) for k in ("analytic_extra_kb", "peak_sram_kb", "latency_ms")}
    return out


def test_model_version_moves_with_the_numbers():
    numbers = reference_numbers()
    if os.environ.get(RECORD):
        FINGERPRINT.write_text(json.dumps({"model_version": keys.MODEL_VERSION, "numbers": numbers}, indent=1,
                                          sort_keys=True) + "\n")
        pytest.skip(f"fingerprint recorded for MODEL_VERSION {keys.MODEL_VERSION}")
    recorded = json.loads(FINGERPRINT.read_text())
    how = f"re-record with {RECORD}=1 python -m pytest tests/hwsim/test_keys.py"
    assert recorded["model_version"] == keys.MODEL_VERSION, (
        f"MODEL_VERSION is {keys.MODEL_VERSION} but the fingerprint was recorded for {recorded['model_version']}: {how}")
    moved = {k: (recorded["numbers"].get(k), v) for k, v in numbers.items() if recorded["numbers"].get(k) != v}
    assert not moved, (f"numbers moved under the same MODEL_VERSION {keys.MODEL_VERSION}: bump "
                       f"hwsim.keys.MODEL_VERSION (stored results must be recomputed), then {how}. Moved: {moved}")


def test_file_key_follows_contents_not_path(tmp_path):
    a = tmp_path / "a" / "net.yaml"
    a.parent.mkdir()
    shutil.copy(EXAMPLE, a)
    b = tmp_path / "b.yaml"
    shutil.copy(EXAMPLE, b)
    assert keys.model_digest(a) == keys.model_digest(str(b))  # moved or renamed: same workload
    key = keys.result_key(model=keys.model_digest(a), batch=8)
    a.write_text(a.read_text().replace("classes", "classes ") + "\n# edited\n")
    assert keys.model_digest(a) != keys.model_digest(b)
    assert keys.result_key(model=keys.model_digest(a), batch=8) != key


def test_zoo_names_and_graphs():
    assert keys.model_digest("resnet50") == "zoo:resnet50" != keys.model_digest("resnet18")
    g1, g2 = models.load("resnet9"), models.load("resnet9", classes=100)
    assert keys.model_digest(g1) == keys.model_digest(models.load("resnet9"))
    assert keys.model_digest(g1) != keys.model_digest(g2)
    with pytest.raises(TypeError, match="model"):
        keys.model_digest(5)


def test_onnx_external_data_is_part_of_the_key(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import helper, numpy_helper
    import numpy as np

    w = numpy_helper.from_array(np.zeros((4, 8), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 8])], [w])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="m.data", size_threshold=0)
    assert [p.name for p in keys.pulled_in(path)] == ["m.onnx", "m.data"]
    before = keys.model_digest(path)
    data = tmp_path / "m.data"
    data.write_bytes(b"\x01" + data.read_bytes()[1:])
    assert keys.model_digest(path) != before


def test_arch_key_is_route_independent_and_content_sensitive(tmp_path):
    by_set = load_arch("sat-vcu1525", ["array.rows=64"])
    spec = tmp_path / "wide.yaml"
    spec.write_text("version: 1\nbase: sat-vcu1525\narray:\n  rows: 64\n")
    assert keys.arch_digest(by_set) == keys.arch_digest(load_arch(spec))
    assert keys.arch_digest(by_set) != keys.arch_digest(load_arch("sat-vcu1525"))


def test_result_key_carries_the_model_version(monkeypatch):
    key = keys.result_key(model="zoo:resnet9", batch=8)
    assert key == keys.result_key(batch=8, model="zoo:resnet9")  # order of parts does not matter
    monkeypatch.setattr(keys, "MODEL_VERSION", keys.MODEL_VERSION + ".1")
    assert keys.result_key(model="zoo:resnet9", batch=8) != key
    with pytest.raises(TypeError, match="path"):
        keys.result_key(model=Path("x.yaml"))
