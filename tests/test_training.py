"""Training on tiny data on the CPU: every model, resume, early stopping, checkpoints, DDP."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from galaxy_core.settings import results_root
import torch

from conftest import REPO, run_cli
from galaxy_core.errors import UserError
from galaxy_core.models import MODEL_NAMES, get_spec
from galaxy_core.training import trainer
from galaxy_core.models.checkpoint import load_checkpoint, read_meta
from galaxy_core.models.recipe import Recipe


def tiny(name, **changes) -> Recipe:
    return get_spec(name).recipe.override(**{"image_size": 32, "epochs": 2, "batch_size": 8, "weights": None, "resize": None,
                                             "split": "80/10/10", **changes})


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_trains_and_leaves_a_loadable_checkpoint(name, tiny_h5, tmp_path):
    meta = trainer.train(tiny(name, epochs=1), tiny_h5, tmp_path / name, device="cpu", workers=0, max_batches=2)
    assert meta["model"] == name and len(meta["history"]) == 1
    assert {"val", "test"} <= set(meta["metrics"]) and 0 <= meta["metrics"]["test"]["accuracy"] <= 1
    assert meta["split"]["test_indices"] and meta["data"]["fingerprint"] and meta["device"].startswith("cpu")
    assert not (tmp_path / name / "training_state.json").exists()
    model, loaded = load_checkpoint(tmp_path / name)
    assert loaded["weights_dtype"] == "float16" and not model.training


def test_interrupted_training_resumes_where_it_stopped(tiny_h5, tmp_path):
    out = tmp_path / "run"
    recipe = tiny("cnn", epochs=3)
    calls = {"n": 0}

    def interrupt_in_epoch_2(stage, done, total):
        if stage.startswith("epoch 2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer.train(recipe, tiny_h5, out, device="cpu", workers=0, progress=interrupt_in_epoch_2)
    saved = json.loads((out / "training_state.json").read_text())
    assert saved["run"]["epoch"] == 1 and not (out / "meta.json").exists()
    first_epoch = saved["run"]["history"][0]

    def count(stage, done, total):
        calls["n"] += 1
        assert not stage.startswith("epoch 1"), "epoch 1 must not run again"

    meta = trainer.train(recipe, tiny_h5, out, device="cpu", workers=0, progress=count)
    assert [h["epoch"] for h in meta["history"]] == [1, 2, 3] and meta["history"][0] == first_epoch


def test_a_different_recipe_does_not_resume_a_stale_state(tiny_h5, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        trainer.train(tiny("cnn", epochs=3), tiny_h5, out, device="cpu", workers=0,
                      progress=lambda s, d, t: (_ for _ in ()).throw(KeyboardInterrupt) if s.startswith("epoch 2") else None)
    meta = trainer.train(tiny("cnn", epochs=2, learning_rate=1e-3), tiny_h5, out, device="cpu", workers=0)
    assert [h["epoch"] for h in meta["history"]] == [1, 2]


def test_early_stopping_restores_the_best_weights(tiny_h5, tmp_path, monkeypatch):
    """Validation losses scripted 1.0, 0.5, 0.6, 0.7: with patience 2 the run stops after epoch 4 and keeps epoch 2's weights."""
    scripted, snapshots = iter([1.0, 0.5, 0.6, 0.7, 0.1, 0.1]), []
    real_epoch = trainer.run_epoch

    def epoch(model, loader, preprocessing, device, recipe, optimizer=None, *args, **kwargs):
        total, correct, count = real_epoch(model, loader, preprocessing, device, recipe, optimizer, *args, **kwargs)
        if optimizer is not None:
            return total, correct, count
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return next(scripted) * count, correct, count  # a validation pass: its summed loss as scripted

    monkeypatch.setattr(trainer, "run_epoch", epoch)
    meta = trainer.train(tiny("cnn", epochs=6, early_stopping_patience=2), tiny_h5, tmp_path / "es", device="cpu", workers=0)
    assert [round(h["val_loss"], 6) for h in meta["history"]] == [1.0, 0.5, 0.6, 0.7]
    assert meta["best_epoch"] == 2 and meta["stopped_early"] and meta["epochs_run"] == 4
    model, _ = load_checkpoint(tmp_path / "es")
    saved = model.state_dict()
    for name, tensor in snapshots[1].items():  # the weights after epoch 2 (float16 in the checkpoint)
        torch.testing.assert_close(saved[name].float(), tensor.float(), atol=2e-3, rtol=2e-3)
    assert any(not torch.allclose(snapshots[3][n].float(), snapshots[1][n].float()) for n in snapshots[1] if snapshots[1][n].is_floating_point())


def test_validation_images_are_decoded_once_per_run_not_once_per_epoch(tiny_h5, tmp_path, monkeypatch):
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.data.splits import stratified_split

    monkeypatch.setenv("GALAXY_CORE_CACHE", str(tmp_path / "cache"))  # empty: earlier tests cached these images
    decoded = []
    original = Galaxy10.image
    monkeypatch.setattr(Galaxy10, "image", lambda self, index: decoded.append(index) or original(self, index))
    recipe = tiny("cnn", epochs=3)
    meta = trainer.train(recipe, tiny_h5, tmp_path / "run", device="cpu", workers=0)
    split = stratified_split(Galaxy10(tiny_h5).labels, recipe.split, recipe.seed)
    counts = np.bincount(decoded, minlength=len(split.train) + len(split.val) + len(split.test))
    assert len(meta["history"]) == 3
    # every image once for the check-set scan (its answer is then cached per file); training images every epoch
    # (augmented afresh), plus one pass for the OOD calibration sample (up to 2,000 of them)
    assert (counts[split.train] == 1 + 3 + 1).all()
    assert (counts[split.val] == 1 + 1).all()  # validation: the first epoch; then the cache, final score included
    assert (counts[split.test] == 1 + 1).all()
    decoded.clear()
    trainer.train(recipe, tiny_h5, tmp_path / "again", device="cpu", workers=0)
    assert (np.bincount(decoded, minlength=len(counts))[split.test] == 0).all(), "the scan's answer and the test images are cached"


def test_validation_shares_cover_every_image_once_with_its_label(tiny_h5):
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.data.transforms import Preprocessing

    data, indices, world = Galaxy10(tiny_h5), np.arange(3, 14), 3
    shares = [trainer._ValidationBatches(data, indices[rank::world], Preprocessing(16), batch_size=2) for rank in range(world)]
    seen_images, seen_labels = [], []
    for share in shares:
        batches = list(share)
        assert len(batches) == len(share)
        seen_images += [x for images, _ in batches for x in images]
        seen_labels += [int(y) for _, labels in batches for y in labels]
    order = np.concatenate([indices[rank::world] for rank in range(world)])
    assert seen_labels == data.labels[order].tolist()
    expected = torch.nn.functional.interpolate(torch.from_numpy(data.images(order)).permute(0, 3, 1, 2).float(), size=16,
                                               mode="bilinear", antialias=True).permute(0, 2, 3, 1)
    assert torch.allclose(torch.stack(seen_images).float(), expected, atol=1.0)


def test_loader_worker_processes_give_the_same_run(tiny_h5, tmp_path):
    """The GPU default: spawned DataLoader workers, each opening the HDF5 file; same order, same numbers."""
    runs = [trainer.train(tiny("cnn", epochs=1), tiny_h5, tmp_path / f"w{n}", device="cpu", workers=n, max_batches=2)
            for n in (0, 2)]
    first, second = ([h["train_loss"], h["val_loss"]] for h in (runs[0]["history"][0], runs[1]["history"][0]))
    assert np.allclose(first, second, rtol=1e-5)


def test_autoencoder_trains_its_reconstruction_too(tiny_h5, tmp_path):
    meta = trainer.train(tiny("autoencoder", epochs=1), tiny_h5, tmp_path / "ae", device="cpu", workers=0)
    model, _ = load_checkpoint(tmp_path / "ae")
    logits, reconstruction = model(torch.rand(2, 3, 32, 32), with_reconstruction=True)
    assert reconstruction.shape == (2, 3, 32, 32) and 0 <= float(reconstruction.min()) and float(reconstruction.max()) <= 1
    assert meta["recipe"]["reconstruction_weight"] > 0


def test_device_choice():
    assert trainer.select_device("cpu").type == "cpu"
    assert trainer.select_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            trainer.select_device("cuda")
    with pytest.raises(UserError):
        trainer.select_device("tpu")


def test_two_process_ddp_with_gloo_on_cpu(tiny_h5, tmp_path):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29561", "-m", "galaxy_core", "train",
               "--model", "cnn", "--data", str(tiny_h5), "--epochs", "1", "--image-size", "32", "--batch-size", "4",
               "--split", "80/10/10", "--device", "cpu", "--workers", "0", "--out", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    meta = read_meta(out)
    assert meta["processes"] == 2 and len(meta["history"]) == 1


def test_cli_train_evaluate_predict_and_their_errors(tiny_h5, tmp_path):
    run = run_cli
    for name in ("cnn", "efficientnet_b0"):
        zoom = ("--resize", "48") if name == "cnn" else ()  # resize to 48, then crop the central 32
        done = run("train", "--model", name, "--data", str(tiny_h5), "--epochs", "1", "--image-size", "32", "--split", "80/10/10",
                   "--weights", "none", "--workers", "0", "--device", "cpu", "--out", str(tmp_path / name), *zoom)
        assert done.returncode == 0, done.stderr[-1500:]
        assert json.loads(done.stdout)["model"] == name
    assert read_meta(tmp_path / "cnn")["preprocessing"]["resize"] == 48
    done = run("evaluate", "--checkpoint", str(tmp_path / "cnn"), "--data", str(tiny_h5), "--tta", "--json")
    assert done.returncode == 0, done.stderr[-1500:]
    result = json.loads(done.stdout)
    assert len(result["metrics"]["confusion_matrix"]) == 10 and (results_root() / "cnn" / "predictions_test_tta.csv").exists()
    done = run("evaluate", "--ensemble", "soft", "--checkpoints", str(tmp_path / "cnn"), str(tmp_path / "efficientnet_b0"),
               "--data", str(tiny_h5), "--out", str(tmp_path / "ens"))
    assert done.returncode == 0, done.stderr[-1500:]
    assert set(json.loads(done.stdout)["member_accuracy"]) == {"cnn", "efficientnet_b0"}
    image = tmp_path / "galaxy.png"
    from PIL import Image

    from galaxy_core.data.galaxy10 import Galaxy10

    Image.fromarray(Galaxy10(tiny_h5).image(0)).resize((300, 200)).save(image)
    done = run("predict", "--ensemble", "agreement", "--checkpoints", str(tmp_path / "cnn"), str(tmp_path / "efficientnet_b0"), str(image))
    assert done.returncode == 0, done.stderr[-1500:]
    prediction = json.loads(done.stdout)["predictions"][0]
    assert prediction["source"] in ("both", "cnn", "efficientnet_b0") and set(prediction["members"]) == {"cnn", "efficientnet_b0"}
    assert any("Cropped" in n for n in prediction["notes"])
    (tmp_path / "cnn" / "model.safetensors").write_bytes(b"garbage")
    for args in (("predict", "--checkpoint", str(tmp_path / "cnn"), str(image)),
                 ("evaluate", "--checkpoint", str(tmp_path / "cnn"), "--data", str(tiny_h5)),
                 ("train", "--model", "vgg"),
                 ("predict", "--checkpoint", str(tmp_path / "efficientnet_b0"), str(tmp_path / "missing.png"))):
        bad = run(*args)
        assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1, bad.stderr


def test_look_augmentation_trains_and_is_recorded(tiny_h5, tmp_path):
    meta = trainer.train(tiny("cnn", epochs=1, look_augment=True), tiny_h5, tmp_path / "look", device="cpu", workers=0, max_batches=1)
    assert meta["recipe"]["look_augment"] is True and meta["epochs_run"] == 1
