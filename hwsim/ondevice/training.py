"""Train a small int8 CNN with the numpy steps of :mod:`hwsim.ondevice.qas`: fp32, int8 + QAS, int8 without QAS.

What this checks is the paper's QAS claim (Lin et al. 2022, Sec. 2.1): an int8 graph whose stored int8 weights
and int32 biases are updated by SGD converges like fp32 only when the gradients are QAS-scaled.

The three modes start from the same fp32 weights and see the same samples in the same order:

- ``fp32``: fp32 weights and activations, ReLU6 clamps, plain SGD.
- ``int8-qas`` / ``int8``: the weights are quantized once (per-channel ``s_W = max|W| / 127``, int32 biases on
  ``s_W s_x``), the activation scales calibrated once on training images (:func:`qas.calibrate`) and then fixed,
  as a deployed graph's. Each step runs the int8 forward (saturating requantization), the fp32 backward, and SGD
  on the *stored* integers: ``W_q <- clip(round(W_q - lr g), -127, 127)``, ``b_q <- round(b_q - lr g)``, with
  ``g`` QAS-scaled (``int8-qas``) or not (``int8``). The scales never change.

The learning rate decays from ``lr`` to 0 over the run (cosine), so the last epoch's accuracy is a settled one.

A step's gradient is the mean over ``batch`` samples (gradient accumulation: on a device, ``batch`` forward and
backward passes summed into the gradient buffers before one update). ``momentum`` > 0 keeps an fp32 velocity per
trained parameter (heavy-ball SGD). Which parameters train is a :class:`Trainable` (every layer, or a
sparse-update scheme: biases of the last convs, the first ``int(C x ratio)`` input channels of chosen convs'
weights, and the classifier).
"""
from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwsim.dataflow.tiny import int8_graph, parse_scheme
from hwsim.dataflow.tiny.scheme import updated_channels
from hwsim.errors import HwsimError
from hwsim.ondevice import qas

MODES = ("fp32", "int8-qas", "int8")


@dataclass(frozen=True)
class Dataset:
    """Images (N, C, H, W) in [0, 1]-like ranges with integer labels, split into train and test."""

    name: str
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)

    @property
    def classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def _split(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> Dataset:
    """A stratified train/test split with a fixed seed (the same per-class fraction in each part)."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        test[idx[: int(round(len(idx) * test_fraction))]] = True
    return Dataset(name, x[~test], y[~test], x[test], y[test])


def digits(test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes, pixel values 0-16 scaled to
    [0, 1]), stratified into train and test."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise HwsimError("data: scikit-learn is not installed (expected it for the digits data set: "
                         "pip install scikit-learn)", "digits") from None
    d = load_digits()
    return _split("digits", d.images[:, None].astype(np.float64) / 16.0, d.target.astype(np.int64), test_fraction,
                  seed)


def load_npz(path: str | Path, input_shape: tuple[int, ...], classes: int, test_fraction: float = 0.3,
             seed: int = 0, where: str = "--data") -> Dataset:
    """A user's data set: an ``.npz`` with ``x`` (N, C, H, W) or, for one channel, (N, H, W) real numbers and
    ``y`` (N,) integer labels in 0..classes-1; shapes must match the model's input."""
    from hwsim.models.reading import FileInputError, check_file

    path = Path(path)
    try:  # a regular file of bounded size before numpy opens it (a FIFO would block)
        check_file(path, 512 << 20, "a .npz data set")
    except FileInputError as exc:
        raise HwsimError(f"data: {exc}", where) from None
    try:
        with np.load(path, allow_pickle=False) as f:
            files = sorted(f.files)
            x, y = (np.asarray(f[k]) for k in ("x", "y")) if {"x", "y"} <= set(files) else (None, None)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HwsimError(f"data: cannot read {str(path)!r} as .npz ({why})", where) from None
    if x is None:
        raise HwsimError(f"data: {str(path)!r} holds {files} (expected arrays x and y)", where)
    if x.ndim == len(input_shape) and input_shape[0] == 1:
        x = x[:, None]
    if x.ndim != len(input_shape) + 1 or tuple(x.shape[1:]) != tuple(input_shape):
        raise HwsimError(f"data: x has shape {list(x.shape)} (expected [N, {', '.join(map(str, input_shape))}] "
                         "for the model's input)", where)
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)) or not np.isfinite(x).all():
        raise HwsimError(f"data: x of dtype {x.dtype} (expected finite real numbers)", where)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or len(y) < 4 or y.min() < 0 \
            or y.max() >= classes:
        raise HwsimError(f"data: y of shape {list(y.shape)} and dtype {y.dtype} (expected {len(x)} integer labels "
                         f"in 0..{classes - 1}, at least 4)", where)
    data = _split(path.stem, x.astype(np.float64), y.astype(np.int64), test_fraction, seed)
    if not len(data.y_test) or not len(data.y_train):
        raise HwsimError(f"data: {len(y)} samples split into {len(data.y_train)} training and {len(data.y_test)} "
                         "test images (expected classes with 2 samples or more)",
                         where)
    return data


@dataclass(frozen=True)
class Trainable:
    """Per weighted node: how many leading input channels of its weights are updated (None: frozen) and whether
    its bias is updated."""

    weight_channels: dict
    bias: dict

    @classmethod
    def everything(cls, graph) -> Trainable:
        nodes = [n for n in int8_graph(graph) if n.kind in ("conv", "linear")]
        return cls({n.name: n.in_channels for n in nodes}, {n.name: True for n in nodes})

    @classmethod
    def from_scheme(cls, graph, scheme) -> Trainable:
        """What a sparse-update scheme (a Scheme or its spelling) trains, the classifier always."""
        nodes = int8_graph(graph)
        convs = [n for n in nodes if n.kind == "conv"]
        s = parse_scheme(scheme, len(convs), graph.name)
        channels, bias = {}, {}
        for n in nodes:
            if n.kind == "linear":
                channels[n.name], bias[n.name] = n.in_channels, True
            elif n.kind == "conv":
                r = s.ratio(n.conv)
                channels[n.name] = None if r is None else updated_channels(n.in_channels, r)
                bias[n.name] = s.bias_updated(n.conv, len(convs))
        return cls(channels, bias)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a run (validated)."""

    mode: str = "int8-qas"
    lr: float = 0.05
    epochs: int = 4
    batch: int = 1
    momentum: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode: {self.mode!r} (expected one of {', '.join(MODES)})")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not 0 < self.lr < math.inf:
            raise ValueError(f"lr: {self.lr!r} (expected a positive number)")
        for name, lo in (("epochs", 1), ("batch", 1), ("seed", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name}: {v!r} (expected an integer >= {lo})")
        if isinstance(self.momentum, bool) or not isinstance(self.momentum, (int, float)) \
                or not 0 <= self.momentum < 1:
            raise ValueError(f"momentum: {self.momentum!r} (expected a number in [0, 1))")


@dataclass(frozen=True)
class TrainRun:
    """Test accuracy before training and after each epoch."""

    config: TrainConfig
    accuracy: tuple[float, ...]  # [0]: before training
    params: qas.Params | None = field(default=None, repr=False)  # the trained parameters (int8: dequantized)

    @property
    def final(self) -> float:
        return self.accuracy[-1]


def initial_params(graph, seed: int = 0) -> qas.Params:
    """The fp32 starting point every mode shares: He-style weights (qas.generate), zero biases."""
    params = qas.generate(int8_graph(graph), seed)
    return qas.Params(params.weights, {k: np.zeros_like(v) for k, v in params.biases.items()})


def train(graph, data: Dataset, config: TrainConfig = TrainConfig(), trainable: Trainable | None = None,
          params: qas.Params | None = None) -> TrainRun:
    """Train ``graph`` on ``data`` (see the module doc) and report test accuracy per epoch."""
    nodes = int8_graph(graph)
    trainable = trainable or Trainable.everything(graph)
    params = params or initial_params(graph, config.seed)
    quantized = config.mode != "fp32"
    if quantized:
        scales = qas.calibrate(graph, params, data.x_train[:256])
        state = qas.quantize(graph, params, scales)
        weights, biases = dict(state.w_q), dict(state.b_q)
    else:
        scales, weights, biases = None, dict(params.weights), dict(params.biases)
    by_name = {n.name: n for n in nodes}
    masks = {k: _channel_mask(weights[k], c, by_name[k].depthwise) for k, c in trainable.weight_channels.items()
             if c is not None}
    velocity: dict = {}
    rng = np.random.default_rng(config.seed)

    def run(x, y=None, backward=True):
        if quantized:
            st = qas.Int8Model(weights, biases, state.s_w, scales)
            return qas._step(nodes, None, x, y, True, config.mode == "int8-qas", st, backward)
        return qas._step(nodes, qas.Params(weights, biases), x, y, False, backward=backward)

    def accuracy() -> float:
        hits = sum(int((run(data.x_test[i:i + 256], backward=False).predicted == data.y_test[i:i + 256]).sum())
                   for i in range(0, len(data.y_test), 256))
        return hits / len(data.y_test)

    history = [accuracy()]
    per_epoch = math.ceil(len(data.y_train) / config.batch)
    total, t = per_epoch * config.epochs, 0
    for _ in range(config.epochs):
        order = rng.permutation(len(data.y_train))
        for i in range(0, len(order), config.batch):
            idx = order[i:i + config.batch]
            step = run(data.x_train[idx], data.y_train[idx])
            lr = config.lr * 0.5 * (1 + math.cos(math.pi * t / total))  # cosine decay to 0 over the run
            t += 1
            for name, mask in masks.items():
                _apply(weights, velocity, (name, "w"), step.grad_w[name] * mask, lr, config, quantized, clip=True)
            for name, on in trainable.bias.items():
                if on:
                    _apply(biases, velocity, (name, "b"), step.grad_b[name], lr, config, quantized, clip=False)
        history.append(accuracy())
    final = qas.Int8Model(weights, biases, state.s_w, scales).dequantized(nodes) if quantized else \
        qas.Params(weights, biases)
    return TrainRun(config, tuple(history), final)


def _channel_mask(w: np.ndarray, channels: int, depthwise: bool) -> np.ndarray:
    """1 on the first ``channels`` input channels of a weight (depthwise (C, 1, k, k): the first channels)."""
    mask = np.zeros_like(w)
    if depthwise:
        mask[:channels] = 1
    else:
        mask[:, :channels] = 1
    return mask


def _apply(store: dict, velocity: dict, key, grad: np.ndarray, lr: float, config: TrainConfig, quantized: bool,
           clip: bool) -> None:
    """One SGD (heavy-ball if momentum) update of ``store[key[0]]``; int8/int32 storage is rounded (and int8
    clipped)."""
    if config.momentum:
        v = velocity.get(key)
        velocity[key] = grad if v is None else config.momentum * v + grad
        grad = velocity[key]
    new = store[key[0]] - lr * grad
    if quantized:
        new = np.round(new)
        if clip:
            new = np.clip(new, -127, 127)
    store[key[0]] = new
