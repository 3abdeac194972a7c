"""Images that are not galaxy cutouts, which the out-of-distribution flag must catch (ood_calibration.py checks every
fitted threshold against them; bench_ood.py and the tests too): two photographs, a page of text, uniform grey,
black and white frames, noise, a checkerboard, an empty star field, and a real cutout with its lower half lost."""
from __future__ import annotations

import numpy as np

SIDE = 256


def text_image() -> np.ndarray:
    """Black text on white, as a screenshot of a paper's table would be."""
    from PIL import Image, ImageDraw

    page = Image.new("RGB", (SIDE, SIDE), "white")
    draw = ImageDraw.Draw(page)
    for row in range(14):
        draw.text((8, 6 + row * 18), f"NGC {4321 + row}  12h{row:02d}m  +15 49  Sc  {11.2 + row / 10:.1f} mag", fill="black")
    return np.asarray(page)


def corrupted_cutout() -> np.ndarray:
    """The first real check-set galaxy with its lower half lost to grey, as a truncated download decodes."""
    from galaxy_core.data.images import load_image
    from galaxy_core.data.labelled_images import real_sample

    pixels = load_image(real_sample().files[0]).pixels.copy()
    pixels[SIDE // 2 :] = 128
    return pixels


def non_galaxy_images(seed: int = 0) -> dict[str, np.ndarray]:
    """name -> (256, 256, 3) uint8."""
    import matplotlib.cbook  # matplotlib comes with grad-cam; its sample photographs are real images

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
        "photograph of a toy": load_image(matplotlib.cbook.get_sample_data("Minduka_Present_Blue_Pack.png", asfileobj=False)).pixels,
        "text": text_image(),
        "corrupted cutout": corrupted_cutout(),
        "uniform grey": np.full((SIDE, SIDE, 3), 128, np.uint8),
        "black": np.zeros((SIDE, SIDE, 3), np.uint8),
        "white": np.full((SIDE, SIDE, 3), 255, np.uint8),
        "noise": rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8),
        "checkerboard": np.repeat(board[:, :, None], 3, axis=2),
        "empty star field": stars,
    }
