"""QAS, functionally: the int8 graph's weight-to-gradient norm ratios, QAS-scaled, match the fp32 graph's."""
import math

import numpy as np
import pytest

from hwsim.dataflow.tiny import int8_graph
from hwsim.models import zoo
from hwsim.models.ops import Conv2d
from hwsim.ondevice.qas import _conv, _conv_grads, fp32_step, generate, int8_step, norm_ratios, sgd_update


@pytest.mark.parametrize("groups", [1, 4])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv_gradients_match_finite_differences(groups, stride):
    rng = np.random.default_rng(0)
    op = Conv2d(4, 4, 3, stride, 1, groups)
    x = rng.standard_normal((4, 6, 6))
    w = rng.standard_normal((4, 4 // groups, 3, 3))
    dy = rng.standard_normal(_conv(x, w, op).shape)
    dx, dw = _conv_grads(x, w, dy, op)
    eps = 1e-6
    for arr, grad in ((x, dx), (w, dw)):
        for idx in [(0, 1, 2), (3, 0, 1)] if arr is x else [(1, 0, 2, 2), (3, 0, 0, 1)]:
            bumped = arr.copy()
            bumped[idx] += eps
            loss = (_conv(bumped, w, op) if arr is x else _conv(x, bumped, op)) * dy
            base = _conv(x, w, op) * dy
            assert (loss.sum() - base.sum()) / eps == pytest.approx(grad[idx], rel=1e-4, abs=1e-6)


@pytest.fixture(scope="module")
def ratios():
    """mcunet-5fps at 64 px, generated weights, one image: norm ratios of fp32, int8 + QAS, int8 without."""
    g = zoo.build("mcunet-5fps", 64, 10)
    params = generate(int8_graph(g), seed=0)
    image = np.random.default_rng(1).uniform(0, 1, size=(3, 64, 64))
    return (norm_ratios(fp32_step(g, params, image, 3)), norm_ratios(int8_step(g, params, image, 3, qas=True)),
            norm_ratios(int8_step(g, params, image, 3, qas=False)))


def test_qas_restores_the_fp32_norm_ratio_layer_by_layer(ratios):
    """Tolerance: every layer within a factor 2 for weights and 3 for biases (quantization noise grows as the
    gradient travels down 42 requantized convs), and within 25% on the geometric mean over layers.
    Without QAS the int8 ratios are off by s_W^-2 (> 1e4) and (s_W s_x)^-2 (> 1e8)."""
    fp32, qas, raw = ratios
    assert set(fp32) == set(qas) and len(fp32) == 43  # 42 convs + classifier
    w_dev = [qas[k][0] / fp32[k][0] for k in fp32]
    b_dev = [qas[k][1] / fp32[k][1] for k in fp32]
    assert all(0.5 < d < 2 for d in w_dev), w_dev
    assert all(1 / 3 < d < 3 for d in b_dev), b_dev
    for dev in (w_dev, b_dev):
        assert abs(math.exp(np.mean(np.log(dev))) - 1) < 0.25
    assert all(raw[k][0] / fp32[k][0] > 1e4 for k in fp32)
    assert all(raw[k][1] / fp32[k][1] > 1e8 for k in fp32)


def test_update_keeps_int8_and_moves_the_weights():
    g = zoo.build("mcunet-5fps", 32, 10)
    params = generate(int8_graph(g), seed=2)
    step = int8_step(g, params, np.random.default_rng(3).uniform(0, 1, size=(3, 32, 32)), 1)
    weights, biases = sgd_update(step, lr=0.5)
    w = weights["classifier"]
    assert w.min() >= -127 and w.max() <= 127 and np.all(w == np.round(w))
    assert not np.array_equal(w, step.weights["classifier"])
