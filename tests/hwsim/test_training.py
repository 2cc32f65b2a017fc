"""QAS that trains: the numpy int8 trainer on scikit-learn's digits (fp32 vs int8 + QAS vs int8 without QAS).

Setting (docs/tiny.md, "QAS that trains"): models/examples/digits-cnn.yaml, seed 0, SGD lr 0.2 with cosine decay,
batch 8 (gradient accumulation), 6 epochs, the stratified 70/30 split. Margins, fixed before the run: int8 + QAS
ends within 3 percentage points of fp32; int8 without QAS ends at least 30 points below fp32.
"""
from pathlib import Path
import numpy as np
import pytest

from hwsim import models
from hwsim.dataflow.tiny import Scheme
from hwsim.ondevice import qas
from hwsim.ondevice.training import TrainConfig, Trainable, _channel_mask, digits, initial_params, train

pytest.importorskip("sklearn")

MODEL = str(Path(__file__).resolve().parents[2] / "models/examples/digits-cnn.yaml")
QAS_MARGIN = 0.03
NO_QAS_GAP = 0.30


@pytest.fixture(scope="module")
def graph():
    return models.load(MODEL)


@pytest.fixture(scope="module")
def runs(graph):
    data = digits()
    return {mode: train(graph, data, TrainConfig(mode, lr=0.2, epochs=6, batch=8, seed=0))
            for mode in ("fp32", "int8-qas", "int8")}


def test_fp32_learns_the_digits(runs):
    assert runs["fp32"].accuracy[0] < 0.3 and runs["fp32"].final > 0.9


def test_int8_with_qas_reaches_fp32_within_the_margin(runs):
    assert runs["int8-qas"].final >= runs["fp32"].final - QAS_MARGIN, (runs["int8-qas"], runs["fp32"])


def test_int8_without_qas_does_not(runs):
    assert runs["int8"].final < runs["fp32"].final - NO_QAS_GAP, (runs["int8"], runs["fp32"])


def test_digits_split_is_stratified_and_fixed():
    a, b = digits(), digits()
    assert np.array_equal(a.y_test, b.y_test) and len(a.y_train) + len(a.y_test) == 1797
    assert abs(len(a.y_test) / 1797 - 0.3) < 0.01
    assert set(np.unique(a.y_test)) == set(range(10)) and a.x_train.max() == 1.0


def test_fixed_state_matches_dequantized_fp32_forward(graph):
    """The int8 graph with calibrated scales computes what its dequantized weights compute in fp32, to within
    the requantization error (a hand check of Int8Model.dequantized and the saturating requantization)."""
    data = digits()
    params = initial_params(graph, 0)
    scales = qas.calibrate(graph, params, data.x_train[:256])
    state = qas.quantize(graph, params, scales)
    assert all(np.abs(w).max() == 127 for w in state.w_q.values())  # max|W| maps to 127 per channel
    deq = state.dequantized(qas.int8_graph(graph))
    x = data.x_test[:64]
    q = qas.int8_step(graph, None, x, data.y_test[:64], state=state).logits
    f = qas.fp32_step(graph, deq, x, data.y_test[:64]).logits
    assert np.abs(q - f).max() < 0.05 * np.abs(f).max()


def test_requantization_saturates_and_blocks_the_gradient():
    y = np.array([-300.0, -1.0, 0.4, 126.6, 127.4, 400.0])
    out, inside = qas._requant(y, 1.0)
    assert out.tolist() == [-127, -1, 0, 127, 127, 127]
    assert inside.tolist() == [False, True, True, True, True, False]


def test_scheme_trains_only_its_parameters(graph):
    """A sparse-update scheme moves the classifier, the chosen slice and biases, and nothing else."""
    t = Trainable.from_scheme(graph, "bias-only-1")
    assert t.weight_channels == {"conv1": None, "conv2": None, "conv3": None, "fc": 256}
    assert t.bias == {"conv1": False, "conv2": False, "conv3": True, "fc": True}
    t = Trainable.from_scheme(graph, Scheme("half", 1, (2,), (0.5,)))
    assert t.weight_channels["conv3"] == 8  # int(16 x 0.5)
    data = digits()
    small = type(data)("few", data.x_train[:64], data.y_train[:64], data.x_test[:32], data.y_test[:32])
    start = initial_params(graph, 0)
    for mode in ("fp32", "int8-qas"):
        run = train(graph, small, TrainConfig(mode, lr=0.2, epochs=1, batch=8), t, start)
        w, b = run.params.weights, run.params.biases
        ref = start if mode == "fp32" else qas.quantize(graph, start, qas.calibrate(graph, start, small.x_train)) \
            .dequantized(qas.int8_graph(graph))
        for name in ("conv1", "conv2"):
            assert np.allclose(w[name], ref.weights[name]) and np.allclose(b[name], ref.biases[name]), (mode, name)
        assert np.allclose(w["conv3"][:, 8:], ref.weights["conv3"][:, 8:])  # channels past int(16 x 0.5) frozen
        assert not np.allclose(w["conv3"][:, :8], ref.weights["conv3"][:, :8])
        assert not np.allclose(b["conv3"], ref.biases["conv3"]) and not np.allclose(w["fc"], ref.weights["fc"])


def test_channel_mask_slices_input_channels():
    w = np.ones((4, 6, 3, 3))
    m = _channel_mask(w, 2, depthwise=False)
    assert m[:, :2].all() and not m[:, 2:].any()
    w = np.ones((6, 1, 3, 3))
    m = _channel_mask(w, 2, depthwise=True)
    assert m[:2].all() and not m[2:].any()
    m = _channel_mask(np.ones((8, 1, 3, 3)), 1, depthwise=False)  # a 1-channel input, not depthwise
    assert m.all()


def test_config_is_validated():
    for bad in ({"mode": "int4"}, {"lr": 0}, {"epochs": 0}, {"batch": 0}, {"momentum": 1.0}, {"lr": True}):
        with pytest.raises(ValueError):
            TrainConfig(**bad)


def test_momentum_and_rounding_by_hand():
    """Heavy-ball SGD: v1 = g, v2 = 0.5 g + g; w = w0 - lr v1 - lr v2. On int8 storage each step rounds and clips."""
    from hwsim.ondevice.training import _apply

    g = np.array([1.0, -2.0])
    cfg = TrainConfig("fp32", lr=0.1, momentum=0.5)
    store, vel = {"w": np.array([0.0, 0.0])}, {}
    _apply(store, vel, ("w", "w"), g, 0.1, cfg, quantized=False, clip=False)
    _apply(store, vel, ("w", "w"), g, 0.1, cfg, quantized=False, clip=False)
    assert store["w"] == pytest.approx([-0.25, 0.5])
    store = {"w": np.array([126.0, 3.0, 3.0])}
    _apply(store, {}, ("w", "w"), np.array([-30.0, 4.0, 6.0]), 0.1, TrainConfig("int8"), quantized=True, clip=True)
    assert store["w"].tolist() == [127.0, 3.0, 2.0]  # clipped at 127; 3 - 0.4 rounds back to 3; 3 - 0.6 to 2


def test_saturated_outputs_pass_no_gradient(graph):
    """With conv3's output scale so small that every positive output saturates, nothing reaches conv3's
    parameters (negative outputs are clamped by ReLU6, positive ones clipped by requantization), while the
    classifier above still gets its gradient."""
    data = digits()
    params = initial_params(graph, 0)
    scales = qas.calibrate(graph, params, data.x_train[:256])
    state = qas.quantize(graph, params, {**scales, "conv3": 1e-9, "reshape1": 1e-9})  # the flatten keeps its scale
    step = qas.int8_step(graph, None, data.x_train[:8], data.y_train[:8], state=state)
    assert not step.grad_w["conv3"].any() and not step.grad_b["conv3"].any()
    assert step.grad_w["fc"].any()
    normal = qas.int8_step(graph, None, data.x_train[:8], data.y_train[:8], state=qas.quantize(graph, params, scales))
    assert normal.grad_w["conv3"].any()
