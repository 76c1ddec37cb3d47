"""Tests for jacviz.nets.networks: seeded MLPs, the jacviz MLP format and safe loading.

Hostile files are built for real (pickles whose ``__reduce__`` runs ``os.system``, TorchScript that
writes files, torch.export archives that exploit ``torch.export.load``), and each test checks
both the refusal and that the payload did not run: it would have created a marker file.
"""

import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from torch import nn

from jacviz.nets.networks import (
    MAX_WIDTH,
    LoadedNetwork,
    NetworkError,
    load_network,
    loading,
    make_mlp,
    save_mlp,
)
from jacviz.nets.networks.sym_expr import is_safe_sym_expr
from jacviz.nets.networks.torchscript import screen_torchscript_graphs

# TorchScript is deprecated in torch 2.13 but still a format users have; its warnings are noise.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")

# ----------------------------------------------------------------------------------------------
# make_mlp
# ----------------------------------------------------------------------------------------------


def test_make_mlp_builds_the_layers_asked_for():
    model = make_mlp([2, 8, 5, 3], activation="relu")
    kinds = [type(m) for m in model]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert model(torch.zeros(4, 2)).shape == (4, 3)


def test_make_mlp_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = make_mlp([2, 16, 2], seed=7)
    second = make_mlp([2, 16, 2], seed=7)
    assert torch.rand(1) == expected_next
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)
    other = make_mlp([2, 16, 2], seed=8)
    assert not torch.equal(next(first.parameters()), next(other.parameters()))


@pytest.mark.parametrize(
    ("widths", "activation"), [([2], "tanh"), ([2, 0, 2], "tanh"), ([2, 2], "nope")]
)
def test_make_mlp_refuses_bad_shapes(widths, activation):
    with pytest.raises(ValueError):
        make_mlp(widths, activation)


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def refused(path, *fragments) -> str:
    """Load ``path``, expect NetworkError; check it is one line naming the file + fragments."""
    with pytest.raises(NetworkError) as info:
        load_network(path)
    message = str(info.value)
    assert "\n" not in message
    assert Path(path).name in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def random_points(n, count=7, dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, n, generator=generator, dtype=dtype) * 4 - 2


def reference_jacobians(module, points):
    return torch.stack(
        [torch.autograd.functional.jacobian(lambda p: module(p[None])[0], p) for p in points]
    )


def assert_jacobians_match(loaded, original, points, rtol, atol):
    values, jacobian = loaded.as_map().evaluate_with_jacobian(points.numpy())
    with torch.no_grad():
        expected_values = original(points).to(torch.float64).numpy()
    expected = reference_jacobians(original, points).to(torch.float64).numpy()
    assert jacobian.shape == (len(points), loaded.output_dim, loaded.input_dim)
    np.testing.assert_allclose(values, expected_values, rtol=rtol, atol=atol)
    np.testing.assert_allclose(jacobian, expected, rtol=rtol, atol=atol)


def rewrite_zip(source, target, edit):
    """Copy a zip archive entry by entry; ``edit(name, data)`` returns new data or None to drop."""
    with zipfile.ZipFile(source) as archive_in, zipfile.ZipFile(target, "w") as archive_out:
        for info in archive_in.infolist():
            data = edit(info.filename, archive_in.read(info.filename))
            if data is not None:
                archive_out.writestr(info.filename, data)
    return target


class Payload:
    """Unpickling this runs a shell command (what a hostile network file would do)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def touch(marker: Path) -> str:
    return f"touch {marker}"


# ----------------------------------------------------------------------------------------------
# jacviz MLP format: round trips
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("widths", "activation", "dtype"),
    [
        ([2, 2], "tanh", torch.float64),
        ([2, 16, 3], "relu", torch.float32),
        ([3, 8, 8, 2], "gelu", torch.float64),
        ([2, 32, 2], "softplus", torch.float32),
        ([2, 5, 7, 2], "sigmoid", torch.float64),
        ([2, 64, 64, 2], "tanh", torch.float32),
    ],
)
def test_save_and_load_mlp_round_trip_is_bit_identical(tmp_path, widths, activation, dtype):
    model = make_mlp(widths, activation, seed=3, dtype=dtype)
    metadata = {"class_names": ["a", "b"], "description": "toy", "training": {"steps": 10}}
    path = tmp_path / "net.safetensors"
    save_mlp(model, path, metadata)

    loaded = load_network(path)
    assert isinstance(loaded, LoadedNetwork)
    assert (loaded.name, loaded.format) == ("net.safetensors", "jacviz-mlp")
    assert (loaded.input_dim, loaded.output_dim) == (widths[0], widths[-1])
    assert loaded.metadata == metadata
    assert not loaded.module.training
    assert all(not p.requires_grad for p in loaded.module.parameters())
    assert [type(m) for m in loaded.module] == [type(m) for m in model]
    for a, b in zip(model.parameters(), loaded.module.parameters(), strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)

    points = random_points(widths[0], count=50, dtype=dtype)
    with torch.no_grad():
        assert torch.equal(loaded.module(points), model(points))
    as_map = loaded.as_map()
    assert as_map.jacobian_method == "forward tangents"
    values = as_map.evaluate(points.numpy())
    # The map walks the layers itself (numpy's tanh, within 1.4 ulp of torch's): the same
    # numbers as its Jacobian walk, bit for bit, and the module's up to those ulps.
    assert np.array_equal(values, as_map.evaluate_with_jacobian(points.numpy())[0])
    tolerance = 1e-6 if dtype == torch.float32 else 1e-14
    np.testing.assert_allclose(
        values, model(points).detach().double().numpy(), rtol=tolerance, atol=tolerance
    )
    if dtype == torch.float64:
        assert_jacobians_match(loaded, model, points[:5], rtol=1e-10, atol=1e-12)


def test_round_trip_keeps_activation_settings_bias_free_layers_and_nesting(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(2, 6, dtype=torch.float64),
        nn.Softplus(beta=2.5, threshold=7.0),
        nn.Sequential(nn.Linear(6, 6, bias=False, dtype=torch.float64), nn.Identity()),
        nn.GELU(approximate="tanh"),
        nn.Linear(6, 2, dtype=torch.float64),
        nn.ReLU(inplace=True),
    )
    path = tmp_path / "custom.safetensors"
    save_mlp(model, path)
    loaded = load_network(path)
    kinds = [type(m) for m in loaded.module]
    assert kinds == [nn.Linear, nn.Softplus, nn.Linear, nn.Identity, nn.GELU, nn.Linear, nn.ReLU]
    softplus, gelu = loaded.module[1], loaded.module[4]
    assert (softplus.beta, softplus.threshold, gelu.approximate) == (2.5, 7.0, "tanh")
    assert loaded.module[2].bias is None
    assert loaded.metadata == {}
    points = random_points(2, count=20)
    with torch.no_grad():
        assert torch.equal(loaded.module(points), model(points))


def test_file_format_is_safetensors_with_the_documented_header(tmp_path):
    path = tmp_path / "net.safetensors"
    save_mlp(make_mlp([2, 4, 3], "tanh"), path, {"description": "x"})
    with safetensors.safe_open(path, framework="pt") as handle:
        header = json.loads(handle.metadata()["jacviz"])
        assert sorted(handle.keys()) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert header == {
        "format": "jacviz-mlp",
        "version": 1,
        "layers": [
            {"type": "linear", "in": 2, "out": 4, "bias": True},
            {"type": "tanh"},
            {"type": "linear", "in": 4, "out": 3, "bias": True},
        ],
        "metadata": {"description": "x"},
    }


def test_save_is_atomic_and_overwrites(tmp_path):
    path = tmp_path / "net.safetensors"
    save_mlp(make_mlp([2, 4, 2], seed=1), path)
    save_mlp(make_mlp([2, 8, 2], seed=2), path)
    assert os.listdir(tmp_path) == ["net.safetensors"]  # no temporary file left behind
    assert load_network(path).module[0].out_features == 8
    with pytest.raises(NetworkError):
        save_mlp(nn.Sequential(nn.Linear(2, 2), nn.Conv1d(1, 1, 1)), path)
    assert load_network(path).module[0].out_features == 8  # a refused save changes nothing
    assert os.listdir(tmp_path) == ["net.safetensors"]


def test_loading_leaves_the_global_rng_alone(tmp_path):
    path = tmp_path / "net.safetensors"
    save_mlp(make_mlp([2, 16, 2]), path)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    load_network(path)
    assert torch.equal(torch.rand(3), expected)


class SequentialSubclass(nn.Sequential):
    pass


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        (nn.Sequential(nn.Linear(2, 4), nn.Conv1d(1, 1, 1)), "Conv1d"),
        (nn.Sequential(nn.Linear(2, 4), nn.LeakyReLU(), nn.Linear(4, 2)), "LeakyReLU"),
        (nn.Sequential(nn.Linear(2, 4), nn.Softmax(dim=1)), "Softmax"),
        (SequentialSubclass(nn.Linear(2, 2)), "SequentialSubclass"),
        (nn.Linear(2, 2), "not an nn.Sequential"),
        (nn.Sequential(nn.Tanh()), "no Linear layer"),
        (nn.Sequential(nn.Linear(2, 4), nn.Linear(3, 2)), "expects 3 inputs"),
        (nn.Sequential(nn.Linear(2, MAX_WIDTH + 1)), f"{MAX_WIDTH + 1} wide"),
        (nn.Sequential(nn.Linear(2, 2), nn.Softplus(beta=1e9)), "invalid softplus beta"),
        (nn.Sequential(nn.Linear(1, 4), nn.Tanh(), nn.Linear(4, 2)), "at least 2 inputs"),
        (make_mlp([2, 4, 2]).half(), "float16"),
        (nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2, dtype=torch.float64)), "float64"),
    ],
)
def test_save_mlp_refuses_what_the_format_cannot_describe(tmp_path, model, fragment):
    path = tmp_path / "net.safetensors"
    with pytest.raises(NetworkError, match=r"net\.safetensors") as info:
        save_mlp(model, path)
    assert fragment in str(info.value)
    assert not path.exists()


def test_save_mlp_refuses_hooks_nan_weights_and_non_json_metadata(tmp_path):
    path = tmp_path / "net.safetensors"
    hooked = make_mlp([2, 4, 2])
    hooked[1].register_forward_hook(lambda *args: None)
    with pytest.raises(NetworkError, match="forward hooks"):
        save_mlp(hooked, path)
    broken = make_mlp([2, 4, 2])
    with torch.no_grad():
        broken[0].weight[0, 0] = float("nan")
    with pytest.raises(NetworkError, match="NaN"):
        save_mlp(broken, path)
    with pytest.raises(NetworkError, match="not plain JSON"):
        save_mlp(make_mlp([2, 4, 2]), path, {"when": object()})
    with pytest.raises(NetworkError, match="not plain JSON"):
        save_mlp(make_mlp([2, 4, 2]), path, {"loss": float("nan")})
    assert not path.exists()


# ----------------------------------------------------------------------------------------------
# TorchScript and torch.export
# ----------------------------------------------------------------------------------------------


class Residual(nn.Module):
    """A non-Sequential network: TorchMap must fall back to autograd for it."""

    def __init__(self, n_in=3, width=16, n_out=2):
        super().__init__()
        self.inp = nn.Linear(n_in, width)
        self.hidden = nn.Linear(width, width)
        self.out = nn.Linear(width, n_out)

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        h = h + torch.sin(self.hidden(h))
        return self.out(h) * torch.exp(-0.1 * (x * x).sum(dim=1, keepdim=True))


class SizeDependent(nn.Module):
    """Uses its batch size (x * k / k): the program gets symbolic-size nodes and expressions."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 3, dtype=torch.float64)

    def forward(self, x):
        k = x.shape[0] // 2 + 1
        return torch.tanh(self.lin(x)) * k / k


@pytest.fixture(scope="module")
def export_files(tmp_path_factory):
    """Save torch.export programs once per module: exporting is the slow part of these tests."""
    folder = tmp_path_factory.mktemp("export")
    torch.manual_seed(1)
    model = make_mlp([2, 12, 3], "tanh", seed=4, dtype=torch.float64).eval()
    example = (torch.zeros(8, 2, dtype=torch.float64),)
    batch = torch.export.Dim("batch")
    dynamic = torch.export.export(model, example, dynamic_shapes=({0: batch},))
    torch.export.save(
        dynamic, folder / "dynamic.pt2", extra_files={"jacviz.json": '{"class_names": ["u"]}'}
    )
    fixed = torch.export.export(model, example)
    torch.export.save(fixed, folder / "fixed.pt2")
    shaped = SizeDependent().eval()
    bounded = torch.export.export(
        shaped, example, dynamic_shapes=({0: torch.export.Dim("batch", min=3, max=100)},)
    )
    torch.export.save(bounded, folder / "bounded.pt2")
    return model, folder, shaped


def test_torchscript_scripted_float64_mlp_loads_with_exact_jacobians(tmp_path):
    model = make_mlp([2, 24, 24, 3], "softplus", seed=2, dtype=torch.float64).eval()
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(model), path, _extra_files={"jacviz.json": '{"a": [1, 2]}'})
    loaded = load_network(path)  # run in its own process, as the app and the CLI do
    assert (loaded.format, loaded.input_dim, loaded.output_dim) == ("torchscript", 2, 3)
    assert loaded.metadata == {"a": [1, 2]}
    assert loaded.as_map().jacobian_method == (
        "autograd through the TorchScript module, in a separate process"
    )
    assert_jacobians_match(loaded, model, random_points(2), rtol=1e-10, atol=1e-12)
    here = load_network(path, isolated=False)  # the same checks, in this process
    assert not here.module.training
    assert all(not p.requires_grad for p in here.module.parameters())
    assert here.as_map().jacobian_method == "autograd"
    assert_jacobians_match(here, model, random_points(2), rtol=1e-10, atol=1e-12)


def test_torchscript_traced_float32_network_with_three_inputs(tmp_path):
    torch.manual_seed(3)
    model = Residual(n_in=3).eval()
    path = tmp_path / "traced.pt"
    torch.jit.save(torch.jit.trace(model, torch.zeros(4, 3)), path)
    loaded = load_network(path)
    assert (loaded.format, loaded.input_dim, loaded.output_dim) == ("torchscript", 3, 2)
    assert loaded.metadata == {}
    # Both sides compute in float32 (TorchMap keeps the parameters' dtype) with the same ops,
    # but batched vs single-point matmuls may sum in different orders. The Jacobian entries are
    # sums of 16 products of O(1) factors, each product rounded (eps = 6e-8 relative), so the
    # difference is bounded by ~16 * 6e-8 ~ 1e-6; measured: 6e-8 (one ulp of 0.5).
    points = random_points(3, dtype=torch.float32)
    assert_jacobians_match(loaded, model, points, rtol=1e-5, atol=1e-6)


def test_torch_export_program_with_dynamic_batch_loads(export_files):
    model, folder, _ = export_files
    loaded = load_network(folder / "dynamic.pt2")
    assert (loaded.format, loaded.input_dim, loaded.output_dim) == ("torch-export", 2, 3)
    assert loaded.metadata == {"class_names": ["u"]}
    here = load_network(folder / "dynamic.pt2", isolated=False)
    assert all(not p.requires_grad for p in here.module.parameters())
    assert_jacobians_match(loaded, model, random_points(2), rtol=1e-10, atol=1e-12)
    # Batches of one point (the probe) and of more than one chunk both work.
    values = loaded.as_map().evaluate(np.zeros((1, 2)))
    assert values.shape == (1, 3)
    assert loaded.as_map().evaluate(np.zeros((3000, 2))).shape == (3000, 3)


def test_torch_export_program_with_bounded_batch_is_padded_and_split(export_files):
    _, folder, model = export_files
    loaded = load_network(folder / "bounded.pt2")
    assert (loaded.input_dim, loaded.output_dim) == (2, 3)
    # Exported for batches of 3 to 100: 1 point is padded, 250 points are split.
    points = random_points(2, count=250)
    as_map = loaded.as_map()
    with torch.no_grad():
        expected = torch.cat([model(row[None]) for row in points]).numpy()
    np.testing.assert_allclose(as_map.evaluate(points[:1].numpy()), expected[:1], rtol=1e-12)
    np.testing.assert_allclose(as_map.evaluate(points.numpy()), expected, rtol=1e-12)
    assert_jacobians_match(loaded, model, points[:7], rtol=1e-10, atol=1e-12)
    _, jacobian = as_map.evaluate_with_jacobian(points[:1].numpy())
    assert jacobian.shape == (1, 3, 2)


class Normalized(nn.Module):
    """Infinite constants in the program (clamp) and a non-MLP op (layer_norm)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        clamped = torch.clamp(self.lin(x), min=float("-inf"), max=float("inf"))
        return clamped + nn.functional.layer_norm(x, (2,))


def test_torch_export_with_auto_batch_and_infinite_constants_loads(tmp_path):
    model = Normalized().eval()
    auto = ({0: torch.export.Dim.AUTO},)  # assumes batches of at least 2
    program = torch.export.export(model, (torch.zeros(4, 2),), dynamic_shapes=auto)
    torch.export.save(program, tmp_path / "auto.pt2")
    loaded = load_network(tmp_path / "auto.pt2")
    point = np.array([[0.5, 0.1]], dtype=np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(point)).double().numpy()
    np.testing.assert_allclose(loaded.as_map().evaluate(point), expected, rtol=1e-6)


def test_format_is_detected_by_content_not_extension(tmp_path, export_files):
    mlp = tmp_path / "mlp.pt"
    save_mlp(make_mlp([2, 4, 2]), mlp)
    assert load_network(mlp).format == "jacviz-mlp"
    script = tmp_path / "script.safetensors"
    torch.jit.save(torch.jit.script(make_mlp([2, 4, 2])), script)
    assert load_network(script).format == "torchscript"
    program = tmp_path / "program.bin"
    program.write_bytes((export_files[1] / "dynamic.pt2").read_bytes())
    assert load_network(program).format == "torch-export"


# ----------------------------------------------------------------------------------------------
# Files that are not networks
# ----------------------------------------------------------------------------------------------


def test_empty_random_text_and_python_files_are_refused(tmp_path):
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    refused(empty, "is empty")
    noise = tmp_path / "noise.pt"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    refused(noise, "not a network file jacviz recognises")
    text = tmp_path / "notes.txt"
    text.write_text("weights: 1, 2, 3\nthis is not a network\n")
    refused(text, "is a text file")
    script = tmp_path / "model.py"
    script.write_text("import torch\n\nmodel = torch.nn.Linear(2, 2)\n")
    refused(script, "Python source code", "never runs code")


def test_missing_paths_directories_and_large_files_are_refused(tmp_path, monkeypatch):
    refused(tmp_path / "nowhere.pt", "does not exist")
    folder = tmp_path / "folder.pt2"
    folder.mkdir()
    refused(folder, "is a directory")
    path = tmp_path / "big.safetensors"
    save_mlp(make_mlp([2, 64, 2]), path)
    monkeypatch.setattr(loading, "MAX_FILE_BYTES", 1000)
    refused(path, "more than the 1000 bytes")


def test_torch_save_files_are_refused_without_unpickling(tmp_path):
    module_file = tmp_path / "model.pt"
    torch.save(make_mlp([2, 4, 2]), module_file)
    refused(module_file, "pickled PyTorch file (torch.save)", "torch.jit.save")
    state_file = tmp_path / "weights.pth"
    torch.save(make_mlp([2, 4, 2]).state_dict(), state_file)
    refused(state_file, "state dict", "not the activation", "--activation")  # see test_formats
    legacy = tmp_path / "legacy.pt"
    torch.save(make_mlp([2, 4, 2]), legacy, _use_new_zipfile_serialization=False)
    refused(legacy, "pickled PyTorch file", "legacy")


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_hostile_pickles_are_refused_and_never_run(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Payload(touch(marker)), protocol=protocol))
    refused(path, "Python pickle", "can run arbitrary code")
    assert not marker.exists()
    # The same payload inside a torch.save-style zip archive.
    archive = tmp_path / "model.pt"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("model/data.pkl", pickle.dumps(Payload(touch(marker)), protocol=protocol))
        zf.writestr("model/version", "3\n")
    refused(archive, "pickled PyTorch file")
    assert not marker.exists()


def test_other_formats_get_specific_messages(tmp_path):
    keras = tmp_path / "model.h5"
    keras.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    refused(keras, "HDF5")
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"\x08\x07\x12\x07pytorch\x1a\x032.1" + bytes(range(256)))
    refused(onnx, "ONNX")
    array = tmp_path / "weights.npy"
    np.save(array, np.zeros(3))
    refused(array, "NumPy")
    archive = tmp_path / "stuff.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "hello")
    refused(archive, "zip archive but not a PyTorch network")
    bare = tmp_path / "bare.safetensors"
    safetensors.torch.save_file(make_mlp([2, 4, 2]).state_dict(), bare)
    refused(bare, "without jacviz's architecture description")


# ----------------------------------------------------------------------------------------------
# Networks jacviz cannot show
# ----------------------------------------------------------------------------------------------


class RaisingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        if x.shape[0] > 2:
            raise ValueError("this network only takes two points")
        return self.lin(x)


class LogNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        return torch.log(self.lin(x) - 100.0)


class SumNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        return self.lin(x).sum(dim=1)


class CenteringNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        return self.lin(x - x.mean(dim=0, keepdim=True))


class NoisyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 8)

    def forward(self, x):
        return torch.nn.functional.dropout(self.lin(x), 0.5, training=True)


@pytest.mark.parametrize(
    ("module", "fragments"),
    [
        (nn.Sequential(nn.Linear(1, 4), nn.Tanh(), nn.Linear(4, 2)), ["takes 1 input"]),
        (RaisingNet(), ["fails when run on a batch of 3", "this network only takes two points"]),
        (LogNet(), ["NaN or infinite outputs at the origin"]),
        (SumNet(), ["to shape (3,)", "(N, m)"]),
        (CenteringNet(), ["mix points"]),
        (NoisyNet(), ["different outputs for the same input"]),
        (make_mlp([2, 4, 2]).half(), ["float16"]),
    ],
)
def test_torchscript_networks_jacviz_cannot_show_are_refused(tmp_path, module, fragments):
    path = tmp_path / "bad.pt"
    torch.jit.save(torch.jit.script(module), path)
    refused(path, *fragments)


def test_nan_weights_are_refused_in_every_format(tmp_path, export_files):
    nan_mlp = make_mlp([2, 4, 2])
    with torch.no_grad():
        nan_mlp[2].bias[1] = float("nan")
    # jacviz MLP file (save_mlp refuses NaN weights, so write the file directly).
    layers = [{"type": "linear", "in": 2, "out": 4}, {"type": "tanh"}]
    layers.append({"type": "linear", "in": 4, "out": 2})
    write_jacviz(tmp_path / "nan.safetensors", nan_mlp.state_dict(), layers=layers)
    refused(tmp_path / "nan.safetensors", "NaN", "'2.bias'")
    torch.jit.save(torch.jit.script(nan_mlp), tmp_path / "nan.pt")
    refused(tmp_path / "nan.pt", "NaN")

    def nan_weights(name, data):
        if name.endswith("data/weights/weight_0"):
            return np.full(len(data) // 8, np.nan).tobytes()
        return data

    program = rewrite_zip(export_files[1] / "dynamic.pt2", tmp_path / "nan.pt2", nan_weights)
    refused(program, "NaN")


def test_export_program_with_fixed_batch_is_run_through_vmap(export_files):
    model, folder, _ = export_files
    loaded = load_network(folder / "fixed.pt2")  # exported for a static batch of 8
    assert "static batch of 8 points" in loaded.as_map().jacobian_method
    assert_jacobians_match(loaded, model, random_points(2, count=11), rtol=1e-10, atol=1e-12)


def test_unexpected_loader_errors_are_wrapped_but_interrupts_are_not(tmp_path, monkeypatch):
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(make_mlp([2, 4, 2])), path)

    def boom(*args, **kwargs):
        raise RuntimeError("deep torch failure\n  at some frame\n  and another")

    monkeypatch.setattr(torch.jit, "load", boom)  # in this process: load it here
    with pytest.raises(NetworkError) as info:
        load_network(path, isolated=False)
    assert "PyTorch cannot load" in str(info.value) and "deep torch failure" in str(info.value)
    assert "\n" not in str(info.value)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch.jit, "load", interrupt)
    with pytest.raises(KeyboardInterrupt):
        load_network(path, isolated=False)


# ----------------------------------------------------------------------------------------------
# Tampered jacviz MLP files
# ----------------------------------------------------------------------------------------------


def write_jacviz(path, tensors, layers=None, **changes):
    raw_header = changes.pop("raw_header", None)
    document = {"format": "jacviz-mlp", "version": 1, "layers": layers, "metadata": {}}
    document.update(changes)
    header = raw_header or json.dumps(document)
    safetensors.torch.save_file(
        {k: v.contiguous() for k, v in tensors.items()}, path, metadata={"jacviz": header}
    )
    return path


GOOD_LAYERS = [
    {"type": "linear", "in": 2, "out": 4, "bias": True},
    {"type": "tanh"},
    {"type": "linear", "in": 4, "out": 2, "bias": True},
]


def good_tensors():
    return dict(make_mlp([2, 4, 2]).state_dict())


def with_layer(index, **fields):
    layers = [dict(layer) for layer in GOOD_LAYERS]
    layers[index].update(fields)
    return layers


@pytest.mark.parametrize(
    ("layers", "tensor_edit", "changes", "fragment"),
    [
        (with_layer(1, type="conv2d"), None, {}, "unknown type 'conv2d'"),
        (with_layer(0, **{"in": 3}), None, {}, "has shape (4, 2) but the architecture says (4, 3)"),
        (
            [*with_layer(0, out=100_000)[:1], {"type": "linear", "in": 100_000, "out": 2}],
            None,
            {},
            f"is 100000 wide; jacviz MLP files allow 1 to {MAX_WIDTH}",
        ),
        (GOOD_LAYERS, None, {"version": 2}, "newer jacviz"),
        (GOOD_LAYERS, None, {"version": 0}, "unknown MLP format version 0"),
        (GOOD_LAYERS, None, {"version": "1"}, "not an integer"),
        (GOOD_LAYERS, None, {"format": "other"}, "format 'other'"),
        (GOOD_LAYERS, "drop 2.bias", {}, "tensor '2.bias' is missing"),
        (GOOD_LAYERS, "extra", {}, "unexpected tensor 'extra'"),
        (GOOD_LAYERS, "float16", {}, "is float16"),
        (GOOD_LAYERS, "int32", {}, "is int32"),
        (GOOD_LAYERS, "mixed", {}, "mix float32 and float64"),
        (with_layer(0, **{"in": True}), None, {}, "needs an integer 'in'"),
        (with_layer(0, activation="tanh"), None, {}, "unknown field 'activation'"),
        (with_layer(1, type="softplus", beta=-1), None, {}, "invalid softplus beta"),
        (with_layer(2, **{"in": 5}), None, {}, "layers[2] expects 5 inputs"),
        ([{"type": "tanh"}], None, {}, "no linear layer"),
        ([], None, {}, "non-empty list"),
        ([{"type": "linear", "in": 2, "out": 2}] * 65, "none", {}, "65 linear layers"),
        (GOOD_LAYERS, None, {"metadata": [1]}, "metadata is not a JSON object"),
        (GOOD_LAYERS, None, {"extra": 1}, "unknown field 'extra'"),
        (GOOD_LAYERS, None, {"raw_header": "{not json"}, "not valid JSON"),
        (GOOD_LAYERS, None, {"raw_header": '{"a": 1, "a": 2}'}, "duplicate key"),
        (GOOD_LAYERS, None, {"raw_header": "[1, 2]"}, "not a JSON object"),
    ],
)
def test_tampered_jacviz_files_are_refused(tmp_path, layers, tensor_edit, changes, fragment):
    tensors = good_tensors()
    if tensor_edit == "drop 2.bias":
        del tensors["2.bias"]
    elif tensor_edit == "extra":
        tensors["extra"] = torch.zeros(2)
    elif tensor_edit in ("float16", "int32"):
        tensors = {k: v.to(getattr(torch, tensor_edit)) for k, v in tensors.items()}
    elif tensor_edit == "mixed":
        tensors["2.bias"] = tensors["2.bias"].double()
    elif tensor_edit == "none":
        tensors = {}
    path = write_jacviz(tmp_path / "tampered.safetensors", tensors, layers=layers, **changes)
    refused(path, fragment)


def test_damaged_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "good.safetensors"
    save_mlp(make_mlp([2, 4, 2]), path)
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(path.read_bytes()[:-10])
    refused(damaged, "damaged safetensors file")


# ----------------------------------------------------------------------------------------------
# Hostile TorchScript archives
# ----------------------------------------------------------------------------------------------


class FileWriter(nn.Module):
    path: str

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        torch.save(x, self.path)
        return self.lin(x)


class WritesWhileLoading(nn.Module):
    path: str

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.w = torch.ones(2, 2)

    @torch.jit.export
    def __getstate__(self):
        return (self.w, self.path, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, str, bool]):
        torch.save(state[0], state[1])
        self.w = state[0]
        self.path = state[1]
        self.training = state[2]

    def forward(self, x):
        return x @ self.w


def test_torchscript_that_writes_files_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "pwned"
    writer = tmp_path / "writer.pt"
    torch.jit.save(torch.jit.script(FileWriter(str(marker))), writer)
    refused(writer, "calls torch.save, which writes files")
    loader = tmp_path / "loader.pt"
    torch.jit.save(torch.jit.script(WritesWhileLoading(str(marker))), loader)
    refused(loader, "__setstate__")
    assert not marker.exists()


def test_torchscript_with_hostile_pickle_is_refused_by_the_restricted_unpickler(tmp_path):
    marker = tmp_path / "pwned"
    clean = tmp_path / "clean.pt"
    torch.jit.save(torch.jit.script(make_mlp([2, 4, 2])), clean)
    payload = pickle.dumps(Payload(touch(marker)), protocol=2)
    hostile = rewrite_zip(
        clean,
        tmp_path / "hostile.pt",
        lambda name, data: payload if name.endswith("/data.pkl") else data,
    )
    refused(hostile, "PyTorch cannot load", "Unknown type name")
    assert not marker.exists()


def save_on_the_side(x: torch.Tensor) -> torch.Tensor:
    torch.save(x, "/nonexistent/jacviz-test")
    return x


class Forker(nn.Module):
    def forward(self, x):
        return torch.jit.wait(torch.jit.fork(save_on_the_side, x))


@pytest.mark.parametrize(
    ("module", "fragment"),
    [(FileWriter("/nonexistent/jacviz-test"), "aten::save"), (Forker(), "indirect calls")],
)
def test_torchscript_graph_screen_catches_file_access_after_loading(module, fragment):
    # Defence in depth: the source screen already refuses these modules' files; the graph
    # screen must refuse them on its own too, including code hidden in a fork's subgraph.
    with pytest.raises(NetworkError, match=fragment):
        screen_torchscript_graphs(torch.jit.script(module), "writer.pt")


# ----------------------------------------------------------------------------------------------
# Hostile torch.export archives (each one runs code under a plain torch.export.load in 2.13)
# ----------------------------------------------------------------------------------------------


def edit_program_json(transform):
    def edit(name, data):
        if name.endswith("models/model.json"):
            return transform(data.decode()).encode()
        return data

    return edit


def test_export_with_code_in_a_shape_expression_is_refused(tmp_path, export_files):
    marker = tmp_path / "pwned"
    injected = f"integer=__import__('os').system('touch {marker}') == 0"

    def inject(text):
        assert "integer=True" in text
        return text.replace("integer=True", injected)

    path = rewrite_zip(
        export_files[1] / "dynamic.pt2", tmp_path / "a.pt2", edit_program_json(inject)
    )
    refused(path, "symbolic-shape expression", "could run code")
    assert not marker.exists()


def test_export_with_hostile_example_inputs_is_refused(tmp_path, export_files):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Payload(touch(marker)), protocol=2)

    def edit(name, data):
        return payload if name.endswith("data/sample_inputs/model.pt") else data

    path = rewrite_zip(export_files[1] / "dynamic.pt2", tmp_path / "b.pt2", edit)
    refused(path, "example inputs that are not plain tensors")
    assert not marker.exists()


def test_export_with_pickled_weights_is_refused(tmp_path, export_files):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Payload(touch(marker)), protocol=2)

    def edit(name, data):
        if name.endswith("data/weights/model_weights_config.json"):
            return data.replace(b'"use_pickle": false', b'"use_pickle": true', 1)
        if name.endswith("data/weights/weight_0"):
            return payload
        return data

    path = rewrite_zip(export_files[1] / "dynamic.pt2", tmp_path / "c.pt2", edit)
    refused(path, "stores weights as pickles")
    assert not marker.exists()


def test_export_with_guard_code_is_refused(tmp_path, export_files):
    # torch.export.load + .module() exec()s guards_code; the payload would run on the first call.
    marker = tmp_path / "pwned"

    def inject(text):
        document = json.loads(text)
        document["guards_code"] = [f"__import__('os').system('touch {marker}') == 0"]
        return json.dumps(document)

    path = rewrite_zip(
        export_files[1] / "dynamic.pt2", tmp_path / "e.pt2", edit_program_json(inject)
    )
    refused(path, "carries guard code")
    assert not marker.exists()


def set_arg_names(document):
    document["graph_module"]["module_call_graph"][0]["signature"]["forward_arg_names"] = [
        "input=print(1)"
    ]


def set_parameter_name(document):
    spec = document["graph_module"]["signature"]["input_specs"][0]["parameter"]
    spec["parameter_name"] = '0.x") or print(1) or ("'


def add_keyword_input(document):
    signature = document["graph_module"]["module_call_graph"][0]["signature"]
    in_spec = json.loads(signature["in_spec"])
    in_spec[1]["children_spec"][1] = {
        "type": "builtins.dict",
        "context": '["scale=print(1)"]',
        "children_spec": [{"type": None, "context": None, "children_spec": []}],
    }
    signature["in_spec"] = json.dumps(in_spec)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        # forward_arg_names and keyword names go into the generated forward signature;
        (set_arg_names, "not an identifier"),
        (add_keyword_input, "exactly one positional input"),
        # parameter names go into generated getattr(self, "...") expressions.
        (set_parameter_name, "parameter_name jacviz rejects"),
    ],
)
def test_export_names_that_reach_generated_code_are_checked(
    tmp_path, export_files, change, fragment
):
    def edit(text):
        document = json.loads(text)
        change(document)
        return json.dumps(document)

    path = rewrite_zip(export_files[1] / "dynamic.pt2", tmp_path / "f.pt2", edit_program_json(edit))
    refused(path, fragment)


def test_export_weight_names_are_checked(tmp_path, export_files):
    def edit(name, data):
        if name.endswith("model_weights_config.json"):
            return data.replace(b'"0.weight"', b'"0.w(x)"')
        return data

    path = rewrite_zip(export_files[1] / "dynamic.pt2", tmp_path / "g.pt2", edit)
    refused(path, "weights name jacviz rejects")


def test_export_with_native_code_or_unknown_entries_is_refused(tmp_path, export_files):
    source = export_files[1] / "dynamic.pt2"
    root = zipfile.ZipFile(source).namelist()[0].split("/")[0]
    for entry, fragment in [
        ("data/aotinductor/model/model.so", "AOTInductor-compiled native code"),
        ("data/constants/opaque_obj_0", "entry jacviz does not accept"),
        ("models/second.json", "second program"),
    ]:
        path = tmp_path / "extra.pt2"
        with zipfile.ZipFile(source) as zin, zipfile.ZipFile(path, "w") as zout:
            for info in zin.infolist():
                zout.writestr(info.filename, zin.read(info.filename))
            zout.writestr(f"{root}/{entry}", b"\x7fELF")
        refused(path, fragment)


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ('"torch.ops.aten.tanh.default"', '"torch.save"', "calls 'torch.save'"),
        ('"torch.ops.aten.tanh.default"', '"torch.ops.aten.from_file.default"', "from_file"),
        ('"torch.ops.aten.tanh.default"', '"torch.hub.load"', "not a core PyTorch operator"),
    ],
)
def test_export_calling_non_core_functions_is_refused(tmp_path, export_files, old, new, fragment):
    def replace(text):
        assert old in text
        return text.replace(old, new)

    edit = edit_program_json(replace)
    path = rewrite_zip(export_files[1] / "dynamic.pt2", tmp_path / "d.pt2", edit)
    refused(path, fragment)


@pytest.mark.parametrize(
    ("expression", "safe"),
    [
        ("Symbol('s31', positive=True, integer=True)", True),
        ("Add(FloorDiv(Symbol('s77', positive=True, integer=True), Integer(2)), Integer(1))", True),
        ("Pow(Symbol('s0', integer=True), Integer(2))", True),
        ("Mul(Float('1.5', precision=53), Symbol('s0'))", True),
        ("StrictLessThan(Symbol('s0'), Integer(5))", True),
        ("Pow(Integer(9), Pow(Integer(9), Integer(9)))", False),
        ("Pow(Integer(9), Integer(99999999))", False),
        ("Float('__import__')", False),
        ("Symbol('s0', **{'integer': True})", False),
        ("Symbol('a b')", False),
        ("2*s0 + FloorDiv(s1, 4) - 1", True),
        ("Max(s0, 2)**2", True),
        ("Eq(Mod(s0, 2), 0)", True),
        ("__import__('os').system('id')", False),
        ("Symbol('x').__class__", False),
        ("(lambda: 1)()", False),
        ("s0.func", False),
        ("Integer('1' + '0')", False),
        ("Symbol('s0', integer=open('f'))", False),
        ("9**9**9", False),
        ("s0 ^ 2", False),
        ("[s0][0]", False),
        ("eval('1')", False),
        ("f'{s0}'", False),
    ],
)
def test_only_plain_arithmetic_shape_expressions_pass(expression, safe):
    assert is_safe_sym_expr(expression) is safe


def test_a_models_weights_ignore_other_threads_using_the_global_random_state():
    # A Dask worker's threads train several runs side by side: weights drawn from the global
    # random state (seeded, then restored) changed with what another thread did meanwhile.
    import threading

    import torch

    from jacviz.nets.networks import make_mlp

    expected = make_mlp([2, 64, 64, 64, 3], seed=1)
    stop = threading.Event()

    def meddle() -> None:
        while not stop.is_set():
            torch.manual_seed(99)
            torch.rand(1000)

    other = threading.Thread(target=meddle)
    other.start()
    try:
        built = [make_mlp([2, 64, 64, 64, 3], seed=1) for _ in range(30)]
    finally:
        stop.set()
        other.join()
    for model in built:
        for a, b in zip(model.parameters(), expected.parameters(), strict=True):
            assert torch.equal(a, b)
