import json

import numpy as np
import pytest
import torch

from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.transforms import Preprocessing
from galaxy_core.errors import UserError
from galaxy_core.evaluation.embeddings import latent_features
from galaxy_core.inference.ensemble import combine
from galaxy_core.evaluation.metrics import compute_metrics, kl_divergence
from galaxy_core.evaluation.metrics import fit_temperature
from galaxy_core.inference.forward import dihedral_views
from galaxy_core.inference.logits import softmax
from galaxy_core.classes import CLASS_NAMES
from galaxy_core.models import create_model, get_spec
from galaxy_core.models.registry import preprocessing_for
from galaxy_core.models.checkpoint import load_checkpoint, save_checkpoint


def onehot(labels, confidence=1.0):
    p = np.full((len(labels), 10), (1 - confidence) / 9)
    p[np.arange(len(labels)), labels] = confidence
    return p


def test_metrics_on_known_predictions():
    labels = np.array([0, 1, 2, 3, 3])
    perfect = compute_metrics(labels, onehot(labels, 0.99))
    assert perfect["accuracy"] == 1 and perfect["macro_f1"] == pytest.approx(4 / 10)  # absent classes score 0
    assert perfect["balanced_accuracy"] == 1 and perfect["confusion_matrix"][3][3] == 2
    assert perfect["ece"] == pytest.approx(0.01, abs=1e-9)
    wrong = compute_metrics(labels, onehot(np.array([1, 1, 2, 3, 0]), 0.9))
    assert wrong["accuracy"] == pytest.approx(0.6) and wrong["per_class"][0]["recall"] == 0.0
    assert wrong["cross_entropy"] > perfect["cross_entropy"]
    # KL against smoothed targets, by hand for one image
    p = onehot(np.array([0]), 0.7)
    target = np.full(10, 0.01)
    target[0] = 0.91
    assert kl_divergence(np.array([0]), p, 0.1) == pytest.approx(float(np.sum(target * np.log(target / p[0]))))


def test_confusion_cell_members_and_confident_mistakes():
    from galaxy_core.evaluation.metrics import cell_members, confident_mistakes

    labels = np.array([0, 0, 0, 1, 1])
    probabilities = np.vstack([onehot(np.array([1]), 0.6), onehot(np.array([1]), 0.9), onehot(np.array([0]), 0.8),
                               onehot(np.array([1]), 0.7), onehot(np.array([0]), 0.95)])
    assert cell_members(labels, probabilities, 0, 1).tolist() == [1, 0]  # true 0, predicted 1, surest first
    assert cell_members(labels, probabilities, 1, 1).tolist() == [3]
    assert confident_mistakes(labels, probabilities, 2).tolist() == [4, 1]


def test_agreement_rule_is_the_second_studys():
    a = onehot(np.array([2, 2, 5]), 0.8)
    b = onehot(np.array([2, 7, 5]), 0.6)
    out = combine("agreement", [a, b], ["b0", "b2"], preferred=1)
    assert out.labels.tolist() == [2, 7, 5]
    assert out.source == ["both", "b2", "both"]
    assert out.confidence.tolist() == pytest.approx([0.7, 0.6, 0.7])


def test_soft_and_f1_weighted_rules():
    a, b = onehot(np.array([1]), 0.9), onehot(np.array([4]), 0.6)
    soft = combine("soft", [a, b], ["a", "b"])
    assert soft.probabilities[0] == pytest.approx((a[0] + b[0]) / 2)
    f1_a, f1_b = np.full(10, 0.1), np.full(10, 0.9)  # b is far better on every class
    weighted = combine("f1_weighted", [a, b], ["a", "b"], val_f1=[f1_a, f1_b])
    assert weighted.labels[0] == 4 and weighted.probabilities.sum() == pytest.approx(1)
    with pytest.raises(UserError):
        combine("f1_weighted", [a, b], ["a", "b"])
    with pytest.raises(UserError):
        combine("median", [a, b], ["a", "b"])
    with pytest.raises(UserError):
        combine("soft", [a], ["a"])


def test_members_are_aligned_on_the_images_they_all_held_out():
    from galaxy_core.inference.ensemble import align_on_common, preferences

    a_idx, b_idx = np.array([1, 3, 5, 7]), np.array([3, 4, 7])
    a_p, b_p = onehot(np.array([0, 1, 2, 3])), onehot(np.array([4, 5, 6]))
    common, (a, b) = align_on_common([a_idx, b_idx], [a_p, b_p])
    assert common.tolist() == [3, 7] and a.argmax(1).tolist() == [1, 3] and b.argmax(1).tolist() == [4, 6]
    with pytest.raises(UserError, match="share no held-out images"):
        align_on_common([np.array([1]), np.array([2])], [onehot(np.array([0])), onehot(np.array([0]))])
    val = {"accuracy": 0.9, "per_class": [{"f1": 0.5}] * 10}
    preferred, f1 = preferences([{"accuracy": 0.8, "per_class": [{"f1": 0.1}] * 10}, val, None])
    assert preferred == 1 and f1[1].tolist() == [0.5] * 10 and f1[2] is None


def test_temperature_scaling_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 3, (4000, 10))
    labels = np.array([rng.choice(10, p=softmax(true_logits[i : i + 1])[0]) for i in range(4000)])
    assert fit_temperature(true_logits * 2.0, labels) == pytest.approx(2.0, rel=0.1)


def test_tta_views_are_the_eight_symmetries():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    views = dihedral_views(x)
    assert len(views) == 8 and len({tuple(v.flatten().tolist()) for v in views}) == 8


def test_latent_pca(tiny_h5):
    data = Galaxy10(tiny_h5)
    recipe = get_spec("cnn").recipe.override(image_size=32)
    model = create_model("cnn", recipe).eval()
    preprocessing = Preprocessing(32)
    features = latent_features(model, data, np.arange(12), preprocessing, torch.device("cpu"))
    assert features.shape == (12, 512)
    from galaxy_core.evaluation.latent_gap import Projection

    pca = Projection("pca", 3).fit(features)
    assert pca.place(features).shape == (12, 3) and 0 < sum(pca.explained) <= 1.0001
    few = Projection("pca", 3).fit(features[:2])  # two images: one component, the rest zero
    assert np.all(few.place(features[:2])[:, 1:] == 0) and len(few.explained) == 1
    with pytest.raises(UserError, match="Too few synthetic points"):
        Projection("pca", 3).fit(features[:1])


def test_autoencoder_reconstructions_are_viewable_images(tiny_h5):
    from galaxy_core.inference.logits import reconstructions

    model = create_model("autoencoder", get_spec("autoencoder").recipe.override(image_size=32))
    images = Galaxy10(tiny_h5).images([0, 1])
    out = reconstructions(model, images, Preprocessing(32))
    assert out.shape == (2, 32, 32, 3) and out.dtype == np.uint8
    with pytest.raises(UserError, match="Only the autoencoder"):
        reconstructions(create_model("cnn", get_spec("cnn").recipe.override(image_size=32)), images, Preprocessing(32))


def test_damaged_checkpoints_give_one_clear_sentence(tmp_path):
    model = create_model("cnn", get_spec("cnn").recipe.override(image_size=32))
    recipe = get_spec("cnn").recipe.override(image_size=32)
    meta = {"model": "cnn", "recipe": recipe.to_dict(), "classes": list(CLASS_NAMES), "preprocessing": preprocessing_for(recipe).to_dict()}
    save_checkpoint(tmp_path / "ok", model, meta)
    loaded, _ = load_checkpoint(tmp_path / "ok")
    assert torch.allclose(loaded.head.weight, model.head.weight.half().float())
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "none")
    (tmp_path / "ok" / "meta.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_checkpoint(tmp_path / "ok")
    save_checkpoint(tmp_path / "swap", model, meta)
    other = create_model("autoencoder", get_spec("autoencoder").recipe.override(image_size=32))
    save_checkpoint(tmp_path / "other", other, {**meta, "model": "autoencoder", "recipe": {**meta["recipe"], "model": "autoencoder"}})
    (tmp_path / "swap" / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    with pytest.raises(UserError, match="SHA256 differs"):
        load_checkpoint(tmp_path / "swap")
    fixed = json.loads((tmp_path / "swap" / "meta.json").read_text())
    fixed["weights_sha256"] = None
    (tmp_path / "swap" / "meta.json").write_text(json.dumps(fixed))
    with pytest.raises(UserError, match="does not fit model 'cnn'"):
        load_checkpoint(tmp_path / "swap")


def test_predictor_shares_models_it_is_given_and_matches_its_own_loading(tiny_checkpoints, tiny_h5):
    from galaxy_core.inference.predictor import Predictor
    from galaxy_core.models.checkpoint import load_checkpoint

    folders = [str(tiny_checkpoints / "cnn"), str(tiny_checkpoints / "efficientnet_b0")]
    held = {folder: load_checkpoint(folder) for folder in folders}
    shared = Predictor(folders, "soft", load=held.__getitem__)
    single = Predictor(folders[:1], None, load=held.__getitem__)
    assert shared.members[0].model is held[folders[0]][0] and single.members[0].model is held[folders[0]][0]
    images = Galaxy10(tiny_h5).images([0, 5, 9])
    own = Predictor(folders, "soft").predict(images)  # loads its own copies from disk
    for a, b in zip(shared.predict(images), own):
        assert a["label"] == b["label"] and abs(a["confidence"] - b["confidence"]) < 1e-6


def test_loaded_weights_are_the_stored_half_precision_values_in_float32(tiny_checkpoints):
    from safetensors.torch import load_file

    from galaxy_core.models.checkpoint import WEIGHTS_FILE, load_checkpoint

    model, _ = load_checkpoint(tiny_checkpoints / "cnn")
    stored = load_file(str(tiny_checkpoints / "cnn" / WEIGHTS_FILE))
    own = model.state_dict()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    for key, value in stored.items():
        torch.testing.assert_close(own[key], value.to(own[key].dtype), rtol=0, atol=0)


def test_predictor_tta_averages_the_eight_views_and_keeps_the_ood_score(tiny_checkpoints, tiny_h5):
    from galaxy_core.inference.logits import batch_logits
    from galaxy_core.inference.predictor import Predictor

    folders = [str(tiny_checkpoints / "cnn"), str(tiny_checkpoints / "efficientnet_b0")]
    images = Galaxy10(tiny_h5).images([0, 5, 9])
    plain, averaged = Predictor(folders, "soft").predict(images), Predictor(folders, "soft", tta=True).predict(images)
    single_predictor = Predictor(folders[:1], None, tta=True)
    member = single_predictor.members[0]
    expected = softmax(batch_logits(member.model, images, member.preprocessing, torch.device("cpu"), tta=True).numpy())
    single = single_predictor.predict(images)
    # the members' probabilities follow the Predictor's own setting, as predict does
    assert np.allclose(single_predictor.member_probabilities(images)[0], expected, atol=1e-5)
    for row, probabilities in zip(single, expected):
        assert row["tta"] is True
        assert np.allclose(list(row["probabilities"].values()), probabilities, atol=1e-5)
    # the out-of-distribution score is calibrated on the image as given, so averaging views must not move it
    for a, b in zip(plain, averaged):
        assert a["tta"] is False and b["tta"] is True
        assert a["ood_score"] is not None and b["ood_score"] is not None  # training calibrates every checkpoint
        assert abs(a["ood_score"] - b["ood_score"]) < 1e-4
    # with the 8 views averaged, turning the galaxy by 90 degrees or mirroring it changes nothing
    turned = np.ascontiguousarray(np.rot90(images, 1, axes=(1, 2)))
    mirrored = np.ascontiguousarray(images[:, :, ::-1])
    for variant in (turned, mirrored):
        for a, b in zip(averaged, Predictor(folders, "soft", tta=True).predict(variant)):
            assert np.allclose(list(a["probabilities"].values()), list(b["probabilities"].values()), atol=1e-4)
