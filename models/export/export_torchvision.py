"""Export torchvision and ``torch.nn`` models to ONNX with each common recipe, as test fixtures.

Run with a Python that has torch, torchvision, onnx and onnxscript (never a dependency of hwsim; CI reads the
committed fixtures):

    /path/to/torchvenv/bin/python models/export/export_torchvision.py [--only resnet18,vit_b_16] [--recipes ...]

Recipes (what a user gets from ``torch.onnx.export`` in torch 2.x):

- ``dynamo``: the default exporter (``dynamo=True``), eval mode;
- ``script``: the TorchScript exporter (``dynamo=False``), eval mode (BatchNorm constant-folded into the convs);
- ``train``: the TorchScript exporter in training mode (``training=torch.onnx.TrainingMode.TRAINING,
  do_constant_folding=False``), which keeps BatchNorm and Dropout: the recipe that keeps the training graph.

Each file gets its float weights zeroed (tensors of 16 or more elements, no infinities: shape constants, scale
factors and attention masks, -inf or the lowest float, are kept), then is written compressed as ``tests/fixtures/onnx/<model>.<recipe>.onnx.xz``
(zeros compress about 50,000:1 with xz against 1,000:1 with gzip). ``published.json`` records torchvision's own
GFLOPS figure (``weights.meta['_ops']``, the numbers in torchvision's model documentation table) for each model.
"""

import argparse
import io
import json
import lzma
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "onnx"

# torchvision builder name -> (weights enum name, input resolution, builder kwargs)
VISION = {
    "resnet18": ("ResNet18_Weights", 224, {}),
    "resnet50": ("ResNet50_Weights", 224, {}),
    "resnext50_32x4d": ("ResNeXt50_32X4D_Weights", 224, {}),
    "wide_resnet50_2": ("Wide_ResNet50_2_Weights", 224, {}),
    "mobilenet_v2": ("MobileNet_V2_Weights", 224, {}),
    "mobilenet_v3_small": ("MobileNet_V3_Small_Weights", 224, {}),
    "mobilenet_v3_large": ("MobileNet_V3_Large_Weights", 224, {}),
    "efficientnet_b0": ("EfficientNet_B0_Weights", 224, {}),
    "efficientnet_v2_s": ("EfficientNet_V2_S_Weights", 384, {}),
    "regnet_y_400mf": ("RegNet_Y_400MF_Weights", 224, {}),
    "convnext_tiny": ("ConvNeXt_Tiny_Weights", 224, {}),
    "densenet121": ("DenseNet121_Weights", 224, {}),
    "squeezenet1_0": ("SqueezeNet1_0_Weights", 224, {}),
    "squeezenet1_1": ("SqueezeNet1_1_Weights", 224, {}),
    "shufflenet_v2_x1_0": ("ShuffleNet_V2_X1_0_Weights", 224, {}),
    "mnasnet1_0": ("MNASNet1_0_Weights", 224, {}),
    "googlenet": ("GoogLeNet_Weights", 224, {"aux_logits": False, "init_weights": False}),
    "inception_v3": ("Inception_V3_Weights", 299, {"aux_logits": False, "init_weights": False}),
    "vgg16_bn": ("VGG16_BN_Weights", 224, {}),
    "alexnet": ("AlexNet_Weights", 224, {}),
    "vit_b_16": ("ViT_B_16_Weights", 224, {}),
    "swin_t": ("Swin_T_Weights", 224, {}),
}
RECIPES = ("dynamo", "script", "train")
OPSET = 18


def _nn_models(torch):
    """Transformer encoders and decoders built from torch.nn (batch-first and sequence-first, causal masks)."""
    nn = torch.nn

    class Encoder(nn.Module):
        def __init__(self, batch_first):
            super().__init__()
            layer = nn.TransformerEncoderLayer(256, 4, 1024, batch_first=batch_first, activation="gelu")
            self.body = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

        def forward(self, x):
            return self.body(x)

    class Decoder(nn.Module):
        """A decoder-only (GPT-style) stack: causal self-attention through TransformerEncoder with a mask."""

        def __init__(self, batch_first, seq):
            super().__init__()
            layer = nn.TransformerEncoderLayer(256, 4, 1024, batch_first=batch_first)
            self.body = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(seq))

        def forward(self, x):
            return self.body(x, mask=self.mask, is_causal=True)

    class CrossDecoder(nn.Module):
        """nn.TransformerDecoder (causal self-attention, then cross-attention to a memory), sequence-first;
        the memory is the input itself so that the graph has one input."""

        def __init__(self, seq):
            super().__init__()
            layer = nn.TransformerDecoderLayer(256, 4, 1024)
            self.body = nn.TransformerDecoder(layer, 2)
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(seq))

        def forward(self, x):
            return self.body(x, x, tgt_mask=self.mask, tgt_is_causal=True)

    seq = 64
    return {
        "encoder_bf": (Encoder(True), (1, seq, 256)),
        "encoder_sf": (Encoder(False), (seq, 1, 256)),
        "decoder_bf": (Decoder(True, seq), (1, seq, 256)),
        "decoder_sf": (CrossDecoder(seq), (seq, 1, 256)),
    }


def _zeroed(model_bytes: bytes) -> bytes:
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(model_bytes)
    for tensor in model.graph.initializer:
        array = numpy_helper.to_array(tensor)
        if array.dtype.kind == "f" and array.size >= 16 and (np.abs(array) < 1e30).all():  # masks keep -inf
            tensor.CopyFrom(numpy_helper.from_array(np.zeros_like(array), tensor.name))
    return model.SerializeToString()


def _trained_statistics(torch, model) -> None:
    """Give every BatchNorm the non-trivial statistics and affine, and every bias the non-zero values, of a
    trained network: with the fresh ones (mean 0, variance 1, scale 1, shift 0; some biases 0) an eval-mode
    export folds BatchNorm into zero biases, which the default exporter's optimizer then drops, unlike with any
    real checkpoint."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)) and module.bias is not None:
                module.bias.uniform_(-0.1, 0.1)  # a zero bias (SqueezeNet's init) is dropped by the optimizer
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)


def _export(torch, model, shape, recipe: str) -> bytes:
    _trained_statistics(torch, model)
    x = torch.zeros(*shape)
    buf = io.BytesIO()
    if recipe == "dynamo":
        model.eval()
        program = torch.onnx.export(model, (x,), dynamo=True, opset_version=OPSET)
        program.save(buf) if hasattr(program, "save") else None
        if not buf.getvalue():
            raise RuntimeError("dynamo export produced nothing")
        return buf.getvalue()
    if recipe == "script":
        model.eval()
        torch.onnx.export(model, (x,), buf, dynamo=False, opset_version=17)
    else:
        model.train()
        torch.onnx.export(model, (x,), buf, dynamo=False, opset_version=17,
                          training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    return buf.getvalue()


def main(argv=None) -> int:
    import torch
    import torchvision

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma list of model names (default: all)")
    parser.add_argument("--recipes", default=",".join(RECIPES), help="comma list of recipes")
    args = parser.parse_args(argv)
    only = set(filter(None, args.only.split(",")))
    OUT.mkdir(parents=True, exist_ok=True)
    published_path = OUT / "published.json"
    published = json.loads(published_path.read_text()) if published_path.exists() else {}
    torch.manual_seed(0)
    models = {}
    for name, (weights, res, kwargs) in VISION.items():
        if not only or name in only:
            meta = getattr(torchvision.models, weights).DEFAULT.meta
            published[name] = {"gflops": meta["_ops"], "resolution": res,
                               "source": f"torchvision {torchvision.__version__} {weights}.DEFAULT.meta['_ops']"}
            models[name] = (lambda n=name, k=kwargs: getattr(torchvision.models, n)(weights=None, **k), (1, 3, res, res))
    for name, (module, shape) in _nn_models(torch).items():
        if not only or name in only:
            models[name] = (lambda m=module: m, shape)
    failures = []
    for name, (make, shape) in models.items():
        for recipe in args.recipes.split(","):
            t0 = time.time()
            try:
                data = _zeroed(_export(torch, make(), shape, recipe))
            except Exception as error:  # noqa: BLE001 - report and go on with the next export
                failures.append((name, recipe, " ".join(str(error).split())[:200]))
                print(f"{name} {recipe}: FAILED {failures[-1][2]}", file=sys.stderr)
                continue
            path = OUT / f"{name}.{recipe}.onnx.xz"
            path.write_bytes(lzma.compress(data, preset=9))
            print(f"{name} {recipe}: {path.stat().st_size / 1e3:.1f} kB in {time.time() - t0:.0f} s", flush=True)
    published_path.write_text(json.dumps(published, indent=1, sort_keys=True) + "\n")
    failed_path = OUT / "export_failures.json"
    old = json.loads(failed_path.read_text()) if failed_path.exists() else {}
    for name, recipe in ((n, r) for n in models for r in args.recipes.split(",")):
        old.pop(f"{name}.{recipe}", None)
    old.update({f"{n}.{r}": why for n, r, why in failures})
    failed_path.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
