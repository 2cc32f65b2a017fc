"""Quantization-aware scaling (QAS), functionally: one numpy training step of an int8 CNN and of its fp32 twin.

The int8 graph holds ``W_q = round(W / s_W)`` (int8, per output channel scale ``s_W``), ``b_q = round(b /
(s_W s_x))`` (int32) and int8 activations ``x_q`` with per-tensor scale ``s_x``; every conv requantizes its
int32 accumulator to the next int8 scale and clamps (ReLU6 folded). The backward pass runs in fp32 on the
dequantized values (as the reference engine's float kernels) and returns gradients with respect to the
*stored* int8/int32 parameters: ``dL/dW_q = s_W dL/dW`` and ``dL/db_q = s_W s_x dL/db``. Their norm ratio
``||W_q|| / ||dL/dW_q||`` is therefore ``s_W^-2`` times the fp32 one (and the bias's ``(s_W s_x)^-2``): the
optimizer sees badly scaled gradients. QAS (the paper's Eq. 3-4) multiplies ``dL/dW_q`` by ``s_W^-2`` and
``dL/db_q`` by ``(s_W s_x)^-2``, which restores the fp32 ratio up to quantization noise.
"""
from __future__ import annotations

from dataclasses import dataclass

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


def _conv(x: np.ndarray, w: np.ndarray, op) -> np.ndarray:
    """Cross-correlation of x (C, H, W) with w (O, C/g, kh, kw): groups 1 or depthwise."""
    (ph, pw), (sh, sw), (kh, kw) = op.padding, op.stride, op.kernel
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]  # C, Ho, Wo, kh, kw
    if op.groups == 1:
        return np.einsum("chwij,ocij->ohw", win, w, optimize=True)
    return np.einsum("chwij,cij->chw", win, w[:, 0], optimize=True)


def _conv_grads(x: np.ndarray, w: np.ndarray, dy: np.ndarray, op) -> tuple[np.ndarray, np.ndarray]:
    """(dL/dx, dL/dw) of ``_conv`` given dL/dy."""
    (ph, pw), (sh, sw), (kh, kw) = op.padding, op.stride, op.kernel
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    dxp = np.zeros_like(xp)
    ho, wo = dy.shape[1:]
    if op.groups == 1:
        dw = np.einsum("chwij,ohw->ocij", win, dy, optimize=True)
        for i in range(kh):
            for j in range(kw):
                dxp[:, i:i + sh * ho:sh, j:j + sw * wo:sw] += np.einsum("oc,ohw->chw", w[:, :, i, j], dy)
    else:
        dw = np.einsum("chwij,chw->cij", win, dy, optimize=True)[:, None]
        for i in range(kh):
            for j in range(kw):
                dxp[:, i:i + sh * ho:sh, j:j + sw * wo:sw] += w[:, 0, i, j][:, None, None] * dy
    return dxp[:, ph:ph + x.shape[1], pw:pw + x.shape[2]], dw


def _softmax_xent_grad(logits: np.ndarray, label: int) -> np.ndarray:
    p = np.exp(logits - logits.max())
    p /= p.sum()
    p[label] -= 1.0
    return p


@dataclass(frozen=True)
class Step:
    """Gradients of one step per weighted node, and the scales used (int8 graph only)."""

    grad_w: dict
    grad_b: dict
    weights: dict  # the parameters the gradients refer to (fp32 W, or int8 W_q as float)
    biases: dict
    s_w: dict
    s_x: dict


def fp32_step(graph, params: Params, image: np.ndarray, label: int) -> Step:
    """Forward and backward of the fp32 graph (ReLU6 clamps, no quantization)."""
    return _step(int8_graph(graph), params, image, label, quantize=False)


def int8_step(graph, params: Params, image: np.ndarray, label: int, qas: bool = True) -> Step:
    """Forward of the int8 graph (requantization at every conv), fp32 backward, gradients w.r.t. the stored
    int8 weights / int32 biases, QAS-scaled if ``qas``."""
    return _step(int8_graph(graph), params, image, label, quantize=True, qas=qas)


def sgd_update(step: Step, lr: float) -> tuple[dict, dict]:
    """The optimizer step on the int8 graph: int8 weights and int32 biases updated, rounded and clamped."""
    weights = {k: np.clip(np.round(w - lr * step.grad_w[k]), -127, 127) for k, w in step.weights.items()}
    biases = {k: np.round(b - lr * step.grad_b[k]) for k, b in step.biases.items()}
    return weights, biases


def _scale(x: np.ndarray) -> float:
    return max(float(np.abs(x).max()), 1e-8) / 127.0


def _step(nodes, params: Params, image, label, quantize: bool, qas: bool = False) -> Step:
    """Run the graph: activations (dequantized values when quantized), then backprop to every parameter."""
    acts = {"input": image.astype(np.float64)}
    scales = {"input": _scale(image)}
    if quantize:
        acts["input"] = np.round(image / scales["input"]) * scales["input"]
    cache = {}
    s_w, s_x, wq, bq = {}, {}, {}, {}
    for n in nodes:
        x = acts[n.inputs[0]]
        if n.kind in ("conv", "linear"):
            w, b = params.weights[n.name], params.biases[n.name]
            if quantize:  # per-channel int8 weights, int32 bias on the accumulator scale s_W * s_x
                sw = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) / 127.0
                shape = (-1,) + (1,) * (w.ndim - 1)
                w_q = np.round(w / sw.reshape(shape))
                b_q = np.round(b / (sw * scales[n.inputs[0]]))
                s_w[n.name], s_x[n.name], wq[n.name], bq[n.name] = sw, scales[n.inputs[0]], w_q, b_q
                w = w_q * sw.reshape(shape)
                b = b_q * sw * scales[n.inputs[0]]
            y = _conv(x, w, n.op) + b[:, None, None] if n.kind == "conv" else w @ x + b
            cache[n.name] = (x, w)
        elif n.kind == "gpool":
            y = x.mean(axis=(1, 2), keepdims=True)
        elif n.kind == "add":
            y = sum(acts[i] for i in n.inputs)
        elif n.kind == "reshape":
            y = x.reshape(-1)
        else:
            raise ValueError(f"model: op {n.kind} at {n.name!r} is not in the QAS functional model")
        if n.clamp:
            cache[n.name + ".mask"] = (y > 0) & (y < 6)
            y = np.clip(y, 0, 6)
        if quantize and n.kind != "linear":  # requantize to the output's int8 scale
            scales[n.name] = _scale(y)
            y = np.round(y / scales[n.name]) * scales[n.name]
        acts[n.name] = y
    grads = {nodes[-1].name: _softmax_xent_grad(acts[nodes[-1].name], label)}
    gw, gb = {}, {}
    for n in reversed(nodes):
        if n.name not in grads:
            continue
        g = grads.pop(n.name)
        if n.clamp:
            g = g * cache[n.name + ".mask"]
        contrib = {}
        if n.kind in ("conv", "linear"):
            x, w = cache[n.name]
            if n.kind == "conv":
                dx, dw = _conv_grads(x, w, g, n.op)
                db = g.sum(axis=(1, 2))
            else:
                dx, dw, db = w.T @ g, np.outer(g, x), g
            gw[n.name], gb[n.name] = dw, db
            if n.inputs[0] != "input":
                contrib[n.inputs[0]] = dx
        elif n.kind == "gpool":
            src = acts[n.inputs[0]]
            contrib[n.inputs[0]] = np.broadcast_to(g / (src.shape[1] * src.shape[2]), src.shape)
        elif n.kind == "add":
            contrib = {i: g for i in n.inputs if i != "input"}
        elif n.kind == "reshape":
            contrib[n.inputs[0]] = g.reshape(acts[n.inputs[0]].shape)
        for k, v in contrib.items():
            grads[k] = grads[k] + v if k in grads else v
    if not quantize:
        return Step(gw, gb, dict(params.weights), dict(params.biases), {}, {})
    for name in gw:  # gradients w.r.t. the stored int8 weights and int32 biases
        shape = (-1,) + (1,) * (gw[name].ndim - 1)
        acc = s_w[name] * s_x[name]
        gw[name] = gw[name] * s_w[name].reshape(shape)
        gb[name] = gb[name] * acc
        if qas:  # Eq. 3-4: scale by s_W^-2 and (s_W s_x)^-2
            gw[name] = gw[name] / (s_w[name] ** 2).reshape(shape)
            gb[name] = gb[name] / acc ** 2
    return Step(gw, gb, wq, bq, s_w, s_x)


def norm_ratios(step: Step) -> dict[str, tuple[float, float]]:
    """Per weighted node: (||W|| / ||dW||, ||b|| / ||db||) of the parameters the step's gradients refer to."""
    out = {}
    for name, g in step.grad_w.items():
        w, b, gb = step.weights[name], step.biases[name], step.grad_b[name]
        out[name] = (float(np.linalg.norm(w) / max(np.linalg.norm(g), 1e-30)),
                     float(np.linalg.norm(b) / max(np.linalg.norm(gb), 1e-30)))
    return out
