"""Seeded fuzzing of the ``jacviz`` command line: absurd values for every subcommand and option.

Each case runs ``python -m jacviz ...`` in a fresh process with a time limit, and must end
with exit status 0 or 2, at most one line on stderr (exactly one, starting with
``jacviz: error:``, for status 2), no traceback, and for ``--json`` one line of strict JSON.
A quarter of the cases run with a strict UTF-8 or an ASCII stdout.

Run: ``python tests/cli_fuzz.py [--cases N] [--seed S] [--jobs J]``. The same seed gives the
same cases; failures are printed with the command line that reproduces them. The small fixed
subset in ``tests/test_cli.py`` keeps the classes this campaign found.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

OUTCOMES: Counter = Counter()
"""(subcommand, exit status) of every case run: a campaign that only meets refusals tests
little."""

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

NUMBERS = [
    "1e308", "-1e308", "1e999", "9" * 400, "1e-320", "0", "-0", "-1", "-1e5", "1e9",
    "nan", "NaN", "inf", "-inf", "Infinity", "１", "١٢", "²", "1_0", "0x10", "0b1", "1j",
    "", " ", "\t", "1" * 5000, "x" * 5000, "1e", ".", "+", "1,2", "\x1b[31m", "\udcff",
    "1\n2", "3", "0.5", "2", "100", "65", "4097", "10000", "1e6", "2e9",
]  # fmt: skip
PLAIN = ["0", "1", "0.5", "-0.25", "2", "1e-3", " 3 ", "+1", ".5", "7."]
"""Ordinary values: a good share of the cases must get past the checks."""
WHOLE_NUMBERS = [*NUMBERS, "4", "40", "513", str(2**63), str(2**64), "-5", "1.0", "1e3"]
FORMULAS = [
    "x, y", "x**2 + y, x*y", "", ",", "x", "x, y, z", "1/x, y", "x*1e308, y", "exp(x*1000), y",
    "x" * 5000, "\udcff, y", "__import__('os'), y", "x\n, y", "9**9**9**9, y",
    "log(x), sqrt(y)", "x, y, x*y, x-y",
]  # fmt: skip


@dataclass
class Case:
    argv: list[str]
    env: dict[str, str]
    timeout: float

    def command(self) -> str:
        shown = " ".join(
            repr(a) if (not a or not a.isprintable() or " " in a) else a for a in self.argv
        )
        extra = " ".join(f"{k}={v}" for k, v in self.env.items() if k.startswith("PYTHONIO"))
        return f"{extra} jacviz {shown}".strip()


def files(folder: Path) -> dict[str, list[str]]:
    """Hostile inputs and outputs on disk, made once."""
    folder.mkdir(parents=True, exist_ok=True)
    fifo = folder / "pipe"
    if not fifo.exists():
        os.mkfifo(fifo)
    (folder / "dir.csv").mkdir(exist_ok=True)
    (folder / "empty.csv").write_text("")
    (folder / "garbage.bin").write_bytes(bytes(range(256)) * 8)
    (folder / "bom.csv").write_bytes(b"\xef\xbb\xbfx,y,label\n1,2,a\n3,4,b\n5,6,a\n7,8,b\n")
    good = "x,y,label\n" + "".join(f"{i / 10},{(i * 7 % 11) / 10},{i % 2}\n" for i in range(40))
    (folder / "good.csv").write_text(good)
    (folder / "huge.csv").write_text(
        "x,y,label\n" + "".join(f"{i}e307,{-i}e307,{i % 2}\n" for i in range(1, 41))
    )
    (folder / "nan.csv").write_text("x,y,label\nnan,1,a\n1,2,b\n")
    (folder / "unicode.csv").write_text("x,y,label\n１,2,a\n3,4,b\n")
    (folder / "underscore.csv").write_text("x,y,label\n1_0,2,a\n3,4,b\n")
    (folder / "long_label.csv").write_text(f"x,y,label\n1,2,{'a' * 5000}\n3,4,b\n")
    (folder / "one_class.csv").write_text("x,y,label\n1,2,a\n3,4,a\n")
    (folder / "edge.csv").write_text("x,y,label\n1e6,1e6,a\n-1e6,-1e6,b\n1e6,-1e6,a\n0,0,b\n")
    (folder / "line.csv").write_text("x,y,label\n0,0,a\n1e6,0,b\n5e5,0,a\n2e5,0,b\n")
    name = os.fsdecode(bytes(folder) + b"/\xff.csv")
    Path(name).write_text(good)
    newline = folder / "new\nline.csv"
    newline.write_text(good)
    with open(folder / "sparse.csv", "wb") as handle:
        handle.truncate(20 * 1024 * 1024)
    session = folder / "bad.jacviz"
    session.write_text('{"format": "jacviz-session", "version": 1, "view": {"domain": [1e308]}}')
    csvs = [str(p) for p in sorted(folder.glob("*.csv"))] + [name, str(newline), str(fifo)]
    networks = [str(p) for p in sorted(EXAMPLES.glob("*.safetensors"))[:3]]
    networks += [str(EXAMPLES / "coupling_flow.pt"), str(folder / "garbage.bin"), str(fifo)]
    networks += ["/dev/zero", str(folder), str(folder / "missing.pt"), "/" + "n" * 5000]
    outs_png = [
        str(folder / "out.png"),
        os.fsdecode(bytes(folder) + b"/\xfe.png"),
        str(folder / "dir.csv"),
        str(fifo),
        "/dev/null",
        str(folder / "missing" / "x.png"),
        str(folder / "x.bmp"),
        str(folder / "out.svg"),
        str(folder / "out.pdf"),
        str(folder / ("o" * 300 + ".png")),
    ]
    outs_model = [
        str(folder / "m.safetensors"),
        os.fsdecode(bytes(folder) + b"/\xfd.safetensors"),
        str(fifo),
        "/dev/null",
        str(folder),
        str(folder / "missing" / "m.safetensors"),
    ]
    sessions = [str(session), str(folder / "garbage.bin"), str(fifo), str(folder / "none.jacviz")]
    return {
        "csv": csvs,
        "network": networks,
        "png": outs_png,
        "model": outs_model,
        "session": sessions,
    }


def pick(rng: random.Random, pool: list[str]) -> str:
    return rng.choice(pool)


def point(rng: random.Random, count: int) -> str:
    def coordinate() -> str:
        roll = rng.random()
        if roll < 0.25:
            return pick(rng, NUMBERS)
        return pick(rng, PLAIN) if roll < 0.5 else repr(rng.uniform(-3, 3))

    return ",".join(coordinate() for _ in range(count))


def probe_case(rng: random.Random, disk: dict) -> list[str]:
    argv = ["probe"]
    if rng.random() < 0.6:
        argv += ["--map", pick(rng, FORMULAS)]
    else:
        argv += ["--network", pick(rng, disk["network"])]
    argv += ["--at", point(rng, rng.choice([2, 2, 2, 1, 3, 0]))]
    if rng.random() < 0.5:
        argv.append("--json")
    return argv


TRAIN_OPTIONS = {
    "--points": WHOLE_NUMBERS,
    "--noise": NUMBERS,
    "--classes": WHOLE_NUMBERS,
    "--test-fraction": NUMBERS,
    "--jr-lambda": NUMBERS,
    "--n-proj": WHOLE_NUMBERS,
    "--learning-rate": NUMBERS,
    "--batch-size": WHOLE_NUMBERS,
    "--weight-decay": NUMBERS,
    "--steps": WHOLE_NUMBERS,
    "--seed": WHOLE_NUMBERS,
    "--hidden": [*WHOLE_NUMBERS, "4,4", "1,2,3,4,5,6,7", "4,,4", "4," * 2000],
    "--epsilons": [*NUMBERS, "0.1,0.2", ",".join(["0.1"] * 20), "0.1,-1"],
    "--estimator": ["exact", "random", "", "x" * 5000],
    "--activation": ["tanh", "relu", "gelu", "softplus", "sigmoid"],
    "--optimizer": ["adam", "sgd", "lbfgs"],
    "--dataset": ["moons", "circles", "xor", "spirals", "spirals3", "blobs", "\udcff"],
}


# Values that would make a valid run slow: in the campaign, they stay refused.
def _above(limit: int):
    def slow(value: str) -> bool:
        digits = value.strip()
        return digits.isascii() and digits.isdigit() and (len(digits) > 9 or int(digits) > limit)

    return slow


SLOW = {"--points": _above(2000), "--steps": _above(200)}


def train_case(rng: random.Random, disk: dict) -> list[str]:
    base = {"--steps": "5", "--points": "40", "--hidden": "4", "--epsilons": "0.1"}
    for option in rng.sample(sorted(TRAIN_OPTIONS), rng.randint(1, 3)):
        pool = TRAIN_OPTIONS[option]
        value = pick(rng, PLAIN if rng.random() < 0.3 and pool is NUMBERS else pool)
        if SLOW.get(option, lambda v: False)(value):
            value = value + "0" * 20  # far out of range instead: refused at once
        base[option] = value
    argv = ["train"]
    for option, value in base.items():
        argv += [option, value]
    if rng.random() < 0.3:
        if "--dataset" in argv:  # --csv and --dataset exclude each other
            i = argv.index("--dataset")
            del argv[i : i + 2]
        argv += ["--csv", pick(rng, disk["csv"])]
    if rng.random() < 0.25:
        argv += ["--out", pick(rng, disk["model"])]
    if rng.random() < 0.5:
        argv.append("--json")
    return argv


RENDER_OPTIONS = {
    "--view": ["warp", "input", "regions", "layers", "composite", "", "v" * 5000],
    "--heatmap": ["det", "logdet", "smax", "smin", "cond", "frob", "classes", "none", "x"],
    "--probe": None,
    "--domain": None,
    "--size": ["400x400", "100x100", "99x99", "10001x100", "1_00x100", "１００x100", "x", "",
               "400X300", "400x300x2", "-400x400", "9" * 400 + "x100", "720x720"],
    "--scale": NUMBERS,
    "--layer": WHOLE_NUMBERS,
}  # fmt: skip


def render_case(rng: random.Random, disk: dict) -> list[str]:
    argv = ["render"]
    roll = rng.random()
    if roll < 0.6:
        argv += ["--map", pick(rng, FORMULAS)]
    elif roll < 0.9:
        argv += ["--network", pick(rng, disk["network"])]
    else:
        argv += ["--session", pick(rng, disk["session"])]
    for option in rng.sample(sorted(RENDER_OPTIONS), rng.randint(0, 2)):
        if option == "--probe":
            value = point(rng, rng.choice([2, 2, 1]))
        elif option == "--domain":
            value = point(rng, rng.choice([4, 4, 4, 3]))
        else:
            pool = RENDER_OPTIONS[option]
            value = pick(rng, PLAIN if rng.random() < 0.3 and pool is NUMBERS else pool)
        argv += [option, value]
    argv += ["--out", pick(rng, disk["png"])]
    return argv


def top_level_case(rng: random.Random, disk: dict) -> list[str]:
    # Only inputs the app refuses before opening: a valid one would open the window.
    roll = rng.random()
    if roll < 0.4:
        return ["--map", pick(rng, ["", "x", "x +* y", "9**9**9**9, y", "x" * 5000, "\udcff"])]
    if roll < 0.7:
        return [pick(rng, [p for p in disk["network"] if "examples" not in p])]
    if roll < 0.85:
        return ["--session", pick(rng, disk["session"])]
    return [pick(rng, ["frobnicate", "w" * 5000, "\udcff", "-", "--", "--bogus", "probe x"])]


def make_cases(count: int, seed: int, disk: dict) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.35:
            argv, timeout = probe_case(rng, disk), 60.0
        elif roll < 0.7:
            argv, timeout = train_case(rng, disk), 90.0
        elif roll < 0.9:
            argv, timeout = render_case(rng, disk), 120.0
        else:
            argv, timeout = top_level_case(rng, disk), 60.0
        env = {}
        encoding = rng.random()
        if encoding < 0.15:
            env["PYTHONIOENCODING"] = "utf-8:strict"
        elif encoding < 0.25:
            env["PYTHONIOENCODING"] = "ascii:strict"
        cases.append(Case(argv, env, timeout))
    return cases


def problem(case: Case, home: Path) -> str | None:
    """Why the run of ``case`` breaks the rules, or None."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(case.env, QT_QPA_PLATFORM="offscreen", HOME=str(home), XDG_CONFIG_HOME=str(home))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "jacviz", *case.argv],
            capture_output=True,
            timeout=case.timeout,
            env=env,
            stdin=subprocess.DEVNULL,
            cwd=home,
        )
    except subprocess.TimeoutExpired:
        return f"no answer within {case.timeout:g} s"
    err = result.stderr.decode("utf-8", "backslashreplace")
    lines = err.splitlines()
    OUTCOMES[_kind(case), result.returncode] += 1
    if "Traceback" in err:
        return f"traceback: {err[-300:]!r}"
    if result.returncode not in (0, 2):
        return f"exit status {result.returncode}: {err[:300]!r}"
    if result.returncode == 2 and (len(lines) != 1 or not lines[0].startswith("jacviz: error:")):
        return f"status 2 with stderr {err[:300]!r}"
    if result.returncode == 0 and lines:
        return f"status 0 with stderr {err[:300]!r}"
    if len(err) > 400:
        return f"a {len(err)}-character error line"
    if result.returncode == 0 and "--json" in case.argv:
        return _json_problem(result.stdout)
    return None


class _Hang(Exception):
    pass


def problem_in_process(case: Case, home: Path) -> str | None:
    """As :func:`problem`, but calling ``jacviz.cli.main`` here: ~20× faster, same checks.

    stdout and stderr are swapped for strict streams of the case's encoding; SIGALRM stands
    in for the time limit. What only a fresh process shows (Qt's own output, interpreter
    start-up) is left to :func:`problem`.
    """
    import io
    import signal

    from jacviz.cli import main as jacviz_main

    encoding = case.env.get("PYTHONIOENCODING", "utf-8").split(":")[0]
    out = io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict", write_through=True)
    saved = sys.stdout, sys.stderr, os.getcwd()

    def alarm(*_args: object) -> None:
        raise _Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(int(case.timeout))
    try:
        sys.stdout, sys.stderr = out, err
        os.chdir(home)
        status: object = jacviz_main(list(case.argv))
    except _Hang:
        return f"no answer within {case.timeout:g} s"
    except SystemExit as exit_:
        status = exit_.code
    except BaseException as error:  # anything escaping main is the finding
        status = f"raised {type(error).__name__}: {error}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        sys.stdout, sys.stderr = saved[0], saved[1]
        os.chdir(saved[2])
    stdout = out.buffer.getvalue()
    stderr = err.buffer.getvalue().decode(encoding, "backslashreplace")
    lines = stderr.splitlines()
    OUTCOMES[_kind(case), status if isinstance(status, int) else "raised"] += 1
    if isinstance(status, str):
        return status[:300]
    if "Traceback" in stderr:
        return f"traceback: {stderr[-300:]!r}"
    if status not in (0, 2):
        return f"exit status {status}: {stderr[:300]!r}"
    if status == 2 and (len(lines) != 1 or not lines[0].startswith("jacviz: error:")):
        return f"status 2 with stderr {stderr[:300]!r}"
    if status == 0 and lines:
        return f"status 0 with stderr {stderr[:300]!r}"
    if len(stderr) > 400:
        return f"a {len(stderr)}-character error line"
    if status == 0 and "--json" in case.argv:
        return _json_problem(stdout)
    return None


def _json_problem(stdout: bytes) -> str | None:
    def refuse(constant: str) -> object:
        raise ValueError(f"JSON has {constant}")

    try:
        json.loads(stdout, parse_constant=refuse)
    except ValueError as error:
        return f"stdout is not strict JSON: {error}: {stdout[:200]!r}"
    return None


def _kind(case: Case) -> str:
    return case.argv[0] if case.argv[0] in ("probe", "train", "render") else "app"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", choices=("probe", "train", "render", "app"), default=None)
    parser.add_argument(
        "--in-process", action="store_true", help="call main() here instead of a new process"
    )
    parser.add_argument("--verbose", action="store_true", help="name each case before it runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jacviz-fuzz-") as folder:
        disk = files(Path(folder) / "inputs")
        cases = make_cases(args.cases, args.seed, disk)
        if args.only:
            cases = [c for c in cases if _kind(c) == args.only]
        homes = [Path(folder) / f"home{i}" for i in range(len(cases))]
        for home in homes:
            home.mkdir()
        if args.in_process:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
            # The app would open a window: in-process runs skip the top-level cases.
            cases = [c for c in cases if _kind(c) != "app"]
            results = []
            for number, (case, home) in enumerate(zip(cases, homes, strict=False)):
                if args.verbose:
                    print(f"{number}: {case.command()[:200]}", file=sys.__stderr__, flush=True)
                results.append(problem_in_process(case, home))
        else:
            with ThreadPoolExecutor(args.jobs) as pool:
                results = list(pool.map(problem, cases, homes))
    failures = [(c, r) for c, r in zip(cases, results, strict=True) if r is not None]
    for case, reason in failures:
        print(f"FAIL {case.command()[:400]}\n     {reason}")
    print(
        "outcomes:", ", ".join(f"{k} {s}: {n}" for (k, s), n in sorted(OUTCOMES.items(), key=str))
    )
    print(f"{len(cases)} cases, {len(failures)} failures (seed {args.seed})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
