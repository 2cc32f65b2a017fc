"""Measure per-layer accuracy contributions with the numpy int8 + QAS trainer (the paper's contribution analysis),
for :func:`hwsim.dataflow.tiny.contributions.search`.

Protocol (a stand-in for the paper's pretrained backbone, which hwsim does not have): the model is pretrained in
fp32 on the training images of the first half of the classes, gets a fresh classifier, and is then fine-tuned in
int8 + QAS on all classes once per setting: the classifier alone (the baseline), the biases of the last k convs
(``bias[k]``), and the first ``int(C x r)`` input channels of one conv's weights (``weight[(i, r)]``), each with
the classifier. A contribution is the setting's final test accuracy minus the baseline's. Seeds are fixed; a
small test set makes single gains noisy (one test image of digits' 539 is 0.19 points).
"""
from __future__ import annotations

from dataclasses import dataclass

from hwsim.dataflow.tiny import int8_graph
from hwsim.dataflow.tiny.contributions import Contributions
from hwsim.dataflow.tiny.scheme import updated_channels
from hwsim.ondevice import qas
from hwsim.ondevice.training import Dataset, TrainConfig, Trainable, initial_params, train


@dataclass(frozen=True)
class MeasureConfig:
    """How contributions are measured (see the module doc)."""

    ratios: tuple[float, ...] = (0.25, 0.5, 1.0)
    pretrain_epochs: int = 3
    epochs: int = 2
    lr: float = 0.2
    batch: int = 8
    seed: int = 0
    layers: tuple[int, ...] | None = None  # conv indices to measure (default: all)
    depths: tuple[int, ...] | None = None  # bias depths to measure (default: 1..convs)


def starting_point(graph, data: Dataset, config: MeasureConfig = MeasureConfig(),
                   pretrain: Dataset | None = None) -> qas.Params:
    """The shared start of every measuring run: ``graph`` pretrained in fp32 on ``pretrain`` (default: the
    first half of ``data``'s classes), with a fresh classifier."""
    classifier = int8_graph(graph)[-1].name
    if pretrain is None:
        half = data.y_train < max(data.classes // 2, 1)
        pretrain = Dataset(data.name, data.x_train[half], data.y_train[half], data.x_test, data.y_test)
    start = train(graph, pretrain, TrainConfig("fp32", config.lr, config.pretrain_epochs, config.batch,
                                               seed=config.seed))
    fresh = initial_params(graph, config.seed + 1)
    return qas.Params({**start.params.weights, classifier: fresh.weights[classifier]},
                      {**start.params.biases, classifier: fresh.biases[classifier]})


def fine_tune(graph, data: Dataset, trainable: Trainable, params: qas.Params,
              config: MeasureConfig = MeasureConfig()) -> float:
    """Final test accuracy of one int8 + QAS fine-tuning run from ``params`` (the measuring protocol's run)."""
    tc = TrainConfig("int8-qas", config.lr, config.epochs, config.batch, seed=config.seed)
    return train(graph, data, tc, trainable, params).final


def measure(graph, data: Dataset, config: MeasureConfig = MeasureConfig(), pretrain: Dataset | None = None) \
        -> Contributions:
    """Measure the contributions of ``graph`` on ``data`` with the numpy trainer; ``pretrain`` (default: the
    first half of ``data``'s classes) is what the backbone learns first in fp32."""
    nodes = int8_graph(graph)
    convs = [n for n in nodes if n.kind == "conv"]
    classifier = nodes[-1].name
    params = starting_point(graph, data, config, pretrain)
    frozen = {n.name: None for n in convs}
    no_bias = {n.name: False for n in convs}

    def run(channels: dict, bias: dict) -> float:
        t = Trainable({**frozen, **channels, classifier: nodes[-1].in_channels}, {**no_bias, **bias, classifier: True})
        return fine_tune(graph, data, t, params, config)

    base = run({}, {})
    depths = config.depths or tuple(range(1, len(convs) + 1))
    layers = config.layers if config.layers is not None else tuple(range(len(convs)))
    bias = {k: run({}, {n.name: True for n in convs[len(convs) - k:]}) - base for k in depths}
    weight = {(i, r): run({convs[i].name: updated_channels(convs[i].in_channels, r)}, {}) - base
              for i in layers for r in config.ratios}
    return Contributions(bias, weight, graph.name, base, source=f"measured on {data.name}")
