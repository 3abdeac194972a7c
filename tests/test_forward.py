"""The one inference forward pass (inference/forward.py): every way the package runs a model goes through it, and OOD
scores fitted through it agree with the ones predictions score through it."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.transforms import Preprocessing
from galaxy_core.inference.forward import forward, in_inference, inference


@pytest.fixture
def watched(tiny_checkpoints):
    """The tiny cnn checkpoint with a hook that records, for every call of the model, whether it ran inside `inference`."""
    from galaxy_core.models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(tiny_checkpoints / "cnn", "cpu")
    calls: list[bool] = []
    model.register_forward_pre_hook(lambda module, args: calls.append(in_inference()))
    features_calls: list[bool] = []
    original = model.features

    def features(x):
        features_calls.append(in_inference())
        return original(x)

    model.features = features
    return model, meta, calls, features_calls, tiny_checkpoints / "cnn"


def test_every_inference_pass_runs_inside_the_one_context(watched, tiny_h5):
    from galaxy_core.evaluation.embeddings import latent_features
    from galaxy_core.evaluation.explain import explain
    from galaxy_core.evaluation.explanation_scores import faithfulness
    from galaxy_core.evaluation.similarity import image_embedding
    from galaxy_core.inference.logits import dataset_logits
    from galaxy_core.inference.predictor import Predictor

    model, meta, calls, features_calls, folder = watched
    data = Galaxy10(tiny_h5)
    preprocessing = Preprocessing.from_dict(meta["preprocessing"])
    images = np.stack([data.image(i) for i in range(3)])
    predictor = Predictor([folder], load=lambda _: (model, meta))
    predictor.predict(images)
    predictor.member_probabilities(images, tta=True)
    dataset_logits(model, data, np.arange(4), preprocessing, torch.device("cpu"))
    latent_features(model, data, np.arange(4), preprocessing, torch.device("cpu"))
    image_embedding(model, images[0], meta, torch.device("cpu"))
    maps = explain(model, images[:2], preprocessing)
    faithfulness(model, images[:2], preprocessing, maps)
    assert calls and all(calls), f"{calls.count(False)} of {len(calls)} model calls ran outside the inference context"
    assert features_calls and all(features_calls)
    assert not in_inference()


def test_inference_restores_training_mode_and_gradients(watched):
    model = watched[0]
    model.train()
    with inference(model, "cpu"):
        assert not model.training and not torch.is_grad_enabled()
    assert model.training and torch.is_grad_enabled()
    with inference(model, "cpu", grad=True):
        assert torch.is_grad_enabled()
    model.eval()


def test_features_and_logits_come_from_one_pass(watched, tiny_h5):
    """`forward` with features gives exactly the logits of the plain pass: the head over the features."""
    model, meta = watched[:2]
    preprocessing = Preprocessing.from_dict(meta["preprocessing"])
    images = np.stack([Galaxy10(tiny_h5).image(i) for i in range(4)])
    both = forward(model, images, preprocessing, "cpu", features=True)
    plain = forward(model, images, preprocessing, "cpu")
    assert both.features.shape[0] == 4 and both.logits.shape == (4, 10)
    assert torch.allclose(both.logits, plain.logits, atol=1e-5)
    averaged = forward(model, images, preprocessing, "cpu", features=True, tta=True)
    assert torch.equal(averaged.features, both.features), "the features are the image's own under TTA too"


def test_ood_scores_fitted_and_scored_on_one_device_agree(tiny_checkpoints, tiny_h5):
    """The calibration's features (feature_batches, from the prepared-image cache) and a prediction's (the Predictor, from
    the cutout) are the same pass: the validation images score the same either way."""
    from galaxy_core.data.splits import stratified_split
    from galaxy_core.evaluation.embeddings import feature_batches
    from galaxy_core.inference.ood import image_statistics
    from galaxy_core.inference.predictor import Predictor

    predictor = Predictor([tiny_checkpoints / "cnn"])
    member = predictor.members[0]
    data = Galaxy10(tiny_h5)
    split = stratified_split(data.labels, member.meta["recipe"]["split"], member.meta["recipe"]["seed"])
    fitted = []
    for resized, features in feature_batches(member.model, data, split.val, member.preprocessing, torch.device("cpu")):
        fitted.append(member.ood.scores(features, image_statistics(resized)))
    fitted = np.concatenate(fitted)
    scored = np.array([p["ood_score"] for p in predictor.predict(np.stack([data.image(i) for i in split.val]))])
    np.testing.assert_allclose(scored, fitted, rtol=0.05, atol=0.02)


def test_one_model_runs_one_pass_at_a_time_and_different_models_run_together():
    """The lock is taken inside the one forward context, per model: two threads through one model never overlap (a
    Grad-CAM hook would mix their activations); through two models they do, and every answer is the single-thread one."""
    import threading
    import time

    import numpy as np
    import torch

    from galaxy_core.data.transforms import Preprocessing
    from galaxy_core.inference.logits import batch_logits
    from galaxy_core.models import create_model, get_spec

    models = [create_model("cnn", get_spec("cnn").recipe.override(image_size=32)).eval() for _ in range(2)]
    spans: list[tuple[int, float, float]] = []

    def slow(model_index):
        def hook(module, inputs, output):
            started = time.perf_counter()
            time.sleep(0.15)
            spans.append((model_index, started, time.perf_counter()))
        return hook

    for i, model in enumerate(models):
        model.head.register_forward_hook(slow(i))
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    expected = [batch_logits(m, images, Preprocessing(32), torch.device("cpu")) for m in models]
    spans.clear()

    def run(choice):
        answers, threads = {}, [threading.Thread(target=lambda k=k, m=m: answers.__setitem__(k, batch_logits(
            models[m], images, Preprocessing(32), torch.device("cpu")))) for k, m in enumerate(choice)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(torch.allclose(answers[k], expected[m]) for k, m in enumerate(choice))
        (_, a_start, a_end), (_, b_start, b_end) = spans[-2:]
        return a_start < b_end and b_start < a_end  # the two passes' hooks overlapped in time

    assert not run([0, 0]), "one model: the second pass waits for the first"
    assert run([0, 1]), "two models: neither waits for the other"
