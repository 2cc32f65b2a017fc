"""Op validation, shape inference and cost counts."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.models import ModelError
from hwsim.models.ops import (Activation, Add, Conv2d, Linear, MatMul, Norm, Pool, PosEmbed, Reshape, Slice)


def raises(fragments, fn, *args, **kwargs):
    """Assert fn raises a one-line ModelError whose message contains every fragment."""
    with pytest.raises(ModelError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.mark.parametrize("size, kernel, stride, padding, expected", [
    (224, 7, 2, 3, 112),   # ResNet stem
    (32, 3, 1, 1, 32),     # "same"
    (32, 3, 2, 1, 16),
    (7, 3, 2, 0, 3),       # floor
    (5, 5, 1, 0, 1),
    (8, 1, 2, 0, 4),       # strided 1x1 shortcut
])
def test_conv_output_size(size, kernel, stride, padding, expected):
    conv = Conv2d(4, 8, kernel, stride, padding)
    assert conv.out_shape(((4, size, size),)) == (8, expected, expected)


def test_conv_rectangular_fields():
    conv = Conv2d(2, 4, kernel=(3, 1), stride=(2, 1), padding=(1, 0))
    assert conv.out_shape(((2, 9, 5),)) == (4, 5, 5)


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 4))
    conv = Conv2d(groups * draw(st.integers(1, 4)), groups * draw(st.integers(1, 4)),
                  (draw(st.integers(1, 5)), draw(st.integers(1, 5))),
                  (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                  (draw(st.integers(0, 2)), draw(st.integers(0, 2))), groups, draw(st.booleans()))
    return conv, (conv.in_channels, draw(st.integers(1, 20)), draw(st.integers(1, 20)))


@given(conv_cases())
def test_conv_matches_direct_count(case):
    """Output size = number of window positions; MACs = one (in/groups * kh * kw) dot product per output."""
    conv, shape = case
    rows, cols = (range(0, shape[i + 1] + 2 * conv.padding[i] - conv.kernel[i] + 1, conv.stride[i])
                  for i in (0, 1))
    if not rows or not cols:
        raises(["kernel"], conv.out_shape, (shape,))
        return
    assert conv.out_shape((shape,)) == (conv.out_channels, len(rows), len(cols))
    taps = conv.kernel[0] * conv.kernel[1] * conv.in_channels // conv.groups
    assert conv.macs((shape,)) == len(rows) * len(cols) * conv.out_channels * taps
    assert conv.params((shape,)) == conv.out_channels * taps + conv.out_channels * conv.bias


def test_conv_counts_depthwise():
    dw = Conv2d(32, 32, 3, 1, 1, groups=32, bias=True)
    assert dw.depthwise and not Conv2d(32, 64, 3).depthwise
    assert dw.params(((32, 8, 8),)) == 32 * 9 + 32
    assert dw.macs(((32, 8, 8),)) == 8 * 8 * 32 * 9


def test_conv_errors_name_field_and_value():
    raises(["groups: 3", "in_channels 16", "out_channels 32"], Conv2d, 16, 32, 3, groups=3)
    raises(["in_channels: 0", "an integer from 1 to 1,048,576"], Conv2d, 0, 8, 3)
    raises(["kernel: (3, 0)"], Conv2d, 4, 8, (3, 0))
    raises(["padding: -1"], Conv2d, 4, 8, 3, padding=-1)
    raises(["bias: 1", "true or false"], Conv2d, 4, 8, 3, bias=1)
    raises(["out_channels: True"], Conv2d, 4, True, 3)
    raises(["in_channels: 64", "input channels 32"], Conv2d(64, 8, 3).out_shape, ((32, 8, 8),))
    raises(["kernel: (7, 7)", "4x4"], Conv2d(3, 8, 7).out_shape, ((3, 4, 4),))
    raises(["inputs", "(C, H, W)"], Conv2d(3, 8, 1).out_shape, ((3, 4),))
    raises(["inputs: 2 given", "exactly 1"], Conv2d(3, 8, 1).out_shape, ((3, 4, 4), (3, 4, 4)))


def test_linear_on_any_rank():
    fc = Linear(512, 10)
    assert fc.out_shape(((512,),)) == (10,)
    assert fc.out_shape(((65, 512),)) == (65, 10)
    assert fc.macs(((65, 512),)) == 65 * 512 * 10
    assert fc.params(((512,),)) == 512 * 10 + 10
    assert Linear(512, 10, bias=False).params(((512,),)) == 5120
    raises(["in_features: 512", "input features 256"], fc.out_shape, ((4, 256),))


def test_matmul_shapes_and_macs():
    q, k = (8, 65, 64), (8, 65, 64)
    scores = MatMul(transpose_b=True)
    assert scores.out_shape((q, k)) == (8, 65, 65)
    assert scores.macs((q, k)) == 8 * 65 * 64 * 65
    assert MatMul().out_shape(((8, 65, 65), (8, 65, 64))) == (8, 65, 64)
    assert scores.params((q, k)) == 0
    raises(["transpose_b: False", "inner dims 64 and 65"], MatMul().out_shape, (q, k))
    raises(["inputs", "(12, 65, 64)", "leading dims"], scores.out_shape, (q, (12, 65, 64)))
    raises(["inputs: 1 given", "exactly 2"], scores.out_shape, (q,))


def test_pool():
    assert Pool("max", 3, 2, 1).out_shape(((64, 112, 112),)) == (64, 56, 56)
    assert Pool("max", 2).stride == (2, 2)
    assert Pool("avg", global_=True).out_shape(((512, 7, 7),)) == (512, 1, 1)
    raises(["mode: 'min'", "max, avg"], Pool, "min", 2)
    raises(["kernel: None"], Pool, "max")
    raises(["kernel: 2", "global pool"], Pool, "avg", 2, global_=True)
    raises(["padding: (2, 2)", "half the kernel"], Pool, "max", 3, padding=2)


def test_add_requires_identical_shapes():
    assert Add().out_shape(((4, 8, 8),) * 3) == (4, 8, 8)
    raises(["inputs: shapes (64, 32, 32) and (128, 16, 16) differ"], Add().out_shape,
           ((64, 32, 32), (128, 16, 16)))
    raises(["inputs: 1 given", "at least 2"], Add().out_shape, ((4,),))


def test_shape_preserving_ops_and_norm_params():
    assert Activation("softmax").out_shape(((8, 65, 65),)) == (8, 65, 65)
    assert Norm("batch").params(((64, 8, 8),)) == 128
    assert Norm("layer").params(((65, 512),)) == 1024
    raises(["fn: 'mish'", "relu6"], Activation, "mish")
    raises(["norm: 'group'", "batch, layer"], Norm, "group")


def test_reshape():
    assert Reshape((-1,)).out_shape(((512, 1, 1),)) == (512,)
    assert Reshape((8, 65, 64)).out_shape(((65, 512),)) == (8, 65, 64)
    raises(["shape: (3, 5)", "16 elements"], Reshape((3, 5)).out_shape, ((4, 4),))
    raises(["shape: (3, -1)", "16 elements"], Reshape((3, -1)).out_shape, ((4, 4),))
    raises(["shape: (-1, -1)"], Reshape, (-1, -1))
    raises(["shape: ()"], Reshape, ())


def test_slice_and_posembed():
    assert Slice(-1, 512, 1024).out_shape(((65, 1536),)) == (65, 512)
    assert Slice(0, 0, 1).out_shape(((65, 512),)) == (1, 512)
    raises(["stop: 2000", "size 1536"], Slice(-1, 0, 2000).out_shape, ((65, 1536),))
    raises(["axis: 2"], Slice(2, 0, 1).out_shape, ((65, 512),))
    raises(["stop: 3", "from 4 to"], Slice, 0, 3, 3)
    embed = PosEmbed()
    assert embed.out_shape(((64, 512),)) == (65, 512)
    assert embed.params(((64, 512),)) == 65 * 512 + 512
    assert PosEmbed(cls_token=False).params(((64, 512),)) == 64 * 512
    raises(["inputs", "(T, D)"], embed.out_shape, ((3, 8, 8),))


def test_ops_are_frozen_and_hashable():
    conv = Conv2d(3, 8, 3)
    assert conv == Conv2d(3, 8, (3, 3)) and hash(conv) == hash(Conv2d(3, 8, (3, 3)))
    with pytest.raises(AttributeError):
        conv.groups = 2


def test_ceil_mode_keeps_a_last_window_only_if_it_starts_inside():
    """PyTorch's rule, worked by hand: 5 + 1 + 1 padded, kernel 2, stride 2 -> windows at 0, 2, 4 (6 would start
    in the trailing padding, so it is dropped); floor mode also gives 3. 112, kernel 3, stride 2: floor 55,
    ceil 56 (the window at 110 starts inside)."""
    from hwsim.models.ops import Pool

    assert Pool("max", 2, 2, 1, ceil_mode=True).out_shape(((1, 5, 5),)) == (1, 3, 3)
    assert Pool("max", 3, 2, ceil_mode=True).out_shape(((1, 112, 112),)) == (1, 56, 56)
    assert Pool("max", 3, 2).out_shape(((1, 112, 112),)) == (1, 55, 55)
    assert Pool("max", 3, 2, 0, pad_end=(1, 0)).out_shape(((1, 112, 112),)) == (1, 56, 55)


def test_pad_end_equal_to_padding_is_the_symmetric_op():
    from hwsim.models.ops import Conv2d

    assert Conv2d(3, 8, 3, 1, 1, pad_end=(1, 1)) == Conv2d(3, 8, 3, 1, 1)
    raises(["pad_end: -1"], Conv2d, 3, 8, 3, pad_end=-1)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 40), st.integers(1, 7), st.integers(1, 4), st.integers(0, 3), st.integers(0, 3), st.booleans())
def test_window_count_matches_enumerating_the_windows(size, kernel, stride, begin, end, ceil):
    """Count the windows one by one: they start every ``stride`` in the padded input; floor mode keeps those
    that fit; ceil mode also one that runs past the end by less than a stride (what rounding the division up
    adds), then drops the last window if it starts in the trailing padding (PyTorch's rule)."""
    from hwsim.models.ops import _spatial

    padded = size + begin + end
    if kernel > padded or 2 * max(begin, end) > kernel:  # a pool pads at most half its kernel (Pool checks it)
        return
    starts = range(0, padded, stride)
    fits = [t for t in starts if t + kernel <= padded + (stride - 1 if ceil else 0)]
    if ceil and fits[-1] >= size + begin:
        fits.pop()
    assert _spatial((1, size, size), (kernel, kernel), (stride, stride), (begin, begin), (end, end), ceil) == \
        (len(fits), len(fits))
