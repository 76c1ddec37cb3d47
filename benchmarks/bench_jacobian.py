"""Benchmark Jacobian fields and closed-form singular values of a 2-64-64-64-2 tanh MLP."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jacviz.math.jacobian import (
    CHUNK_SIZE,
    autograd_jacobian,
    sequential_jacobian,
    singular_values,
)
from jacviz.nets.networks import load_network, make_mlp, save_mlp

JACOBIAN_TARGET = 1.7  # Jacobian-field time / forward-pass time
SPEEDUP_TARGET = 20.0  # closed-form singular values vs torch.linalg.svdvals
ERROR_TARGET = 1e-6  # max relative error of our singular values vs float64 numpy SVD


def make_grid(size: int) -> torch.Tensor:
    axis = torch.linspace(-3.0, 3.0, size)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1).contiguous()


def chunked_forward(model: nn.Module, points: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """The baseline: the model's own forward pass, chunked exactly like the Jacobian."""
    out = torch.empty((points.shape[0], 2))
    with torch.inference_mode():
        for start in range(0, points.shape[0], chunk_size):
            out[start : start + chunk_size] = model(points[start : start + chunk_size])
    return out


def numpy_tanh_forward(model: nn.Sequential, points: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """The same forward pass with numpy's tanh, as sequential_jacobian computes its values.

    Only for context: the Jacobian over *this* forward is the like-for-like ratio.
    """
    out = torch.empty((points.shape[0], 2))
    with torch.inference_mode():
        for start in range(0, points.shape[0], chunk_size):
            h = points[start : start + chunk_size]
            for layer in model:
                if isinstance(layer, nn.Linear):
                    h = torch.nn.functional.linear(h, layer.weight, layer.bias)
                else:
                    np.tanh(h.numpy(), out=h.numpy())
            out[start : start + chunk_size] = h
    return out


def interleaved_medians(
    funcs: dict[str, Callable[[], object]], repeats: int, block: int = 1, warmup: int = 2
) -> dict[str, float]:
    """Median wall time of each function over ``repeats`` runs.

    The functions take turns in blocks of ``block`` back-to-back runs (rotating the order), so
    load changes on this shared 2-core machine hit all of them alike, while blocks keep each one
    measured with warm caches, as in an app that calls it repeatedly.
    """
    for _ in range(warmup):
        for func in funcs.values():
            func()
    times: dict[str, list[float]] = {name: [] for name in funcs}
    names = list(funcs)
    for turn in range(-(-repeats // block)):
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            for _ in range(block):
                start = time.perf_counter()
                funcs[name]()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def max_relative_error(approx: np.ndarray, reference: np.ndarray) -> float:
    """Largest |approx - ref| / ref over all singular values (relative to sigma_1 where ref = 0)."""
    denominator = np.where(reference > 0, reference, reference[:, :1])
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.abs(approx - reference) / denominator
    error = np.where(denominator > 0, error, np.abs(approx - reference))
    return float(np.max(error))


def exact_sigma2_error(jac: np.ndarray, approx: np.ndarray, reference: np.ndarray, count: int):
    """Relative error of sigma_2 against exact arithmetic at the ``count`` worst points.

    sigma_2 = |det| / sigma_1 with the determinant of the stored float32 entries in rationals and
    sigma_1 from the float64 SVD (well conditioned): numpy's own sigma_2 is only accurate to
    ~eps * sigma_1 absolute, which dominates the comparison above at ill-conditioned points.
    """
    worst = np.argsort(np.abs(approx[:, 1] - reference[:, 1]) / reference[:, 1])[-count:]
    errors = []
    for i in worst:
        a, b, c, d = (Fraction(float(v)) for v in jac[i].ravel())
        exact = abs(float(a * d - b * c)) / reference[i, 0]
        errors.append(abs(approx[i, 1] - exact) / exact if exact else abs(approx[i, 1]))
    return float(max(errors))


def saved_networks(model: torch.nn.Module, folder: Path) -> dict[str, Path]:
    """``model`` saved in each format a user can load, keyed by format name."""
    paths = {
        "jacviz-mlp": folder / "mlp.safetensors",
        "torchscript": folder / "mlp_script.pt",
        "torch-export": folder / "mlp_export.pt2",
    }
    save_mlp(model, paths["jacviz-mlp"])
    torch.jit.save(torch.jit.script(model), str(paths["torchscript"]))
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (torch.zeros(8, 2),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(paths["torch-export"]))
    return paths


def loaded_network_ratios(
    model: torch.nn.Module, points: np.ndarray, repeats: int
) -> dict[str, dict[str, Any]]:
    """Jacobian field / forward through the app's path (load_network → TorchMap), per format.

    A user's own network must not silently take a path several times slower: this prints the
    ratio and the method each format gets.
    """
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for kind, path in saved_networks(model, Path(folder)).items():
            map_ = load_network(path).as_map()
            times = interleaved_medians(
                {
                    "forward": lambda m=map_: m.evaluate(points),
                    "jacobian": lambda m=map_: m.evaluate_with_jacobian(points),
                },
                repeats,
                block=3,
            )
            results[kind] = {
                "method": map_.jacobian_method,
                "jacobian_over_forward": times["jacobian"] / times["forward"],
                "forward_ms": times["forward"] * 1e3,
                "jacobian_ms": times["jacobian"] * 1e3,
            }
    return results


SMALL_SIZES = (1, 16)
"""Batches the numpy route takes for this MLP: the probe's point, and its limit (SMALL_WORK)."""


def small_batch_routes(model: nn.Module, repeats: int) -> dict[str, dict[str, float]]:
    """Milliseconds of value + Jacobian for a few points: the numpy route against torch's walk.

    A probe move takes the numpy route (jacviz.math.jacobian.small); the torch walk is timed by
    switching the route off, interleaved with it.
    """
    from jacviz.math.jacobian import sequential

    route = sequential.numpy_chain

    def torch_walk(points: torch.Tensor) -> object:
        sequential.numpy_chain = lambda *_: None
        try:
            return sequential_jacobian(model, points)
        finally:
            sequential.numpy_chain = route

    results = {}
    for size in SMALL_SIZES:
        points = make_grid(64)[:size].contiguous()
        times = interleaved_medians(
            {
                "numpy": lambda points=points: sequential_jacobian(model, points),
                "torch": lambda points=points: torch_walk(points),
            },
            repeats * 20,
            block=10,
        )
        results[str(size)] = {"numpy_ms": times["numpy"] * 1e3, "torch_ms": times["torch"] * 1e3}
    return results


def run(grid: int, repeats: int, chunk_size: int) -> dict[str, Any]:
    model = make_mlp([2, 64, 64, 64, 2], activation="tanh", seed=0)
    points = make_grid(grid)
    fields = interleaved_medians(
        {
            "forward": lambda: chunked_forward(model, points, chunk_size),
            "sequential": lambda: sequential_jacobian(model, points, chunk_size),
            "autograd": lambda: autograd_jacobian(model, points, chunk_size),
            "numpy_tanh_forward": lambda: numpy_tanh_forward(model, points, chunk_size),
        },
        repeats,
        block=3,
    )
    result = sequential_jacobian(model, points, chunk_size)
    assert result is not None
    jac = result[1]  # float32, as computed
    jac_np = jac.numpy()
    svd_times = interleaved_medians(
        {
            "closed_form": lambda: singular_values(jac_np),
            "svdvals": lambda: torch.linalg.svdvals(jac),
        },
        repeats,
        block=5,
    )
    reference = np.linalg.svd(jac_np.astype(np.float64), compute_uv=False)
    ours = singular_values(jac_np)
    forward = fields["forward"]
    return {
        "jacobian_over_forward": fields["sequential"] / forward,
        "autograd_over_forward": fields["autograd"] / forward,
        "svd_speedup": svd_times["svdvals"] / svd_times["closed_form"],
        "svd_max_rel_error": max_relative_error(ours, reference),
        "svdvals_max_rel_error": max_relative_error(
            torch.linalg.svdvals(jac).double().numpy(), reference
        ),
        "grid": grid,
        "jacobian_over_numpy_tanh_forward": fields["sequential"] / fields["numpy_tanh_forward"],
        "svd_sigma2_rel_error_vs_exact_worst20": exact_sigma2_error(jac_np, ours, reference, 20),
        "points": points.shape[0],
        "repeats": repeats,
        "chunk_size": chunk_size,
        "forward_ms": forward * 1e3,
        "numpy_tanh_forward_ms": fields["numpy_tanh_forward"] * 1e3,
        "sequential_jacobian_ms": fields["sequential"] * 1e3,
        "autograd_jacobian_ms": fields["autograd"] * 1e3,
        "singular_values_ms": svd_times["closed_form"] * 1e3,
        "svdvals_ms": svd_times["svdvals"] * 1e3,
        "loaded_networks": loaded_network_ratios(model, points.numpy(), max(5, repeats // 3)),
        "small_batches": small_batch_routes(model, repeats),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "pass": {
            "jacobian_over_forward": fields["sequential"] / forward <= JACOBIAN_TARGET,
            "svd_speedup": svd_times["svdvals"] / svd_times["closed_form"] >= SPEEDUP_TARGET,
            "svd_max_rel_error": max_relative_error(ours, reference) <= ERROR_TARGET,
        },
    }


def report(res: dict[str, Any]) -> None:
    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    ratio = res["jacobian_over_forward"]
    speedup = res["svd_speedup"]
    error = res["svd_max_rel_error"]
    print(
        f"grid {res['grid']}x{res['grid']} ({res['points']} points), chunks of "
        f"{res['chunk_size']}, {res['repeats']} repeats per method (interleaved), "
        f"{res['torch_threads']} torch threads"
    )
    print(f"forward pass, model(x) chunked         {res['forward_ms']:8.2f} ms")
    print(
        f"sequential_jacobian / forward          {ratio:8.2f} x    "
        f"target <= {JACOBIAN_TARGET}  {verdict(ratio <= JACOBIAN_TARGET)}   "
        f"({res['sequential_jacobian_ms']:.2f} ms)"
    )
    print(
        f"autograd_jacobian / forward            {res['autograd_over_forward']:8.2f} x    "
        f"(generic fallback, {res['autograd_jacobian_ms']:.2f} ms)"
    )
    like_for_like = res["jacobian_over_numpy_tanh_forward"]
    print(
        f"sequential_jacobian / numpy-tanh fwd   {like_for_like:8.2f} x    "
        "(like for like: a forward with numpy's tanh, as sequential_jacobian uses, "
        f"{res['numpy_tanh_forward_ms']:.2f} ms)"
    )
    print(
        f"singular_values speedup vs svdvals     {speedup:8.1f} x    "
        f"target >= {SPEEDUP_TARGET:g}   {verdict(speedup >= SPEEDUP_TARGET)}   "
        f"({res['singular_values_ms']:.3f} ms vs {res['svdvals_ms']:.2f} ms)"
    )
    print(
        f"singular_values max rel. error         {error:8.1e}      "
        f"target <= {ERROR_TARGET:g}  {verdict(error <= ERROR_TARGET)}   "
        f"(svdvals: {res['svdvals_max_rel_error']:.1e}; vs float64 numpy.linalg.svd)"
    )
    for kind, loaded in res["loaded_networks"].items():
        print(
            f"loaded {kind:<13} Jacobian / forward {loaded['jacobian_over_forward']:8.2f} x    "
            f"({loaded['method']}; {loaded['jacobian_ms']:.1f} ms vs {loaded['forward_ms']:.1f} ms,"
            " through load_network and TorchMap as the app uses them)"
        )
    for size, routes in res["small_batches"].items():
        print(
            f"value + Jacobian at {size:>3} point(s)      "
            f"{routes['torch_ms'] / routes['numpy_ms']:8.2f} x    (torch's walk over the numpy "
            f"route: {routes['torch_ms']:.3f} ms vs {routes['numpy_ms']:.3f} ms)"
        )
    print(
        f"  sigma_2 vs exact det, worst 20       "
        f"{res['svd_sigma2_rel_error_vs_exact_worst20']:8.1e}      "
        "(the error above is numpy's: eps * sigma_1 at ill-conditioned points)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--grid", type=int, default=256, help="grid points per side")
    parser.add_argument("--repeats", type=int, default=25, help="timed repeats per method")
    parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help="points per chunk")
    args = parser.parse_args(argv)
    res = run(args.grid, args.repeats, args.chunk_size)
    if args.json:
        print(json.dumps(res))
    else:
        report(res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
