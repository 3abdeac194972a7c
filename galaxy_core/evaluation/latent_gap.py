"""Real galaxies in a model's latent space: where they fall beside the synthetic ones it learned from, and three numbers
for the gap between them.

- The classifier two-sample test: a cross-validated logistic regression tells synthetic from real features; its ROC
  AUC is 0.5 where the two are indistinguishable and 1 where every real galaxy can be told apart. The interval is a
  stratified bootstrap of the out-of-fold scores.
- Nearest-synthetic-neighbour agreement: how often the majority label of a real galaxy's k nearest synthetic
  neighbours (cosine) is its true label: the latent space's own classifier, beside the model's head.
- The per-class shift: the distance between a class's real and synthetic feature means, in units of the synthetic
  class's spread (the root-mean-square distance of its points to their mean).

The projection (PCA or UMAP) is fitted on the synthetic points only; real points are placed with `transform`, so
both share one map.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from galaxy_core.classes import CLASS_NAMES, CLASSES
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.prepared import input_batches
from galaxy_core.data.transforms import Preprocessing
from galaxy_core.errors import UserError
from galaxy_core.evaluation.evaluate import checkpoint_split
from galaxy_core.evaluation.similarity import normalised
from galaxy_core.inference.forward import forward
from galaxy_core.inference.logits import softmax

PROJECTIONS = ("pca", "umap")
MIN_REAL_FOR_TEST = 4  # the two-sample test needs a few real points in every fold
MIN_CLASS_POINTS = 5  # a class's own AUC and shift are reported from this many real galaxies with that label
SYNTHETIC_LIMIT = 2000  # synthetic test points placed (a seeded, class-stratified subset beyond this)
MIN_SYNTHETIC = 20  # below this many test images (a tiny file) the map uses every image of the file
BOOTSTRAP = 500


@dataclass
class LatentPoints:
    """One group of points (synthetic test images or real cutouts) through one model."""

    source: str  # "synthetic" or "real"
    names: list[str]  # the file (real) or "#index" (synthetic)
    labels: np.ndarray  # (N,) int64, -1 where unknown
    probabilities: np.ndarray  # (N, 10)
    features: np.ndarray  # (N, D) float32
    indices: np.ndarray | None = None  # dataset indices (synthetic)
    ood: list = field(default_factory=list)  # per point: True, False or None (not calibrated); real points only

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        return self.probabilities.max(axis=1)


def synthetic_points(model, meta: dict, data: Galaxy10, device: torch.device | str = "cpu", limit: int = SYNTHETIC_LIMIT,
                     batch_size: int = 64) -> LatentPoints:
    """The test images of `data` under the checkpoint's own split (as `evaluate` takes them), at most `limit` of them,
    with their features and probabilities from one pass."""
    split, _ = checkpoint_split(meta, data)
    part = split.test if len(split.test) >= MIN_SYNTHETIC else np.arange(len(data))  # a tiny file: all of it, to draw a map at all
    indices = np.sort(_stratified_subset(part, data.labels[part], limit))
    if len(indices) == 0:
        raise UserError(f"{data.path.name} has no test images under this checkpoint's split: use a bigger Galaxy10 file.")
    preprocessing = Preprocessing.from_dict(meta["preprocessing"])
    features, logits = [], []
    for images in input_batches(data, indices, preprocessing, batch_size):
        out = forward(model, images, preprocessing, device, features=True)
        features.append(out.features.numpy())
        logits.append(out.logits.numpy())
    return LatentPoints("synthetic", [f"#{i}" for i in indices], data.labels[indices].astype(np.int64),
                        softmax(np.concatenate(logits)), np.concatenate(features), indices=indices)


def _stratified_subset(indices: np.ndarray, labels: np.ndarray, limit: int) -> np.ndarray:
    if len(indices) <= limit:
        return np.asarray(indices)
    rng = np.random.default_rng(0)
    keep = []
    for c in np.unique(labels):
        members = indices[labels == c]
        share = max(1, round(limit * len(members) / len(indices)))
        keep.append(rng.choice(members, min(share, len(members)), replace=False))
    return np.concatenate(keep)[:limit]


def real_points(predictor, batches: Iterable[np.ndarray], names: Sequence[str], labels: np.ndarray | None) -> LatentPoints:
    """Real cutouts (uint8 batches, as decoded uploads) through a one-model Predictor: features, probabilities and the
    out-of-distribution flag, from one pass per batch."""
    features, probabilities, ood = [], [], []
    for images in batches:
        answers, member_features = predictor.predict_with_features(images)
        features.append(member_features[0])
        probabilities.append(np.array([[a["probabilities"][c] for c in CLASS_NAMES] for a in answers]))
        ood += [a["ood"] for a in answers]
    if not features:
        raise UserError("No real image could be read: give a folder of JPEG, PNG or FITS cutouts.")
    labels = np.full(len(ood), -1, np.int64) if labels is None else np.asarray(labels, np.int64)
    return LatentPoints("real", list(names), labels, np.concatenate(probabilities), np.concatenate(features), ood=ood)


# ----- the three scores -----------------------------------------------------------------------------------------------
def two_sample_auc(synthetic: np.ndarray, real: np.ndarray, folds: int = 5, seed: int = 0,
                   bootstrap: int = BOOTSTRAP) -> tuple[float | None, list[float] | None]:
    """Cross-validated ROC AUC of a logistic regression telling `real` rows from `synthetic` rows, and its 95% interval
    (a bootstrap of the out-of-fold scores, each group resampled on its own). (None, None) with too few points."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    smaller = min(len(synthetic), len(real))
    if smaller < 2:
        return None, None
    x = np.concatenate([synthetic, real]).astype(np.float64)
    y = np.r_[np.zeros(len(synthetic)), np.ones(len(real))]
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000))
    splitter = StratifiedKFold(n_splits=min(folds, smaller), shuffle=True, random_state=seed)
    scores = cross_val_predict(classifier, x, y, cv=splitter, method="decision_function")
    auc = float(roc_auc_score(y, scores))
    rng = np.random.default_rng(seed)
    negatives, positives = scores[y == 0], scores[y == 1]
    resampled = [roc_auc_score(y, np.r_[rng.choice(negatives, len(negatives)), rng.choice(positives, len(positives))])
                 for _ in range(bootstrap)]
    low, high = np.percentile(resampled, [2.5, 97.5])
    return auc, [float(low), float(high)]


def neighbour_votes(synthetic: np.ndarray, synthetic_labels: np.ndarray, real: np.ndarray, k: int) -> np.ndarray:
    """For each real row, the majority label of its k nearest synthetic rows by cosine (a tie goes to the label whose
    tied neighbours are nearer in all)."""
    similarity = normalised(real) @ normalised(synthetic).T
    k = min(k, len(synthetic))
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    votes = np.zeros((len(real), len(CLASSES)))
    for row in range(len(real)):
        for j in nearest[row]:
            votes[row, synthetic_labels[j]] += 1 + 1e-6 * similarity[row, j]
    return votes.argmax(axis=1)


def class_shift(synthetic: np.ndarray, real: np.ndarray) -> float:
    """|real mean - synthetic mean| / synthetic spread (RMS distance of the synthetic points to their mean)."""
    centre = synthetic.mean(axis=0)
    spread = float(np.sqrt(((synthetic - centre) ** 2).sum(axis=1).mean()))
    return float(np.linalg.norm(real.mean(axis=0) - centre) / max(spread, 1e-12))


def gap_scores(synthetic: LatentPoints, real: LatentPoints, k: int = 10, seed: int = 0) -> dict:
    """The three gap scores over all points and per class (classes with MIN_CLASS_POINTS labelled real galaxies)."""
    if not 1 <= k <= 100:
        raise UserError(f"--neighbours {k}: ask for 1 to 100 neighbours.")
    auc, interval = two_sample_auc(synthetic.features, real.features, seed=seed)
    known = real.labels >= 0
    votes = neighbour_votes(synthetic.features, synthetic.labels, real.features[known], k) if known.any() else np.empty(0, int)
    truth = real.labels[known]
    per_class = {}
    for c in CLASSES:
        mine, theirs = truth == c.index, synthetic.labels == c.index
        real_of_class = real.features[known][mine]
        entry = {"n_real": int(mine.sum()), "n_synthetic": int(theirs.sum()), "neighbour_agreement": None, "shift": None,
                 "two_sample_auc": None, "two_sample_auc_ci": None, "model_accuracy": None}
        if mine.any():
            entry["neighbour_agreement"] = float((votes[mine] == c.index).mean())
            entry["model_accuracy"] = float((real.predicted[known][mine] == c.index).mean())
        if mine.sum() >= MIN_CLASS_POINTS and theirs.sum() >= MIN_CLASS_POINTS:
            entry["shift"] = class_shift(synthetic.features[theirs], real_of_class)
            entry["two_sample_auc"], entry["two_sample_auc_ci"] = two_sample_auc(synthetic.features[theirs], real_of_class, seed=seed)
        per_class[c.name] = entry
    return {
        "two_sample_auc": auc, "two_sample_auc_ci": interval,
        "neighbour_agreement": float((votes == truth).mean()) if known.any() else None,
        "model_accuracy": float((real.predicted[known] == truth).mean()) if known.any() else None,
        "neighbours": k, "n_real": len(real), "n_real_labelled": int(known.sum()), "n_synthetic": len(synthetic),
        "feature_dimension": int(synthetic.features.shape[1]),
        "per_class": per_class,
    }


# ----- the shared map ------------------------------------------------------------------------------------------------
class Projection:
    """PCA or UMAP fitted on synthetic features; `place` puts any features (synthetic or real) on the same map."""

    def __init__(self, method: str, components: int = 3, seed: int = 0):
        if method not in PROJECTIONS:
            raise UserError(f"--projection {method}: choose one of {', '.join(PROJECTIONS)}.")
        if components not in (2, 3):
            raise UserError(f"{components} dimensions: a map has 2 or 3.")
        self.method, self.components, self.seed = method, components, seed
        self._fitted = None
        self.explained: list[float] = []

    def fit(self, features: np.ndarray) -> "Projection":
        usable = min(self.components, features.shape[0] - 1, features.shape[1])
        if usable < 1:
            raise UserError("Too few synthetic points to draw a map: use a Galaxy10 file with a bigger test split.")
        if self.method == "pca":
            from sklearn.decomposition import PCA

            self._fitted = PCA(n_components=usable, random_state=self.seed).fit(features)
            self.explained = [float(r) for r in self._fitted.explained_variance_ratio_]
        else:
            import umap

            neighbours = max(2, min(15, features.shape[0] - 1))
            self._fitted = umap.UMAP(n_components=self.components, n_neighbors=neighbours, min_dist=0.1, metric="cosine",
                                     random_state=self.seed, init="spectral" if features.shape[0] > self.components + 1 else "random")
            self._fitted.fit(features)
        return self

    def place(self, features: np.ndarray) -> np.ndarray:
        """(N, components) coordinates; a PCA short of components pads with zeros."""
        if len(features) == 0:
            return np.zeros((0, self.components))
        placed = self._fitted.transform(features)
        out = np.zeros((len(features), self.components))
        out[:, : placed.shape[1]] = placed
        return out

    @property
    def axis_names(self) -> list[str]:
        prefix = "PC" if self.method == "pca" else "UMAP"
        return [f"{prefix}{i + 1}" for i in range(self.components)]


def neighbours_of(query: np.ndarray, pool: np.ndarray, k: int, exclude: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positions in `pool` of the k nearest rows to one feature vector by cosine, and their distances, nearest first."""
    from galaxy_core.evaluation.similarity import nearest

    return nearest(normalised(pool), query, k, exclude)  # nearest() caps k at the pool's size


def points_table(synthetic: LatentPoints, real: LatentPoints, synthetic_xyz: np.ndarray, real_xyz: np.ndarray) -> list[dict]:
    """One row per point, as `latent --out` writes them (`file` for real points, `index` for synthetic)."""
    rows = []
    for points, xyz in ((synthetic, synthetic_xyz), (real, real_xyz)):
        for i in range(len(points)):
            rows.append({
                "file": points.names[i] if points.source == "real" else "",
                "index": int(points.indices[i]) if points.indices is not None else "",
                "source": points.source,
                "label": int(points.labels[i]) if points.labels[i] >= 0 else "",
                "prediction": int(points.predicted[i]),
                "confidence": round(float(points.confidence[i]), 6),
                "ood": "" if points.source == "synthetic" or points.ood[i] is None else bool(points.ood[i]),
                "x": round(float(xyz[i, 0]), 6), "y": round(float(xyz[i, 1]), 6),
                "z": round(float(xyz[i, 2]), 6) if xyz.shape[1] > 2 else "",
            })
    return rows


POINT_COLUMNS = ("file", "index", "source", "label", "prediction", "confidence", "ood", "x", "y", "z")


def write_points_csv(path: str | Path, rows: list[dict]) -> None:
    import csv

    from galaxy_core.fileio import atomic_path

    with atomic_path(Path(path), suffix=".csv") as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=POINT_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)



def readable_batches(files: Sequence[Path], skipped: list[str], batch_size: int = 32,
                     progress=None) -> Iterable[tuple[np.ndarray, list[int]]]:
    """(uint8 batch, positions in `files`) of every file that decodes; each one that does not adds "name: reason" to
    `skipped` instead of stopping the rest. Only one batch is held at a time."""
    from galaxy_core.data.images import load_image

    pixels, positions = [], []
    for position, path in enumerate(files):
        try:
            pixels.append(load_image(path).pixels)
            positions.append(position)
        except UserError as exc:
            skipped.append(f"{Path(path).name}: {exc}")
        if len(pixels) == batch_size or (position == len(files) - 1 and pixels):
            yield np.stack(pixels), positions
            pixels, positions = [], []
        if progress:
            progress(position + 1, len(files))


def folder_points(predictor, folder, skipped: list[str], limit: int, progress=None) -> LatentPoints:
    """The readable images of a LabelledImages folder (its first `limit`) through the predictor, labels kept."""
    files = list(folder.files[:limit])
    kept: list[int] = []

    def batches():
        for pixels, positions in readable_batches(files, skipped, progress=progress):
            kept.extend(positions)
            yield pixels

    points = real_points(predictor, batches(), [], None)
    points.names = [str(files[i].relative_to(folder.root)) for i in kept]
    points.labels = folder.labels[kept].astype(np.int64)
    return points
