"""Images that are not galaxy cutouts, for the out-of-distribution check (bench_ood.py and the tests):
a photograph, uniform grey, black and white frames, noise, a checkerboard and an empty star field."""
from __future__ import annotations

import numpy as np

SIDE = 256


def non_galaxy_images(seed: int = 0) -> dict[str, np.ndarray]:
    """name -> (256, 256, 3) uint8."""
    import matplotlib.cbook  # matplotlib comes with grad-cam; its sample photograph is a real JPEG

    from galaxy_core.data.images import load_image

    rng = np.random.default_rng(seed)
    board = ((np.indices((SIDE, SIDE)) // 32).sum(axis=0) % 2 * 255).astype(np.uint8)
    stars = np.zeros((SIDE, SIDE, 3), np.uint8)
    for _ in range(25):  # faint sky with a few stars, none at the centre
        y, x = rng.integers(5, SIDE - 5, 2)
        if abs(y - SIDE // 2) > 24 or abs(x - SIDE // 2) > 24:
            stars[y - 1 : y + 2, x - 1 : x + 2] = rng.integers(100, 256)
    return {
        "photograph": load_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).pixels,
        "uniform grey": np.full((SIDE, SIDE, 3), 128, np.uint8),
        "black": np.zeros((SIDE, SIDE, 3), np.uint8),
        "white": np.full((SIDE, SIDE, 3), 255, np.uint8),
        "noise": rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8),
        "checkerboard": np.repeat(board[:, :, None], 3, axis=2),
        "empty star field": stars,
    }
