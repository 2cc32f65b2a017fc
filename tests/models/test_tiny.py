"""The int8 backbones built from the CSV layer tables in models/data."""

import pytest

from hwsim.models import zoo
from hwsim.models.zoo import tiny

# Published for the paper's backbones (Lin et al., NeurIPS 2022): MACs, params, classifier input features
PUBLISHED = {"mcunet-5fps": (23e6, 0.48e6, 160), "mbv2-w0.35": (17e6, 0.25e6, 112),
             "proxyless-w0.3": (19e6, 0.33e6, 96)}


@pytest.mark.parametrize("name", PUBLISHED)
def test_graph_matches_table_at_128(name):
    g = zoo.build(name)
    rows = tiny.rows(name)
    assert [layer.name for layer in g.layers if layer.op.kind == "conv2d"] == [r.name for r in rows]
    for r in rows:
        layer = g.layer(r.name)
        assert layer.in_shapes == ((r.in_channels, r.in_hw, r.in_hw),), r.name
        assert layer.out_shape == (r.out_channels, r.out_hw, r.out_hw), r.name
        assert (layer.op.kernel, layer.op.stride, layer.op.groups) == ((r.kernel,) * 2, (r.stride,) * 2, r.groups)
        clamp = g.layer(f"{r.name}.relu6")  # every conv, projections included, ends in the int8 clamp
        assert (clamp.inputs, clamp.op.fn) == ((r.name,), "relu6")
    assert not any(layer.op.kind == "norm" for layer in g.layers)
    assert sum(layer.op.kind == "add" for layer in g.layers) == sum(r.residual_add_after for r in rows)


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_figures(name):
    """MACs (1000 classes) round to the published two-digit figure. Published params count the fp32
    backbone (no classifier) with BatchNorm unfolded: conv weights plus two BN parameters per channel,
    i.e. one per channel more than our folded bias. Both counts round to the published figure."""
    macs, params, features = PUBLISHED[name]
    g = zoo.build(name)
    assert round(g.macs, -6) == macs
    backbone = g.params - g.layer("classifier").params
    assert backbone == pytest.approx(params, rel=0.03)
    unfolded = backbone + sum(r.out_channels for r in tiny.rows(name))
    assert round(unfolded, -4) == params
    assert g.layer("classifier").op.in_features == features


def test_residual_adds_block_input():
    g = zoo.build("mcunet-5fps")
    assert g.layer("b2.add").inputs == ("b1.pw2.relu6", "b2.pw2.relu6")
    assert g.layer("b3.pw1").inputs == ("b2.add",)


def test_other_resolutions_reinfer_spatial_sizes():
    g = zoo.build("mcunet-5fps", 96, 10)
    assert g.layer("first_conv").out_shape == (16, 48, 48)
    assert g.layer("b13.pw2").out_shape == (160, 3, 3)
    assert g.layers[-1].out_shape == (10,)
    assert g.macs < zoo.build("mcunet-5fps").macs * (96 / 128) ** 2 * 1.1
