"""Networks that carry code run in their own process: hostile ones are stopped, not felt.

Each network here is a small TorchScript module whose forward misbehaves in one way: loops
forever, crawls, fails or loops only for large batches, allocates gigabytes, prints, or has
absurdly many outputs. Loading refuses it with one line (or, for a failure at an odd batch
size, the call that meets it does), and this process never runs its code.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

import jacviz.nets.hosted as hosted
from jacviz.nets.hosted import HostedNetwork, LoadCancelled
from jacviz.nets.networks import (
    MAX_OUTPUTS,
    MAX_UNPACKED_BYTES,
    NetworkError,
    load_network,
    load_network_bytes,
    make_mlp,
)
from jacviz.nets.networks.loading import load_in_process


class Loops(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        while bool(x.sum() > -1e30):  # data-dependent, so TorchScript keeps it: forever
            x = x * 1.0
        return x


class Crawls(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(1000000000):
            x = torch.tanh(x @ torch.eye(2, dtype=x.dtype))
        return x


class FailsForBigBatches(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 5:
            raise RuntimeError("batches larger than 5 are not supported")
        return torch.tanh(x)


class LoopsForBigBatches(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 5:
            while bool(x.sum() > -1e30):
                x = x * 1.0
        return torch.tanh(x)


class AllocatesForBigBatches(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 5:
            big = torch.ones(x.shape[0] * 1000, 1_000_000)  # 8 TB for 2048 points
            x = x + big.sum()
        return torch.tanh(x)


class FailsAtSeventeen(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 17:
            raise RuntimeError("seventeen points break me")
        return torch.tanh(x)


class Prints(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        print("forward called with", x.shape[0], "points")
        return torch.tanh(x)


class ManyOutputs(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1].repeat(1, 262144)


def scripted(module: nn.Module, folder, name: str = "net.pt"):
    path = folder / name
    torch.jit.save(torch.jit.script(module), path, _extra_files={"jacviz.json": '{"input_dim": 2}'})
    return path


@pytest.fixture
def short_limits(monkeypatch):
    """Limits that keep hostile tests quick; the small networks here need milliseconds."""
    monkeypatch.setattr(hosted, "LOAD_TIME_LIMIT", 10.0)
    monkeypatch.setattr(hosted, "CALL_TIME_LIMIT", 10.0)
    monkeypatch.setattr(hosted, "MEMORY_LIMIT", 1024**3)


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("module", "fragment"),
    [
        (Loops(), "took longer than 10 s"),
        (Crawls(), "took longer than 10 s"),
        (LoopsForBigBatches(), "took longer than 10 s"),
        (FailsForBigBatches(), "batches larger than 5 are not supported"),
        (AllocatesForBigBatches(), "memory"),
        (ManyOutputs(), f"at most {MAX_OUTPUTS:,}"),
    ],
    ids=["loops", "crawls", "loops-big", "fails-big", "allocates-big", "outputs"],
)
def test_hostile_forwards_are_refused_with_one_line(tmp_path, short_limits, module, fragment):
    path = scripted(module, tmp_path)
    with pytest.raises(NetworkError) as raised:
        load_network(path)
    message = str(raised.value)
    assert "\n" not in message and "net.pt" in message
    assert fragment in message, message


@pytest.mark.timeout(180)
def test_a_failure_at_an_odd_batch_size_is_one_line_and_the_network_lives_on(tmp_path):
    network = load_network(scripted(FailsAtSeventeen(), tmp_path))
    assert isinstance(network, HostedNetwork)
    with pytest.raises(NetworkError, match="seventeen points break me") as raised:
        network.evaluate(np.zeros((17, 2)))
    assert "\n" not in str(raised.value)
    np.testing.assert_allclose(network.evaluate(np.full((3, 2), 0.5)), np.tanh(0.5))
    network.close()


@pytest.mark.timeout(180)
def test_a_call_over_the_time_limit_stops_the_network_for_good(tmp_path, monkeypatch):
    class LoopsAtSeventeen(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[0] == 17:
                while bool(x.sum() > -1e30):
                    x = x * 1.0
            return torch.tanh(x)

    data = scripted(LoopsAtSeventeen(), tmp_path).read_bytes()
    network = HostedNetwork(data, "net.pt", load=load_in_process)
    network.call_time_limit = 2.0
    with pytest.raises(NetworkError, match="took longer than 2 s on 17 points"):
        network.evaluate(np.zeros((17, 2)))
    assert not network.alive
    with pytest.raises(NetworkError, match="not running any more"):
        network.evaluate(np.zeros((1, 2)))


@pytest.mark.timeout(180)
def test_what_a_network_prints_never_reaches_our_output(tmp_path, capfd):
    network = load_network(scripted(Prints(), tmp_path))
    network.evaluate(np.zeros((4, 2)))
    out, err = capfd.readouterr()
    assert "forward called" not in out + err
    assert any("printed" in note and "forward called with" in note for note in network.notes())
    network.close()


@pytest.mark.timeout(180)
def test_hosted_values_and_jacobians_match_the_network_run_here(tmp_path):
    model = make_mlp([2, 16, 3], "tanh", seed=4, dtype=torch.float64).eval()
    path = scripted(model, tmp_path)
    there = load_network(path)
    here = load_network(path, isolated=False).as_map()
    points = np.random.default_rng(0).uniform(-2, 2, size=(5000, 2))  # more than one chunk
    values, jacobian = there.evaluate_with_jacobian(points)
    expected_values, expected_jacobian = here.evaluate_with_jacobian(points)
    # The same float64 computation in both processes, the child on one thread: sums of at
    # most 16 products may be added in another order, a few ulps (measured: 1 ulp).
    np.testing.assert_allclose(values, expected_values, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(jacobian, expected_jacobian, rtol=1e-13, atol=1e-15)
    few = there.evaluate(points[:7])
    np.testing.assert_allclose(few, expected_values[:7], rtol=1e-13, atol=1e-15)
    there.close()


@pytest.mark.timeout(180)
def test_loading_can_be_cancelled_from_another_thread(tmp_path):
    data = scripted(Loops(), tmp_path).read_bytes()
    started = threading.Event()
    original = hosted.Isolated

    class Spy(original):  # type: ignore[misc, valid-type]
        def _answer(self, *args, **kwargs):
            started.set()
            return super()._answer(*args, **kwargs)

        def __init__(self, *args, **kwargs):
            Spy.last = self
            super().__init__(*args, **kwargs)

    hosted.Isolated = Spy
    try:
        threading.Thread(target=lambda: started.wait(60) and Spy.last.cancel()).start()
        with pytest.raises(LoadCancelled):
            load_network_bytes(data, "loops.pt")
    finally:
        hosted.Isolated = original


# ---- archives that would unpack to too much -------------------------------------------------


def _bomb(declared: int, entries: int = 1) -> bytes:
    """A TorchScript-shaped zip whose entries inflate to ``declared`` bytes in all."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("net/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("net/code/__torch__.py", b"")
        chunk = b"\0" * (declared // entries)
        for index in range(entries):
            archive.writestr(f"net/data/{index}", chunk)
    return buffer.getvalue()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("entries", [1, 64], ids=["one-entry", "many-entries"])
def test_a_zip_bomb_is_refused_before_anything_is_unpacked(monkeypatch, entries):
    data = _bomb(MAX_UNPACKED_BYTES + 1024, entries)
    assert len(data) < MAX_UNPACKED_BYTES // 100  # small on disk, huge unpacked
    readers = []
    real_reader = torch._C.PyTorchFileReader
    spy = lambda *a: readers.append(a) or real_reader(*a)  # noqa: E731
    monkeypatch.setattr(torch._C, "PyTorchFileReader", spy)
    with pytest.raises(NetworkError, match="zip bomb"):
        load_network_bytes(data, "bomb.pt")
    assert readers == [], "torch's reader was opened on the bomb"


def test_an_ordinary_archive_is_well_under_the_unpacked_bound(tmp_path):
    path = scripted(make_mlp([2, 64, 64, 2]), tmp_path)
    with zipfile.ZipFile(path) as archive:
        unpacked = sum(entry.file_size for entry in archive.infolist())
    assert unpacked < MAX_UNPACKED_BYTES / 1000
    assert json.loads(zipfile.ZipFile(path).read("net/extra/jacviz.json")) == {"input_dim": 2}


# ---- the command line ------------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_probe_json_stays_json_when_the_network_prints(tmp_path, capsys):
    from jacviz.cli import main

    path = scripted(Prints(), tmp_path)
    assert main(["probe", "--network", str(path), "--at", "0.5,0.5", "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)  # nothing the network printed got in
    assert err == ""
    assert any("printed" in w and "forward called with" in w for w in report["warnings"])
    np.testing.assert_allclose(report["value"], np.tanh([0.5, 0.5]))


@pytest.mark.timeout(180)
def test_probe_of_a_looping_network_is_one_line_at_the_time_limit(tmp_path, capsys, short_limits):
    from jacviz.cli import main

    assert main(["probe", "--network", str(scripted(Loops(), tmp_path)), "--at", "0,0"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "took longer than 10 s" in err


def test_opening_the_app_on_a_network_with_code_runs_none_of_it_first(tmp_path, monkeypatch):
    import jacviz.gui.shell.app
    from jacviz.cli import main

    def no_hosting(*args, **kwargs):
        raise AssertionError("the command line ran the network's code")

    monkeypatch.setattr(hosted, "Isolated", no_hosting)
    opened = []
    monkeypatch.setattr(
        jacviz.gui.shell.app,
        "run_app",
        lambda state=None, network=None: opened.append(network) or 0,
    )
    path = scripted(Loops(), tmp_path)
    assert main([str(path)]) == 0  # the app opens it in the background, with a Cancel
    assert opened == [str(path.resolve())]
