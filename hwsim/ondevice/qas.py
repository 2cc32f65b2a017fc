"""Quantization-aware scaling (QAS), functionally: one numpy training step of an int8 CNN and of its fp32 twin.

The int8 graph holds ``W_q = round(W / s_W)`` (int8, per output channel scale ``s_W``), ``b_q = round(b /
(s_W s_x))`` (int32) and int8 activations ``x_q`` with per-tensor scale ``s_x``; every conv requantizes its
int32 accumulator to the next int8 scale and clamps (ReLU6 folded). The backward pass runs in fp32 on the
dequantized values (as the reference engine's float kernels) and returns gradients with respect to the
*stored* int8/int32 parameters: ``dL/dW_q = s_W dL/dW`` and ``dL/db_q = s_W s_x dL/db``. Their norm ratio
``||W_q|| / ||dL/dW_q||`` is therefore ``s_W^-2`` times the fp32 one (and the bias's ``(s_W s_x)^-2``): the
optimizer sees badly scaled gradients. QAS (the paper's Eq. 3-4) multiplies ``dL/dW_q`` by ``s_W^-2`` and
``dL/db_q`` by ``(s_W s_x)^-2``, which restores the fp32 ratio up to quantization noise.

Two ways to run the int8 graph: ``int8_step(graph, params, ...)`` quantizes fp32 parameters on the fly with
per-image activation scales (the norm-ratio check), and ``int8_step(..., state=Int8Model)`` runs what a device
stores: fixed int8 weights, int32 biases and scales (:func:`quantize`, :func:`calibrate`), saturating
requantization whose clipped elements pass no gradient. The trainer (:mod:`hwsim.ondevice.training`) uses the
second.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from hwsim.dataflow.tiny import int8_graph


@dataclass(frozen=True)
class Params:
    """Weights and biases per weighted node (fp32), generated reproducibly."""

    weights: dict
    biases: dict


def generate(nodes, seed: int = 0) -> Params:
    """He-initialised weights (half gain, so a deep net without BatchNorm keeps its activations in range) with
    per-channel spread, small biases."""
    rng = np.random.default_rng(seed)
    weights, biases = {}, {}
    for n in nodes:
        if n.kind == "conv":
            op = n.op
            shape = (op.out_channels, op.in_channels // op.groups, *op.kernel)
            fan_in = shape[1] * shape[2] * shape[3]
        elif n.kind == "linear":
            shape = (n.op.out_features, n.op.in_features)
            fan_in = shape[1]
        else:
            continue
        gain = rng.uniform(0.5, 1.5, size=(shape[0],) + (1,) * (len(shape) - 1))
        weights[n.name] = (rng.standard_normal(shape) * np.sqrt(1.0 / fan_in) * gain).astype(np.float64)
        biases[n.name] = rng.standard_normal(shape[0]) * 0.05
    return Params(weights, biases)


@dataclass(frozen=True)
class Int8Model:
    """The int8 model as the device stores it: int8 weights ``w_q`` (float arrays of integers in [-127, 127]),
    int32 biases ``b_q`` on the accumulator scale ``s_w * act_scale[input]``, per-channel weight scales ``s_w``
    and one fixed scale per activation tensor (``act_scale``, keyed by node name and ``"input"``)."""

    w_q: dict
    b_q: dict
    s_w: dict
    act_scale: dict

    def dequantized(self, nodes) -> Params:
        """The fp32 parameters the int8 ones stand for."""
        weights, biases = {}, {}
        for n in nodes:
            if n.name in self.w_q:
                sw = self.s_w[n.name]
                weights[n.name] = self.w_q[n.name] * sw.reshape((-1,) + (1,) * (self.w_q[n.name].ndim - 1))
                biases[n.name] = self.b_q[n.name] * sw * self.act_scale[n.inputs[0]]
        return Params(weights, biases)


def calibrate(graph, params: Params, images) -> dict:
    """Fixed activation scales: the largest magnitude of each tensor over ``images`` (fp32 forward) / 127, as
    post-training calibration does. Clamped outputs never exceed the ReLU6 bound."""
    acts = _forward_fp32(int8_graph(graph), params, images)
    return {k: max(float(np.abs(v).max()), 1e-8) / 127.0 for k, v in acts.items()}


def quantize(graph, params: Params, act_scale: dict) -> Int8Model:
    """Int8 weights with per-output-channel scales ``max|W| / 127``, int32 biases on ``s_W s_x``."""
    w_q, b_q, s_w = {}, {}, {}
    for n in int8_graph(graph):
        if n.name not in params.weights:
            continue
        w = params.weights[n.name]
        sw = np.maximum(np.abs(w.reshape(w.shape[0], -1)).max(axis=1), 1e-12) / 127.0
        w_q[n.name] = np.clip(np.round(w / sw.reshape((-1,) + (1,) * (w.ndim - 1))), -127, 127)
        b_q[n.name] = np.round(params.biases[n.name] / (sw * act_scale[n.inputs[0]]))
        s_w[n.name] = sw
    return Int8Model(w_q, b_q, s_w, dict(act_scale))


def _forward_fp32(nodes, params: Params, images) -> dict:
    """Every activation of the fp32 graph for a batch (for calibration)."""
    return _step(nodes, params, images, None, quantize=False, backward=False).acts


def _batched(x: np.ndarray, ndim: int) -> tuple[np.ndarray, bool]:
    """``x`` with a leading batch axis (added when ``x`` is one sample of ``ndim`` axes)."""
    x = np.asarray(x, dtype=np.float64)
    return (x[None], True) if x.ndim == ndim else (x, False)


def _windows(x: np.ndarray, op) -> np.ndarray:
    """im2col view of a batch x (B, C, H, W): (B, C, Ho, Wo, kh, kw)."""
    (ph, pw), (sh, sw), (kh, kw) = op.padding, op.stride, op.kernel
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    return sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]


def _conv(x: np.ndarray, w: np.ndarray, op) -> np.ndarray:
    """Cross-correlation of x (C, H, W) or a batch (B, C, H, W) with w (O, C/g, kh, kw): groups 1 or depthwise."""
    xb, single = _batched(x, 3)
    win = _windows(xb, op)
    if op.groups == 1:
        y = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    else:
        y = np.einsum("bchwij,cij->bchw", win, w[:, 0])
    return y[0] if single else y


def _conv_grads(x: np.ndarray, w: np.ndarray, dy: np.ndarray, op) -> tuple[np.ndarray, np.ndarray]:
    """(dL/dx, dL/dw) of ``_conv`` given dL/dy (a batch's dL/dw is summed over its samples)."""
    (ph, pw), (sh, sw), (kh, kw) = op.padding, op.stride, op.kernel
    xb, single = _batched(x, 3)
    dyb, _ = _batched(dy, 3)
    win = _windows(xb, op)
    dxp = np.zeros((xb.shape[0], xb.shape[1], xb.shape[2] + 2 * ph, xb.shape[3] + 2 * pw))
    ho, wo = dyb.shape[2:]
    if op.groups == 1:
        dw = np.tensordot(dyb, win, axes=([0, 2, 3], [0, 2, 3]))  # O, C, kh, kw
        for i in range(kh):
            for j in range(kw):
                dxp[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw] += np.tensordot(w[:, :, i, j], dyb,
                                                                              axes=([0], [1])).transpose(1, 0, 2, 3)
    else:
        dw = np.einsum("bchwij,bchw->cij", win, dyb)[:, None]
        for i in range(kh):
            for j in range(kw):
                dxp[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw] += w[:, 0, i, j][None, :, None, None] * dyb
    dx = dxp[:, :, ph:ph + xb.shape[2], pw:pw + xb.shape[3]]
    return (dx[0] if single else dx), dw


def _softmax_xent_grad(logits: np.ndarray, labels) -> np.ndarray:
    """dL/dlogits of the mean cross-entropy over a batch (B, K)."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(p)), np.asarray(labels).reshape(-1)] -= 1.0
    return p / len(p)


@dataclass(frozen=True)
class Step:
    """Gradients of one step per weighted node, and the scales used (int8 graph only)."""

    grad_w: dict
    grad_b: dict
    weights: dict  # the parameters the gradients refer to (fp32 W, or int8 W_q as float)
    biases: dict
    s_w: dict
    s_x: dict
    logits: np.ndarray | None = None  # (B, classes)
    acts: dict = field(default_factory=dict, repr=False)  # every activation (dequantized), batch-first

    @property
    def predicted(self) -> np.ndarray:
        """The class the forward pass picked for each sample."""
        return self.logits.argmax(axis=1)


def fp32_step(graph, params: Params, image: np.ndarray, label) -> Step:
    """Forward and backward of the fp32 graph (ReLU6 clamps, no quantization). ``image``: one sample (C, H, W)
    with an int ``label``, or a batch (B, C, H, W) with B labels (the gradient of the mean loss)."""
    return _step(int8_graph(graph), params, image, label, quantize=False)


def int8_step(graph, params: Params | None, image: np.ndarray, label, qas: bool = True,
              state: Int8Model | None = None) -> Step:
    """Forward of the int8 graph (requantization at every conv), fp32 backward, gradients w.r.t. the stored
    int8 weights / int32 biases, QAS-scaled if ``qas``. With ``state`` the int8 parameters and activation
    scales are the state's (fixed, saturating); without, ``params`` are quantized with the batch's scales."""
    return _step(int8_graph(graph), params, image, label, quantize=True, qas=qas, state=state)


def sgd_update(step: Step, lr: float) -> tuple[dict, dict]:
    """The optimizer step on the int8 graph: int8 weights and int32 biases updated, rounded and clamped."""
    weights = {k: np.clip(np.round(w - lr * step.grad_w[k]), -127, 127) for k, w in step.weights.items()}
    biases = {k: np.round(b - lr * step.grad_b[k]) for k, b in step.biases.items()}
    return weights, biases


def _scale(x: np.ndarray) -> float:
    return max(float(np.abs(x).max()), 1e-8) / 127.0


def _requant(y: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Saturating int8 requantization (dequantized back) and the mask of elements inside the int8 range."""
    q = np.round(y / scale)
    return np.clip(q, -127, 127) * scale, np.abs(q) <= 127


def _step(nodes, params: Params | None, image, label, quantize: bool, qas: bool = False,
          state: Int8Model | None = None, backward: bool = True) -> Step:
    """Run the graph on a batch: activations (dequantized values when quantized), then backprop to every
    parameter (gradients of the mean loss over the batch)."""
    images, _ = _batched(image, len(nodes[0].in_shape))
    acts = {"input": images}
    scales = {"input": _scale(images)} if state is None else state.act_scale
    if quantize:
        acts["input"] = _requant(images, scales["input"])[0]
    cache = {}
    s_w, s_x, wq, bq = {}, {}, {}, {}
    for n in nodes:
        x = acts[n.inputs[0]]
        if n.kind in ("conv", "linear"):
            if state is not None:  # the device's int8 parameters
                w_q, b_q, sw = state.w_q[n.name], state.b_q[n.name], state.s_w[n.name]
                shape = (-1,) + (1,) * (w_q.ndim - 1)
            elif quantize:  # per-channel int8 weights, int32 bias on the accumulator scale s_W * s_x
                w, b = params.weights[n.name], params.biases[n.name]
                sw = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) / 127.0
                shape = (-1,) + (1,) * (w.ndim - 1)
                w_q = np.round(w / sw.reshape(shape))
                b_q = np.round(b / (sw * scales[n.inputs[0]]))
            else:
                w, b = params.weights[n.name], params.biases[n.name]
            if quantize:
                s_w[n.name], s_x[n.name], wq[n.name], bq[n.name] = sw, scales[n.inputs[0]], w_q, b_q
                w = w_q * sw.reshape(shape)
                b = b_q * sw * scales[n.inputs[0]]
            y = _conv(x, w, n.op) + b[None, :, None, None] if n.kind == "conv" else x @ w.T + b
            cache[n.name] = (x, w)
        elif n.kind == "gpool":
            y = x.mean(axis=(2, 3), keepdims=True)
        elif n.kind == "add":
            y = sum(acts[i] for i in n.inputs)
        elif n.kind == "reshape":
            y = x.reshape(len(x), -1)
        else:
            raise ValueError(f"model: op {n.kind} at {n.name!r} is not in the QAS functional model")
        if n.clamp:
            cache[n.name + ".mask"] = (y > 0) & (y < 6)
            y = np.clip(y, 0, 6)
        if quantize and n.kind != "linear":  # requantize to the output's int8 scale (saturating)
            if state is None:
                scales[n.name] = _scale(y)
            y, inside = _requant(y, scales[n.name])
            if not inside.all():
                cache[n.name + ".sat"] = inside
        acts[n.name] = y
    logits = acts[nodes[-1].name]
    if not backward:  # inference only
        return Step({}, {}, {}, {}, {}, {}, logits, acts)
    grads = {nodes[-1].name: _softmax_xent_grad(logits, label)}
    gw, gb = {}, {}
    for n in reversed(nodes):
        if n.name not in grads:
            continue
        g = grads.pop(n.name)
        if n.name + ".sat" in cache:  # saturated by requantization: no gradient
            g = g * cache[n.name + ".sat"]
        if n.clamp:
            g = g * cache[n.name + ".mask"]
        contrib = {}
        if n.kind in ("conv", "linear"):
            x, w = cache[n.name]
            if n.kind == "conv":
                dx, dw = _conv_grads(x, w, g, n.op)
                db = g.sum(axis=(0, 2, 3))
            else:
                dx, dw, db = g @ w, g.T @ x, g.sum(axis=0)
            gw[n.name], gb[n.name] = dw, db
            if n.inputs[0] != "input":
                contrib[n.inputs[0]] = dx
        elif n.kind == "gpool":
            src = acts[n.inputs[0]]
            contrib[n.inputs[0]] = np.broadcast_to(g / (src.shape[2] * src.shape[3]), src.shape)
        elif n.kind == "add":
            contrib = {i: g for i in n.inputs if i != "input"}
        elif n.kind == "reshape":
            contrib[n.inputs[0]] = g.reshape(acts[n.inputs[0]].shape)
        for k, v in contrib.items():
            grads[k] = grads[k] + v if k in grads else v
    if not quantize:
        return Step(gw, gb, dict(params.weights), dict(params.biases), {}, {}, logits, acts)
    for name in gw:  # gradients w.r.t. the stored int8 weights and int32 biases
        shape = (-1,) + (1,) * (gw[name].ndim - 1)
        acc = s_w[name] * s_x[name]
        gw[name] = gw[name] * s_w[name].reshape(shape)
        gb[name] = gb[name] * acc
        if qas:  # Eq. 3-4: scale by s_W^-2 and (s_W s_x)^-2
            gw[name] = gw[name] / (s_w[name] ** 2).reshape(shape)
            gb[name] = gb[name] / acc ** 2
    return Step(gw, gb, wq, bq, s_w, s_x, logits, acts)


def norm_ratios(step: Step) -> dict[str, tuple[float, float]]:
    """Per weighted node: (||W|| / ||dW||, ||b|| / ||db||) of the parameters the step's gradients refer to."""
    out = {}
    for name, g in step.grad_w.items():
        w, b, gb = step.weights[name], step.biases[name], step.grad_b[name]
        out[name] = (float(np.linalg.norm(w) / max(np.linalg.norm(g), 1e-30)),
                     float(np.linalg.norm(b) / max(np.linalg.norm(gb), 1e-30)))
    return out
