"""QAS that trains, and accuracy-aware sparse update, on scikit-learn's digits -> reports/qas_training/.

    python reports/qas_training.py [--out DIR] [--quick]

1. models/examples/digits-cnn.yaml trained from the same start in fp32, int8 + QAS and int8 without QAS
   (hwsim.ondevice.training: SGD lr 0.2, cosine decay, batch 8, 6 epochs) for seeds 0, 1, 2;
2. int8 without QAS over a learning-rate sweep (seed 0), to show what a hand-tuned global rate recovers;
3. the model's contributions (hwsim.ondevice.contribution) for a transfer task: pretrained in fp32 on digits,
   fine-tuned on the digits rotated by 90 degrees (a new domain, the same classes), and the scheme
   `hwsim tiny --budget` picks with them against the parameter-count fallback, each pick then fine-tuned to
   measure its real gain.

Writes results.csv, lr_sweep.csv, digits-cnn-contributions.yaml and README.md (tables). Takes about 4 minutes
on one core (--quick: one seed, three rates).
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import hwsim
from hwsim.dataflow.tiny.contributions import to_yaml
from hwsim.models import load
from hwsim.ondevice.contribution import fine_tune, measure, starting_point
from hwsim.ondevice.training import MODES, Dataset, TrainConfig, Trainable, digits, train

MODEL = Path(__file__).resolve().parents[1] / "models" / "examples" / "digits-cnn.yaml"
SETTING = {"lr": 0.2, "epochs": 6, "batch": 8}
LR_SWEEP = (0.2, 2.0, 20.0, 200.0, 2e3, 2e4, 2e5, 2e6)
BUDGETS_KB = (1.0, 2.0, 3.0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "qas_training")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    graph, data = load(str(MODEL)), digits()
    seeds = (0,) if args.quick else (0, 1, 2)
    rows = []
    for seed in seeds:
        for mode in MODES:
            run = train(graph, data, TrainConfig(mode, seed=seed, **SETTING))
            rows.append({"seed": seed, "mode": mode, "start": round(run.accuracy[0], 4),
                         **{f"epoch{i}": round(a, 4) for i, a in enumerate(run.accuracy[1:], 1)},
                         "final": round(run.final, 4)})
    results = pd.DataFrame(rows)
    results.to_csv(args.out / "results.csv", index=False)
    sweep = []
    for lr in (LR_SWEEP[::3] if args.quick else LR_SWEEP):
        run = train(graph, data, TrainConfig("int8", lr=lr, epochs=SETTING["epochs"], batch=SETTING["batch"]))
        sweep.append({"lr": lr, "final": round(run.final, 4)})
    sweep = pd.DataFrame(sweep)
    sweep.to_csv(args.out / "lr_sweep.csv", index=False)
    rotated = Dataset("digits-rot90", np.rot90(data.x_train, axes=(2, 3)).copy(), data.y_train,
                      np.rot90(data.x_test, axes=(2, 3)).copy(), data.y_test)
    contrib = measure(graph, rotated, pretrain=data)
    start = starting_point(graph, rotated, pretrain=data)
    (args.out / "digits-cnn-contributions.yaml").write_text(
        f"# measured by reports/qas_training.py (baseline: classifier alone {contrib.baseline:.4f})\n"
        + to_yaml(contrib))
    picks = []
    for kb in BUDGETS_KB:
        for label, c in (("contribution", contrib), ("parameters", None)):
            r = hwsim.tiny(str(MODEL), budget_kb=kb, contributions=c)
            s = r.scheme_spec
            picks.append({"budget_kb": kb, "objective": label, "bias_depth": s.bias_depth,
                          "weights": ", ".join(f"{i}:{x:g}" for i, x in zip(s.weight_layers, s.ratios)) or "none",
                          "predicted_gain": round(contrib.gain(s), 4),
                          "measured_gain": round(fine_tune(graph, rotated, Trainable.from_scheme(graph, s), start)
                                                 - contrib.baseline, 4),
                          "analytic_extra_kb": round(r.analytic_extra_kb, 2), "trained_params": r.trained_params})
    picks = pd.DataFrame(picks)
    picks.to_csv(args.out / "budget_picks.csv", index=False)
    final = results.pivot(index="seed", columns="mode", values="final")[list(MODES)]
    lines = ["# QAS that trains, and accuracy-aware sparse update (digits)", "",
             "Regenerate: `python reports/qas_training.py` (setting in its docstring and docs/tiny.md).", "",
             "## Final test accuracy by seed", "", _md(final.reset_index()), "",
             "## int8 without QAS, learning-rate sweep (seed 0)", "", _md(sweep), "",
             "## Contributions: pretrained on digits, fine-tuned on digits rotated by 90 degrees", "",
             f"Classifier alone (the baseline): {contrib.baseline:.4f}. Gains over it:", "",
             _md(pd.DataFrame([{"update": f"bias depth {k}", "gain": round(v, 4)} for k, v in contrib.bias.items()]
                              + [{"update": f"conv {i} weights at ratio {r:g}", "gain": round(v, 4)}
                                 for (i, r), v in contrib.weight.items()])), "",
             "See digits-cnn-contributions.yaml.", "", "## What --budget picks", "", _md(picks), ""]
    (args.out / "README.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


def _md(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    return "\n".join([head, "|" + "---|" * len(df.columns)] +
                     ["| " + " | ".join(map(str, r)) + " |" for r in df.itertuples(index=False)])


if __name__ == "__main__":
    sys.exit(main())
