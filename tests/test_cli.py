"""The fastmlp command line: argparse errors (never tracebacks), info, demo, train, bench,
experiments, and ``python -m fastmlp``."""
from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import cli
from fastmlp.datasets import _loaders


def run_main(argv, capsys):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse exits
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def run_module(*args, timeout=300, env=None):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "fastmlp", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


@pytest.mark.parametrize("argv,expect", [
    (["train", "--hidden", "abc"], "argument --hidden: expected comma-separated layer widths"),
    (["train", "--hidden", "256,0"], "layer widths must be >= 1"),
    (["train", "--lr", "-1"], "argument --lr: expected a positive number"),
    (["train", "--lr", "nan"], "argument --lr: expected a positive number"),
    (["train", "--batch-size", "0"], "argument --batch-size: expected a positive integer"),
    (["train", "--epochs", "two"], "argument --epochs: expected a positive integer"),
    (["train", "--dataset", "imagenet"], "argument --dataset: invalid choice: 'imagenet'"),
    (["train", "--activation", "swoosh"], "argument --activation: invalid choice"),
    (["train", "--validation-split", "1.5"], "argument --validation-split: expected a number in [0, 1)"),
    (["bench", "--batches", "1,x"], "argument --batches: expected comma-separated integers"),
    (["bench", "--models", "784-9-10"], "argument --models: expected a comma-separated list"),
    (["experiments", "--study", "width"], "argument --study: expected a comma-separated list"),
    (["--threads", "0", "info"], "argument --threads: expected a positive integer"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_give_argparse_errors(argv, expect, capsys):
    code, out, err = run_main(argv, capsys)
    assert code == 2
    assert "usage: fastmlp" in err and expect in err
    assert "Traceback" not in err + out


def test_no_command_prints_help(capsys):
    code, out, _ = run_main([], capsys)
    assert code == 2 and "demo" in out and "bench" in out and "experiments" in out


def test_info(capsys):
    code, out, err = run_main(["info"], capsys)
    assert code == 0, err
    info = fm.cpu_info()
    assert f"fastmlp {fm.__version__}" in out
    assert f"active: {info['isa']}" in out
    assert re.search(r"^threads\s+\d+", out, re.M)
    assert "OpenMP" in out and "sample          bundled" in out
    assert re.search(rf"^int8\s+tier {info['isa']}: ", out, re.M)
    assert re.search(r"^bf16\s+", out, re.M)
    assert set(info["low_precision"]["cpu_has"]) <= set(info["features"])


def test_python_dash_m_and_console_script_entry_point():
    r = run_module("--help", timeout=60)
    assert r.returncode == 0 and "usage: fastmlp" in r.stdout
    r = run_module("train", "--epochs", "-3", timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "--epochs" in r.stderr
    from importlib.metadata import entry_points
    eps = entry_points()
    scripts = eps.select(group="console_scripts") if hasattr(eps, "select") else eps["console_scripts"]
    assert any(ep.name == "fastmlp" and ep.value == "fastmlp.cli:main" for ep in scripts)


def test_cli_is_a_package_the_library_does_not_import():
    # `import fastmlp` must not pull in its faces (the CLI, the plots, matplotlib)
    code = ("import sys, fastmlp; print(sorted(m for m in sys.modules if m.split('.')[0] == "
            "'matplotlib' or m.startswith(('fastmlp.cli', 'fastmlp.plot', 'fastmlp.experiments'))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
    assert cli.__all__ == ["main", "build_parser"]
    import importlib
    main_mod = importlib.import_module("fastmlp.cli.main")  # cli.main is the function
    assert cli.main is main_mod.main and cli.build_parser is main_mod.build_parser
    from fastmlp.cli import bench, experiments
    assert "bench" in dir(cli) and bench.BENCH_MODELS and experiments.STUDIES
    with pytest.raises(ImportError):
        import fastmlp.experiments  # noqa: F401  (moved to fastmlp.cli.experiments)


def test_demo_offline_fast_and_accurate():
    # No proxy, no way out: the demo must not need the network.
    env = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "FASTMLP_DATA": "/nonexistent"}
    t0 = time.perf_counter()
    r = run_module("demo", "--quiet", env=env)
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    acc = float(re.search(r"test accuracy\s+([\d.]+)%", r.stdout).group(1))
    train = re.search(r"training\s+([\d.]+)([kM]?) examples/s", r.stdout)
    infer = re.search(r"inference\s+([\d.]+)([kM]?) images/s", r.stdout)
    assert train and infer, r.stdout
    assert acc >= 78.0, r.stdout
    # The budget is 20 s on 2 cores; CI has the machine to itself.
    assert wall < (20 if os.environ.get("CI") else 120), f"demo took {wall:.1f} s"


def test_train_on_sample_saves_and_plots(tmp_path, capsys):
    model_path = tmp_path / "m.npz"
    argv = ["train", "--dataset", "sample", "--hidden", "32", "--epochs", "2", "--batch-size", "32",
            "--verbose", "2", "--save", str(model_path)]
    try:
        import matplotlib  # noqa: F401
        argv += ["--plot", str(tmp_path / "c.png")]
    except ImportError:
        pass
    code, out, err = run_main(argv, capsys)
    assert code == 0, err
    assert "model 784-32-10 (relu)" in out
    assert len(re.findall(r"^Epoch \d/2", out, re.M)) == 2, out
    acc = float(re.search(r"test accuracy ([\d.]+)%", out).group(1)) / 100
    model = fm.load_model(str(model_path))
    _, (xte, yte) = fm.datasets.load_sample()
    assert abs(model.evaluate(xte, yte)["accuracy"] - acc) < 1e-3
    if "--plot" in argv:
        assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_with_dropout_batch_norm_and_a_schedule(tmp_path, capsys):
    model_path = tmp_path / "m.npz"
    code, out, err = run_main(["train", "--dataset", "sample", "--hidden", "32,16",
                               "--epochs", "2", "--batch-size", "32", "--verbose", "0",
                               "--dropout", "0.25", "--batch-norm", "--schedule", "cosine",
                               "--activation", "gelu", "--save", str(model_path)], capsys)
    assert code == 0, err
    assert "(gelu, dropout 0.25, batch norm, cosine schedule)" in out
    m = fm.load_model(model_path)
    kinds = [type(l).__name__ for l in m.layers]
    assert kinds.count("Dropout") == 2 and kinds.count("BatchNormalization") == 2, kinds
    assert type(m.optimizer.learning_rate).__name__ == "CosineDecay"
    code, out, err = run_main(["train", "--dropout", "1"], capsys)
    assert code == 2 and "expected a rate in [0, 1)" in err


def test_train_plot_without_matplotlib_is_a_clean_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = run_main(["train", "--epochs", "1", "--plot", str(tmp_path / "x.png")], capsys)
    assert code == 1 and 'pip install "fastmlp[plot]"' in err and "Traceback" not in err
    assert "Epoch" not in out, "must fail before training"


def test_train_missing_dataset_is_a_clean_error(monkeypatch, capsys, tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    s.close()
    spec = _loaders.DATASETS["mnist"]
    monkeypatch.setitem(_loaders.DATASETS, "mnist", _loaders.DatasetSpec(spec.name, spec.files, (dead,)))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    monkeypatch.setattr(_loaders, "SYSTEM_DIR", str(tmp_path / "sys"))
    code, out, err = run_main(["train", "--dataset", "mnist"], capsys)
    assert code == 1
    assert "fastmlp: error: dataset 'mnist' not found" in err and str(tmp_path) in err
    assert "Traceback" not in err


def _bench_rows(out):
    return [ln.split() for ln in out.splitlines() if ln.startswith("784-")]


def test_bench_table(capsys, tmp_path):
    code, out, err = run_main(["bench", "--models", "784-128-10", "--batches", "1,64", "--threads", "1",
                               "--seconds", "0.03", "--no-torch", "--no-onnx",
                               "--json", str(tmp_path / "b.json")], capsys)
    assert code == 0, err
    rows = _bench_rows(out)
    assert [(r[1], r[2 if r[1] == "inference" else 3]) for r in rows] == [
        ("inference", "1"), ("train", "1"), ("inference", "64"), ("train", "64")]
    import json
    data = json.loads((tmp_path / "b.json").read_text())
    assert len(data) == 4 and all(d["fastmlp"] > 0 for d in data)


def test_bench_against_torch_and_onnxruntime(capsys):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    code, out, err = run_main(["bench", "--models", "784-128-10", "--batches", "64", "--threads", "1",
                               "--seconds", "0.03"], capsys)
    # the command checks that all three give the same predictions before timing them
    assert code == 0, err
    infer = [r for r in _bench_rows(out) if r[1] == "inference"][0]
    assert len([c for c in infer if c.endswith("/s")]) == 3, out


@pytest.mark.parametrize("precision", ["int8", "bf16"])
def test_bench_low_precision(capsys, caplog, precision):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    root_level = logging.getLogger().level
    code, out, err = run_main(["bench", "--models", "784-128-10", "--batches", "64",
                               "--threads", "1", "--seconds", "0.03", "--precision", precision],
                              capsys)
    # the peers' quantized predictions are checked against fastmlp's before timing
    assert code == 0, err
    # (ONNX Runtime's quantizer logs advice on the root logger: kept out of the table)
    assert not [r for r in caplog.records if r.levelno < logging.ERROR], caplog.records
    assert logging.getLogger().level == root_level  # (left as it was)
    assert f"precision {precision} (inference only)" in out
    rows = _bench_rows(out)
    assert [r[1] for r in rows] == ["inference"]  # no training rows
    rates = [c for c in rows[0] if c.endswith("/s")]
    assert len(rates) == (3 if precision == "int8" else 2), out


def test_experiments_report(tmp_path, capsys):
    code, out, err = run_main(["experiments", "--study", "batch,bottleneck", "--datasets", "sample",
                               "--repeats", "1", "--epochs", "1", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert "== batch ==" in out and "== bottleneck ==" in out
    assert "100 x 49 (total 4900)" in out and "10-3-10" in out
    report = (tmp_path / "report.md").read_text()
    assert "| sample | 9 x 100 (total 900) |" in report
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "no pictures" in report
    else:
        assert (tmp_path / "batch-sample.png").read_bytes()[:4] == b"\x89PNG"
        assert "![batch sample](batch-sample.png)" in report


def test_experiments_run_depth_study_in_process():
    from fastmlp.cli.experiments import run_experiments
    lines = []
    res = run_experiments(studies=["depth"], datasets=["sample"], epochs=1, repeats=1,
                          print_fn=lines.append)
    runs = res["depth"]
    assert [r.name for r in runs] == [f"{d} hidden x 10 (relu)" for d in range(1, 6)]
    assert all(not r.error for r in runs), [r.error for r in runs]
    # params: 784*10+10 + (d-1)*(10*10+10) + 10*10+10
    assert [r.params for r in runs] == [7850 + 110 * d for d in range(1, 6)]
    assert all(0.1 < r.test_accuracy <= 1 and r.train_rate > 0 and r.infer_rate > 0 for r in runs)
    assert np.isfinite([r.loss for r in runs]).all()
