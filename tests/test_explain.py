"""Explanations: maps with spatial detail, the methods by name, the ensemble's map, the `explain` command, the
generator's ground-truth masks and the scores measured against them."""
from __future__ import annotations

import json
import threading

import h5py
import numpy as np
import pytest
from PIL import Image

from conftest import REPO, run_cli
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.synthetic.observe import MASK_FIELD, MASK_TARGET, render_bands, render_image
from galaxy_core.data.transforms import Preprocessing
from galaxy_core.errors import DataFileError, UserError
from galaxy_core.evaluation import explain as ex
from galaxy_core.evaluation.explanation_scores import faithfulness, location_scores
from galaxy_core.evaluation.segmentation import central_source
from galaxy_core.models import MODEL_NAMES, create_model, get_spec
from galaxy_core.models.checkpoint import find_checkpoints, load_checkpoint

REAL = REPO / "galaxy_core/data/real_sample"


@pytest.fixture(scope="module")
def masked_h5(tmp_path_factory):
    """Six synthetic galaxies with their ground-truth masks."""
    from galaxy_core.data.synthetic import generate

    return generate(tmp_path_factory.mktemp("masked") / "masked.h5", 6, seed=3, workers=1, masks=True)


# ----- ground truth from the generator -----------------------------------------------------------
def test_synth_masks_are_written_beside_unchanged_images(masked_h5, tmp_path):
    from galaxy_core.data.synthetic import generate

    masked, plain = Galaxy10(masked_h5), Galaxy10(generate(tmp_path / "plain.h5", 6, seed=3, workers=1))
    np.testing.assert_array_equal(masked.images(range(6)), plain.images(range(6)))  # --masks draws nothing more
    assert masked.fingerprint() == plain.fingerprint()  # the same galaxies: checkpoints trained on one know the other
    with h5py.File(masked_h5) as f:
        dataset = f["masks"]
        assert dataset.shape == (6, 256, 256) and dataset.dtype == np.uint8 and dataset.compression == "gzip"
        assert "sigma" in dataset.attrs["threshold"] and "target galaxy" in dataset.attrs["values"]
    masks = masked.masks(range(6))
    assert set(np.unique(masks)) <= {0, 1, 2}
    images = masked.images(range(6)).astype(float).mean(axis=3)
    for image, mask in zip(images, masks):
        assert mask[128, 128] == MASK_TARGET  # every Galaxy10 galaxy sits at the centre
        assert image[mask == MASK_TARGET].mean() > image[mask == 0].mean() + 10  # the galaxy is brighter than the sky
    assert Galaxy10(masked_h5).info()["masks"] is True and plain.info()["masks"] is False
    with pytest.raises(DataFileError, match="has no masks"):
        plain.masks([0])


def test_the_field_is_marked_where_a_star_outshines_the_galaxy():
    rendered = render_bands(2, seed=0, index=3, masks=True)  # a small round galaxy in a field of stars
    assert (rendered.mask == MASK_FIELD).sum() > 50 and (rendered.mask == MASK_TARGET).sum() > 50
    assert render_bands(2, seed=0, index=3).mask is None
    np.testing.assert_array_equal(render_image(2, seed=0, index=3), render_image(2, seed=0, index=3))


def test_synth_cli_writes_masks_and_refuses_them_for_the_default(tmp_path):
    done = run_cli("synth", "--out", tmp_path / "m.h5", "--n", "2", "--workers", "1", "--masks")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["masks"] is True
    refused = run_cli("synth", "--default", "--masks")
    assert refused.returncode == 2 and "--out FILE --masks" in refused.stderr


def test_the_central_source_is_segmented_on_real_and_synthetic_cutouts(masked_h5):
    region, found = central_source(np.asarray(Image.open(REAL / "g10_c5_r0.jpg").convert("RGB")))
    assert found and region[128, 128] and 500 < region.sum() < 30_000
    synthetic = Galaxy10(masked_h5)
    region, found = central_source(synthetic.image(0))
    truth = synthetic.masks([0])[0] == MASK_TARGET
    assert found and (region & truth).sum() > 0.5 * region.sum()  # sep's segment lies mostly on the true galaxy
    blank, found = central_source(np.zeros((256, 256, 3), np.uint8))
    assert not found and blank[128, 128] and blank.sum() == pytest.approx(np.pi * 56**2, rel=0.05)


# ----- maps ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_family_gives_at_least_8x8_cells_with_every_method(name, tiny_h5):
    recipe = get_spec(name).recipe.override(image_size=32, weights=None, resize=None)  # stride 4 or 8 layers: 8x8 or 4x4
    model = create_model(name, recipe).eval()
    images = Galaxy10(tiny_h5).images([5, 6])
    cells = 8 if name != "efficientnet_lite0" else 4  # Lite0's layer is at stride 8: 12x12 at its 96 px
    for method in ex.METHODS:
        found = ex.explain(model, images, Preprocessing.from_dict(_preprocessing(recipe)), method)
        assert len(found) == 2 and found[0].map_size == (cells, cells), (method, found[0].map_size)
        assert all(np.isfinite(e.cells).all() and e.cells.min() >= 0 for e in found)
        assert (found[0].target is None) == (method in ex.CLASS_AGNOSTIC)
    layer = model.get_submodule(model.gradcam_layer)
    assert not layer._forward_hooks and not layer._backward_hooks, "the hooks are removed"


def _preprocessing(recipe):
    from galaxy_core.models.registry import preprocessing_for

    return preprocessing_for(recipe).to_dict()


def test_every_shipped_checkpoint_maps_at_least_8x8_cells():
    shipped = find_checkpoints(REPO / "checkpoints")
    assert len(shipped) >= 6
    image = np.asarray(Image.open(REAL / "g10_c5_r0.jpg").convert("RGB"))
    for folder in shipped:
        model, meta = load_checkpoint(folder)
        found = ex.explain(model, image, Preprocessing.from_dict(meta["preprocessing"]))[0]
        assert min(found.map_size) >= 8 and not found.empty, (folder.name, found.map_size)
        assert found.method == model.gradcam_method and found.layer == model.gradcam_layer


def test_empty_and_flat_maps_are_told_apart():
    empty = ex.Explanation(np.zeros((8, 8), np.float32), "gradcam", "x", 3, 3)
    flat = ex.Explanation(np.full((8, 8), 2.0, np.float32), "gradcam", "x", 3, 3)
    pointed = ex.Explanation(np.pad(np.ones((1, 1), np.float32), ((3, 4), (5, 2))), "gradcam", "x", 3, 3)
    assert empty.empty and not empty.flat and "no positive evidence for In-between Round Smooth" in ex.describe(empty)
    assert flat.flat and not flat.empty and "flat" in ex.describe(flat)
    assert not pointed.empty and not pointed.flat and ex.describe(pointed) == ""
    full = ex.on_cutout(pointed, (256, 256), Preprocessing(64, resize=128))  # the model saw the central 128 px
    assert full[:64].max() == 0 and full[:, :64].max() == 0
    x, y = ex.peak(full)
    assert 64 + 5 * 16 <= x < 64 + 6 * 16 and 64 + 3 * 16 <= y < 64 + 4 * 16  # cell (row 3, col 5) of 8x8 over 128 px
    assert ex.peak(np.zeros((4, 4))) is None and ex.energy_share(np.zeros((4, 4)), np.ones((4, 4), bool)) is None


def test_ensemble_weights_follow_the_rule():
    assert list(ex.ensemble_weights("agreement", [3, 5, 3], answer=3)) == [0.5, 0.0, 0.5]
    assert list(ex.ensemble_weights("soft", [3, 5, 3], answer=3)) == pytest.approx([1 / 3] * 3)
    f1 = [np.eye(10)[3] * 0.9, np.eye(10)[3] * 0.3, np.zeros(10)]
    weights = ex.ensemble_weights("f1_weighted", [3, 5, 3], answer=3, val_f1=f1)
    assert weights[0] == pytest.approx(0.75, abs=1e-4) and weights[2] < 1e-4
    left, right = np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32)
    left[0, 0], right[3, 3] = 5.0, 0.5  # each is scaled to its own peak first: units do not outweigh the rule
    combined = ex.combine_maps([left, right], np.array([0.25, 0.75]))
    assert combined[3, 3] == 1.0 and combined[0, 0] == pytest.approx(1 / 3)


def test_scores_against_ground_truth():
    target = np.zeros((16, 16), bool)
    target[6:10, 6:10] = True
    others = np.zeros((16, 16), bool)
    others[0:2, 0:2] = True
    on_galaxy, on_star = target.astype(np.float32), others.astype(np.float32)
    scores = location_scores([on_galaxy, on_star, np.zeros((16, 16))], [target] * 3, [others] * 3)
    assert scores["pointing_game"] == pytest.approx(1 / 3)
    assert scores["energy_on_target"] == pytest.approx(0.5) and scores["energy_on_others"] == pytest.approx(0.5)


def test_faithfulness_is_positive_where_the_map_finds_what_the_model_uses(masked_h5):
    model, meta = load_checkpoint(REPO / "checkpoints/cnn")  # a trained model: an untrained one uses nothing in particular
    preprocessing = Preprocessing.from_dict(meta["preprocessing"])
    images = Galaxy10(masked_h5).images(range(6))
    found = ex.explain(model, images, preprocessing)
    inverted = [ex.Explanation(1 - e.normalised(), e.method, e.layer, e.predicted, e.target) for e in found]
    assert faithfulness(model, images, preprocessing, found).mean() > 0.1  # ten points of probability more than random pixels
    assert faithfulness(model, images, preprocessing, inverted).mean() < 0


def test_maps_are_safe_from_two_threads(tiny_h5):
    data = Galaxy10(tiny_h5)
    model = create_model("cnn", get_spec("cnn").recipe.override(image_size=32)).eval()
    results, errors = [], []

    def ask(target):
        try:
            results.append(ex.explain(model, data.image(target), Preprocessing(32), "gradcam", target)[0])
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(k,)) for k in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(results) == 4 and not model.training
    assert sorted(e.target for e in results) == [0, 1, 2, 3]


def test_unknown_methods_and_missing_layers_are_one_sentence(tiny_checkpoints):
    model, _ = load_checkpoint(tiny_checkpoints / "cnn")
    with pytest.raises(UserError, match="Unknown explanation method 'smoothgrad': choose one of gradcam"):
        ex.explain(model, np.zeros((64, 64, 3), np.uint8), Preprocessing(32), "smoothgrad")
    with pytest.raises(UserError, match="The layer 'blocks.9' .* is not one of its modules"):
        ex.explain(model, np.zeros((64, 64, 3), np.uint8), Preprocessing(32), layer="blocks.9")


# ----- the command -----------------------------------------------------------------------------------
KEYS = {"file", "method", "map_size", "image_size", "peak", "empty", "predicted", "target", "central_energy"}


def test_explain_json_for_every_method(tiny_checkpoints, tmp_path):
    image = tmp_path / "wide.png"
    Image.open(REAL / "g10_c8_r0.jpg").resize((300, 200)).save(image)  # not square: peak and size in its own pixels
    for method in ex.METHODS:
        done = run_cli("explain", "--checkpoint", tiny_checkpoints / "cnn", "--method", method, image, REAL / "g10_c5_r0.jpg",
                       "--json", "--out", tmp_path / "maps")
        assert done.returncode == 0, done.stderr
        maps = json.loads(done.stdout)["maps"]
        assert len(maps) == 2 and all(KEYS <= set(m) for m in maps)
        first = maps[0]
        assert first["method"] == method and first["image_size"] == [300, 200] and first["map_size"] == [8, 8]
        assert first["empty"] or (0 <= first["peak"][0] < 300 and 0 <= first["peak"][1] < 200)
        assert (first["target"] is None) == (method in ex.CLASS_AGNOSTIC) and first["class_agnostic"] == (method in ex.CLASS_AGNOSTIC)
        assert first["target"] in (None, first["predicted"]) and 0 <= (first["central_energy"] or 0) <= 1
        assert Image.open(first["overlay"]).size == (256, 256)  # drawn on the cutout the model saw
    assert "class-agnostic" in maps[0]["note"]


def test_explain_a_chosen_class_and_an_ensemble(tiny_checkpoints):
    galaxy = REAL / "g10_c5_r0.jpg"
    done = run_cli("explain", "--checkpoint", tiny_checkpoints / "cnn", "--target", "edge-on with bulge", galaxy)
    assert json.loads(done.stdout)["maps"][0]["target"] == "Edge-on with Bulge"
    done = run_cli("explain", "--ensemble", "agreement", "--checkpoints", tiny_checkpoints / "cnn", tiny_checkpoints / "efficientnet_b0",
                   galaxy, "--json")
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stdout)["maps"][0]
    members = entry["members"]
    assert set(members) == {"cnn", "efficientnet_b0"} and sum(m["weight"] for m in members.values()) == pytest.approx(1)
    predicted = run_cli("predict", "--ensemble", "agreement", "--checkpoints", tiny_checkpoints / "cnn",
                        tiny_checkpoints / "efficientnet_b0", galaxy, "--json")
    row = json.loads(predicted.stdout)["predictions"][0]
    assert entry["predicted"] == row["class"]  # the map explains the answer predict gives
    for name, vote in row["members"].items():  # the agreement rule: the members whose label is the answer, equally
        assert (members[name]["weight"] > 0) == (vote["label"] == row["label"])


def test_explain_mistakes_are_one_sentence(tiny_checkpoints, tmp_path, monkeypatch):
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not a picture")
    galaxy = REAL / "g10_c5_r0.jpg"
    for args, says in (
        (("--checkpoint", tiny_checkpoints / "cnn", "--method", "smoothgrad", galaxy), "Unknown explanation method"),
        (("--checkpoint", tiny_checkpoints / "cnn", garbage), "garbage.jpg"),
        (("--checkpoint", tiny_checkpoints / "cnn", "--target", "quasar", galaxy), "not a Galaxy10 class"),
        (("--checkpoint", tiny_checkpoints / "cnn", "--layer", "blocks.9", galaxy), "blocks.9"),
        (("--checkpoints", tiny_checkpoints / "cnn", tiny_checkpoints / "efficientnet_b0", galaxy), "no ensemble rule"),
        (("--checkpoint", tiny_checkpoints / "cnn"), "at least one image"),
    ):
        done = run_cli("explain", *args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and says in done.stderr, (args, done.stderr)
    from galaxy_core.models.cnn import BaselineCNN

    monkeypatch.setattr(BaselineCNN, "gradcam_layer", "blocks.7")  # a checkpoint whose family's layer is gone
    done = run_cli("explain", "--checkpoint", tiny_checkpoints / "cnn", galaxy)
    assert done.returncode == 2 and "The layer 'blocks.7'" in done.stderr and done.stderr.count("\n") == 1
