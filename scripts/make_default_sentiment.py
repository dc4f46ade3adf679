"""Reproduce transferkit's default sentiment model (zoo name `minilm-l6-sst2`).

Transfer learning from minilm-l6: frozen mean-pooled features of SST-2 train, a logistic
regression head with C chosen on SST-2 dev, accuracy recorded on SST-2 test. Only the head
(384 x 2 + 2 floats) ships, in src/transferkit/assets/minilm-l6-sst2/.

    python scripts/make_default_sentiment.py [--data ../shared/data/text/sst2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from transferkit.models.classifier import Classifier
from transferkit.models.saving import save_classifier
from transferkit.pipelines import pipeline
from transferkit.zoo.factory import asset_dir, load_backbone

LABELS = ["NEGATIVE", "POSITIVE"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=str(Path(__file__).parents[2] / "shared/data/text/sst2"))
    ap.add_argument("--out", default=str(asset_dir("minilm-l6-sst2")))
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression

    torch.manual_seed(0)
    data = {s: pd.read_csv(Path(args.data) / f"{s}.csv") for s in ("train", "dev", "test")}
    backbone = load_backbone("minilm-l6")
    fx = pipeline("feature-extraction", model=backbone, normalize=False)
    feats = {s: fx.encode(df["text"].tolist(), progress=True) for s, df in data.items()}
    ys = {s: (df["label"] == "positive").to_numpy().astype(int) for s, df in data.items()}
    t0 = time.time()
    best = None
    for c in (0.1, 0.3, 1.0, 3.0, 10.0):
        lr = LogisticRegression(C=c, max_iter=3000).fit(feats["train"], ys["train"])
        acc = lr.score(feats["dev"], ys["dev"])
        if best is None or acc > best[0]:
            best = (acc, c, lr)
    dev_acc, c, lr = best
    test_acc = float(lr.score(feats["test"], ys["test"]))
    # Binary LR → 2-logit linear head: logits (-z/2, z/2) give the same softmax as sigmoid(z).
    w = torch.tensor(lr.coef_[0], dtype=torch.float32)
    b = float(lr.intercept_[0])
    clf = Classifier(backbone, LABELS)
    with torch.no_grad():
        clf.head.weight.copy_(torch.stack([-w / 2, w / 2]))
        clf.head.bias.copy_(torch.tensor([-b / 2, b / 2]))
    meta = {
        "name": "minilm-l6-sst2",
        "strategy": "probe",
        "reason": "frozen minilm-l6 features + logistic-regression head (C chosen on sst2 dev)",
        "train_data": "sst2 train (6920 sentences), ../shared/data/text/sst2",
        "hyperparameters": {"C": c},
        "metrics": {
            "sst2_dev_accuracy": round(float(dev_acc), 4),
            "sst2_test_accuracy": round(test_acc, 4),
        },
        "train_seconds": round(time.time() - t0, 1),
    }
    save_classifier(clf, args.out, meta=meta)
    print(f"saved {args.out}: C={c} dev={dev_acc:.4f} test={test_acc:.4f}")


if __name__ == "__main__":
    main()
