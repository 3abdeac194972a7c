"""Speed of the Latent space page and its maps (issue "Real galaxies in the latent space"), on this machine's CPU.

    python3 benchmarks/bench_latent.py [--data FILE] [--checkpoint checkpoints/cnn]

Measures, with the model loaded and features cached as the page caches them:
- the page's redraw with the synthetic test split (1,774 points of a real-size file) and the 60 real galaxies
  (AppTest, the second run of the page: targets <= 2 s);
- a UMAP fit on 2,000 synthetic points (target <= 15 s);
- placing 100 new real galaxies: their features through the model and the fitted map (target <= 3 s).
Without --data it uses the real-size synthetic file benchmarks/bench_reader.py generates (17,736 images, once).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data")
    parser.add_argument("--checkpoint", default=str(REPO / "checkpoints" / "cnn"))
    args = parser.parse_args()
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.data.labelled_images import real_sample
    from galaxy_core.data.transforms import Preprocessing
    from galaxy_core.evaluation.embeddings import latent_features
    from galaxy_core.evaluation.latent_gap import Projection, real_points
    from galaxy_core.inference.predictor import Predictor
    from galaxy_core.settings import cache_dir

    data_path = Path(args.data) if args.data else cache_dir() / "bench_galaxy10_17736.h5"
    if not data_path.exists():
        from galaxy_core.data.synthetic import generate

        print(f"generating {data_path} (17,736 images, once)...", file=sys.stderr)
        generate(data_path, 17736, seed=2024)
    data = Galaxy10(data_path)
    predictor = Predictor([args.checkpoint])
    member = predictor.members[0]

    started = time.perf_counter()
    indices = np.sort(np.random.default_rng(0).choice(len(data), 2000, replace=False))
    features = latent_features(member.model, data, indices, Preprocessing.from_dict(member.meta["preprocessing"]), "cpu")
    print(f"features of 2,000 synthetic images: {time.perf_counter() - started:.1f} s (once per checkpoint; cached by the page)")
    for attempt in ("first in this process, numba compiling", "again"):
        started = time.perf_counter()
        umap = Projection("umap", 2, seed=len(attempt)).fit(features)
        print(f"UMAP fit on 2,000 points ({attempt}): {time.perf_counter() - started:.1f} s (target <= 15 s)")

    folder = real_sample()
    pixels = folder.pixels()
    hundred = np.concatenate([pixels, np.rot90(pixels[:40], axes=(1, 2))])  # 100 distinct cutouts
    for attempt in ("first", "again"):
        started = time.perf_counter()
        real = real_points(predictor, [hundred[i:i + 32] for i in range(0, 100, 32)], [str(i) for i in range(100)], None)
        umap.place(real.features)
        print(f"placing 100 new real galaxies (features + the fitted UMAP, {attempt}): {time.perf_counter() - started:.1f} s (target <= 3 s)")

    redraw(data_path, args.checkpoint)


def redraw(data_path: Path, checkpoint: str) -> None:
    """The page's script run once its caches hold the features and the map: what a click or a control change costs."""
    from streamlit.testing.v1 import AppTest

    os.environ.update({"GALAXY10_H5": str(data_path), "GALAXY_CHECKPOINTS": str(Path(checkpoint).parent)})
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=900)
    at.run()
    at.switch_page("app_pages/latent.py")
    at.session_state["latent_model"] = str(Path(checkpoint))
    started = time.perf_counter()
    at.run()
    print(f"first draw (features of the test split, the 60 real galaxies, the PCA fit): {time.perf_counter() - started:.1f} s")
    assert not at.exception, at.exception
    caption = next(c.value for c in at.caption if "synthetic test images" in c.value)
    for method in ("PCA", "UMAP"):
        at.radio(key="latent_projection").set_value(method).run()  # the first UMAP run fits it (cached after)
        started = time.perf_counter()
        at.run()
        print(f"redraw with {method}, features and map cached ({caption.split(' · ')[0]}, 60 real): {time.perf_counter() - started:.2f} s (target <= 2 s)")


if __name__ == "__main__":
    main()
