import numpy as np
import pytest
import torch

from galaxy_core.data.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocessing, one_hot, preprocess, random_flip_rotate
from galaxy_core.errors import UserError


def test_scales_to_unit_range_and_resizes():
    images = np.full((2, 256, 256, 3), 255, np.uint8)
    images[1] = 0
    out = preprocess(images, Preprocessing(64))
    assert out.shape == (2, 3, 64, 64) and out.dtype == torch.float32
    assert torch.allclose(out[0], torch.ones_like(out[0])) and torch.allclose(out[1], torch.zeros_like(out[1]))


def test_resize_then_centre_crop_and_normalise():
    image = np.zeros((256, 256, 3), np.uint8)
    image[:, :128] = 255  # left half white
    preprocessing = Preprocessing(224, resize=260, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    out = preprocess(image, preprocessing)
    assert out.shape == (1, 3, 224, 224)
    white = (1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]
    black = -IMAGENET_MEAN[0] / IMAGENET_STD[0]
    assert out[0, 0, 100, 5].item() == pytest.approx(white, abs=1e-4)
    assert out[0, 0, 100, 220].item() == pytest.approx(black, abs=1e-4)


def test_one_path_for_numpy_and_torch_single_and_batch():
    image = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    preprocessing = Preprocessing(32)
    a = preprocess(image, preprocessing)
    b = preprocess(torch.from_numpy(image)[None], preprocessing)
    assert torch.equal(a, b)


def test_augmentation_keeps_shape_and_is_seeded_and_flux_preserving():
    x = torch.zeros(4, 3, 64, 64)
    x[:, :, 28:36, 28:36] = 1.0  # a centred blob keeps its light under any rotation
    a = random_flip_rotate(x, torch.Generator().manual_seed(0))
    b = random_flip_rotate(x, torch.Generator().manual_seed(0))
    c = random_flip_rotate(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.allclose(a.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)), rtol=0.05)


def test_augmented_images_differ_from_each_other():
    image = np.zeros((256, 256, 3), np.uint8)
    image[100:110, 60:200] = 255  # an elongated bar: rotations show
    out = preprocess(np.stack([image] * 4), Preprocessing(64), augment=True, generator=torch.Generator().manual_seed(3))
    assert len({tuple(o.flatten()[::97].tolist()) for o in out}) == 4


def test_label_smoothing():
    target = one_hot([2, 0], smoothing=0.1)
    assert target.shape == (2, 10)
    assert torch.allclose(target.sum(dim=1), torch.ones(2))
    assert target[0, 2].item() == pytest.approx(0.91) and target[0, 0].item() == pytest.approx(0.01)
    assert torch.equal(one_hot([3]), torch.nn.functional.one_hot(torch.tensor([3]), 10).float())
    with pytest.raises(UserError):
        one_hot([1], smoothing=1.0)


def test_bad_inputs_are_user_errors():
    with pytest.raises(UserError):
        preprocess(np.zeros((8, 8), np.uint8), Preprocessing(8))
    with pytest.raises(UserError):
        Preprocessing(4)


def test_look_augmentation_is_seeded_bounded_and_leaves_plain_runs_unchanged():
    from galaxy_core.data.transforms import random_look

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 40, 40, 3), dtype=np.uint8)
    spec = Preprocessing(32)
    plain = preprocess(images, spec, augment=True, generator=torch.Generator().manual_seed(4))
    again = preprocess(images, spec, augment=True, generator=torch.Generator().manual_seed(4))
    assert torch.equal(plain, again), "without look, the same draws as before"
    looked = preprocess(images, spec, augment=True, generator=torch.Generator().manual_seed(4), look=True)
    assert torch.equal(looked, preprocess(images, spec, augment=True, generator=torch.Generator().manual_seed(4), look=True))
    assert not torch.equal(looked, plain) and looked.shape == plain.shape
    assert torch.equal(preprocess(images, spec, look=True), preprocess(images, spec)), "look only acts with augment"
    x = torch.full((4, 3, 16, 16), 100.0)
    out = random_look(x, torch.Generator().manual_seed(0))
    assert out.min() >= 0 and out.max() <= 255
    gains = out.mean(dim=(2, 3)) / 100.0
    assert gains.min() > np.exp(-0.36) and gains.max() < np.exp(0.36), "brightness and colour gains stay within their bounds"
