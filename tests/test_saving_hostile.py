"""Hostile model files and killed saves.

* NaN / inf in a weight or optimizer-state array, a config integer past Python's 4300-digit
  limit, an ``optimizer_step`` that is not an int in [0, 2**63-1]: ``load_model`` raises
  ``ValueError`` naming the file and the offending array / value.
* A save killed with SIGKILL leaves its temporary file behind; the next save of the same
  target removes it, unless a live process holds it locked, and never touches the
  temporaries of other targets.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastmlp as fm
import fastmlp.saving as saving

fcntl = pytest.importorskip("fcntl")


def _fitted_model(seed=0):
    rng = np.random.default_rng(seed)
    m = fm.Sequential([fm.Dense(4, activation="relu"), fm.Dense(3, activation="softmax")],
                      input_shape=(5,))
    m.compile(optimizer=fm.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((40, 5)).astype(np.float32)
    m.fit(x, rng.integers(0, 3, 40), epochs=1, batch_size=8, verbose=0)
    return m, x


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(model, x, {name: array} of its file)."""
    m, x = _fitted_model()
    path = tmp_path_factory.mktemp("good") / "m.npz"
    m.save(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k].copy() for k in z.files}
    return m, x, arrays


def _rewrite(tmp_path, arrays, mutate, name="bad.npz"):
    d = {k: v.copy() for k, v in arrays.items()}
    mutate(d)
    path = tmp_path / name
    np.savez(path, **d)
    return path


def _set_config(d, edit):
    cfg = json.loads(d["config"].tobytes())
    edit(cfg)
    d["config"] = np.frombuffer(json.dumps(cfg).encode("utf-8"), np.uint8)


def test_the_layout_this_file_assumes(saved, tmp_path):
    m, x, arrays = saved
    assert sorted(k for k in arrays if k.startswith("weight_")) == \
        [f"weight_{i:05d}" for i in range(4)]
    assert sorted(k for k in arrays if k.startswith("optimizer_")) == \
        [f"optimizer_{i:05d}_{j}" for i in range(4) for j in (0, 1)]
    assert json.loads(arrays["config"].tobytes())["compile"]["optimizer_step"] == 5
    m2 = fm.load_model(_rewrite(tmp_path, arrays, lambda d: None))
    np.testing.assert_array_equal(m2.predict(x), m.predict(x))


# --- non-finite arrays ---------------------------------------------------------------------

def _poison(name, values):
    def mutate(d):
        a = d[name].copy()
        a.flat[:len(values)] = values
        d[name] = a
    return mutate


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize("values", [[np.nan, np.nan], [np.inf], [-np.inf, np.nan]],
                         ids=["2nan", "inf", "-inf+nan"])
@pytest.mark.parametrize("compile", [True, False])
def test_nonfinite_weights_refused(saved, tmp_path, index, values, compile):
    name = f"weight_{index:05d}"
    path = _rewrite(tmp_path, saved[2], _poison(name, values))
    n = len(values)
    with pytest.raises(ValueError) as info:
        fm.load_model(path, compile=compile)
    msg = str(info.value)
    assert type(info.value) is ValueError
    assert repr(str(path)) in msg
    assert f"weight array {name!r}" in msg
    assert f"holds {n} non-finite value{'s' if n > 1 else ''} (NaN or inf)" in msg
    assert f"the first {float(values[0])!r} at index (0" in msg


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize("slot", [0, 1])
def test_nonfinite_optimizer_state_refused(saved, tmp_path, index, slot):
    name = f"optimizer_{index:05d}_{slot}"
    path = _rewrite(tmp_path, saved[2], _poison(name, [np.nan, np.inf, np.nan]))
    with pytest.raises(ValueError) as info:
        fm.load_model(path)
    msg = str(info.value)
    assert type(info.value) is ValueError
    assert repr(str(path)) in msg
    assert f"optimizer-state array {name!r}" in msg and "holds 3 non-finite values" in msg


def test_nonfinite_optimizer_state_ignored_with_compile_false(saved, tmp_path):
    m, x, arrays = saved
    path = _rewrite(tmp_path, arrays, _poison("optimizer_00002_1", [np.nan]))
    m2 = fm.load_model(path, compile=False)
    np.testing.assert_array_equal(m2.predict(x), m.predict(x))


def test_float64_weights_with_nan_refused(saved, tmp_path):
    def mutate(d):
        d["weight_00001"] = d["weight_00001"].astype(np.float64)
        d["weight_00001"][2] = np.nan
    path = _rewrite(tmp_path, saved[2], mutate)
    with pytest.raises(ValueError, match=r"'weight_00001' \(shape \(4,\)\) holds 1 non-finite "
                                         r"value \(NaN or inf\), the first nan at index \(2,\)"):
        fm.load_model(path)


# --- malformed config ---------------------------------------------------------------------

@pytest.mark.parametrize("where", ["units", "optimizer_step", "name"])
def test_config_integer_past_the_digit_limit(saved, tmp_path, where):
    big = "7" * 5000

    def mutate(d):
        text = d["config"].tobytes().decode()
        if where == "units":
            new = text.replace('"units": 4', f'"units": {big}')
        elif where == "optimizer_step":
            new = re.sub(r'"optimizer_step": \d+', f'"optimizer_step": {big}', text)
        else:
            new = text[:-1] + f', "extra": [{big}]}}'
        assert new != text
        d["config"] = np.frombuffer(new.encode(), np.uint8)

    path = _rewrite(tmp_path, saved[2], mutate)
    with pytest.raises(ValueError) as info:
        fm.load_model(path)
    msg = str(info.value)
    assert msg.startswith(repr(str(path)) + ": unreadable model config: the 'config' entry "
                                            "is malformed")
    assert "4300" in msg and "save the model again" in msg


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"{", b"[" * 100_000 + b"]" * 100_000])
def test_config_bytes_not_json(saved, tmp_path, raw):
    path = _rewrite(tmp_path, saved[2],
                    lambda d: d.__setitem__("config", np.frombuffer(raw, np.uint8)))
    with pytest.raises(ValueError, match="unreadable model config: the 'config' entry is "
                                         "malformed") as info:
        fm.load_model(path)
    assert repr(str(path)) in str(info.value)


@pytest.mark.parametrize("step,shown", [
    (1e30, "1e+30 (float)"),
    (10 ** 30, f"{10 ** 30} (int)"),
    (2 ** 63, f"{2 ** 63} (int)"),
    (-1, "-1 (int)"),
    ("x", "'x' (str)"),
    (True, "True (bool)"),
    (None, "None (NoneType)"),
    ([3], "[3] (list)"),
    (2.0, "2.0 (float)"),
], ids=["1e30", "10**30", "2**63", "-1", "str", "bool", "None", "list", "2.0"])
def test_optimizer_step_must_be_an_int64(saved, tmp_path, step, shown):
    path = _rewrite(tmp_path, saved[2],
                    lambda d: _set_config(d, lambda c: c["compile"].__setitem__(
                        "optimizer_step", step)))
    with pytest.raises(ValueError) as info:
        fm.load_model(path)
    msg = str(info.value)
    assert type(info.value) is ValueError
    assert msg.startswith(repr(str(path)) + ": invalid model file: 'optimizer_step'")
    assert "must be an int in [0, 2**63-1]" in msg and f"got {shown}" in msg
    assert "incompatible function arguments" not in msg
    assert msg.count(repr(str(path))) == 1
    # the weights are still there for whoever wants them
    fm.load_model(path, compile=False)


@pytest.mark.parametrize("step", [0, 2 ** 63 - 1])
def test_optimizer_step_bounds_load(saved, tmp_path, step):
    m, x, arrays = saved
    path = _rewrite(tmp_path, arrays,
                    lambda d: _set_config(d, lambda c: c["compile"].__setitem__(
                        "optimizer_step", step)))
    m2 = fm.load_model(path)
    np.testing.assert_array_equal(m2.predict(x), m.predict(x))
    assert m2._optimizer_state()[0] == step


# --- temporary files -----------------------------------------------------------------------

def _temp_name(target, rnd="abcd_123"):
    """The name save gives a temporary for ``target`` (see saving's module docstring)."""
    return f".fastmlp-{os.path.basename(target)}.{rnd}.tmp"


def _temps(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".fastmlp-"))


def _small_model():
    m = fm.Sequential([fm.Dense(3)], input_shape=(2,))
    m.compile(optimizer="sgd", loss="mse")
    return m


def test_stale_temporaries_of_the_target_are_removed(tmp_path):
    target = tmp_path / "m.npz"
    stale = [tmp_path / _temp_name(target, r) for r in ("abcd_123", "zz9zz9zz", "x")]
    stale[0].write_bytes(b"PK\x03\x04 half a model")
    stale[1].write_bytes(b"")
    stale[2].write_bytes(b"\x00" * 10_000)
    os.chmod(stale[2], 0o600)
    m = _small_model()
    m.save(target)
    assert _temps(tmp_path) == []
    np.testing.assert_array_equal(fm.load_model(target).get_weights()[0], m.get_weights()[0])
    # and when the target already exists
    stale[0].write_bytes(b"again")
    m.save(target)
    assert _temps(tmp_path) == []


def test_temporaries_of_other_targets_survive(tmp_path):
    target = tmp_path / "m.npz"
    keep = [
        _temp_name(tmp_path / "other.npz"),
        _temp_name(tmp_path / "m.npz.bak"),        # '.fastmlp-m.npz.bak.abcd_123.tmp'
        _temp_name(tmp_path / "m"),                # '.fastmlp-m.abcd_123.tmp'
        ".fastmlp-m.npz.ab.cd.tmp",                # target 'm.npz.ab'
        ".fastmlp-m.npz..tmp",                     # no random part
        ".fastmlp-m.npz.abc-def.tmp",              # not mkstemp's alphabet
        ".fastmlp-m.npz.abcd_123.tmp.old",
        ".fastmlp-abcd_123.tmp",                   # the old (pre-per-target) naming
        "m.npz.abcd_123.tmp",
    ]
    for name in keep:
        (tmp_path / name).write_bytes(b"x")
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    (sub / _temp_name(target)).write_bytes(b"x")  # same name, another directory
    _small_model().save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep + ["elsewhere", "m.npz"])
    assert (sub / _temp_name(target)).exists()


def test_non_regular_files_named_like_temporaries_survive(tmp_path):
    target = tmp_path / "m.npz"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    os.symlink(victim, tmp_path / _temp_name(target, "link0000"))
    (tmp_path / _temp_name(target, "dir00000")).mkdir()
    os.mkfifo(tmp_path / _temp_name(target, "fifo0000"))
    _small_model().save(target)
    assert victim.read_text() == "keep me"
    assert os.path.islink(tmp_path / _temp_name(target, "link0000"))
    assert (tmp_path / _temp_name(target, "dir00000")).is_dir()
    assert (tmp_path / _temp_name(target, "fifo0000")).exists()


_HOLDER = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()  # until the parent closes our stdin
"""


def test_temporary_locked_by_a_live_process_survives(tmp_path):
    target = tmp_path / "m.npz"
    live = tmp_path / _temp_name(target, "live0000")
    dead = tmp_path / _temp_name(target, "dead0000")
    live.write_bytes(b"being written")
    dead.write_bytes(b"left by a killed save")
    p = subprocess.Popen([sys.executable, "-c", _HOLDER, str(live)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "locked"
        _small_model().save(target)
        assert _temps(tmp_path) == [live.name]
        assert live.read_bytes() == b"being written"
    finally:
        p.stdin.close()
        p.stdout.close()
        assert p.wait(timeout=30) == 0
    _small_model().save(target)  # the holder is gone: now it is stale
    assert _temps(tmp_path) == []


def test_save_holds_an_exclusive_lock_on_its_temporary(tmp_path, monkeypatch):
    target = tmp_path / "m.npz"
    seen = []
    real_savez = np.savez

    def savez_and_probe(f, **arrays):
        (name,) = _temps(tmp_path)
        assert re.fullmatch(r"\.fastmlp-m\.npz\.[A-Za-z0-9_]+\.tmp", name), name
        fd = os.open(tmp_path / name, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        seen.append(name)
        real_savez(f, **arrays)

    monkeypatch.setattr(saving.np, "savez", savez_and_probe)
    _small_model().save(target)
    assert len(seen) == 1 and _temps(tmp_path) == []


def test_long_target_name(tmp_path, monkeypatch):
    # 244 bytes: '.fastmlp-' + that + '.xxxxxxxx.tmp' would pass NAME_MAX (255)
    target = tmp_path / ("w" * 240 + ".npz")
    m = _small_model()
    seen = []
    real_savez = np.savez

    def savez_and_look(f, **arrays):
        seen.extend(_temps(tmp_path))
        real_savez(f, **arrays)

    monkeypatch.setattr(saving.np, "savez", savez_and_look)
    m.save(target)
    assert len(seen) == 1 and len(seen[0]) <= 255
    prefix = seen[0].rsplit(".", 2)[0] + "."
    assert prefix == saving._temp_prefix(str(target))
    stale = tmp_path / (prefix + "stale000.tmp")
    # same first 64 characters, another target: another prefix (a hash completes it)
    other_prefix = saving._temp_prefix(str(tmp_path / ("w" * 239 + "v.npz")))
    assert other_prefix != prefix
    other = tmp_path / (other_prefix + "other000.tmp")
    stale.write_bytes(b"x")
    other.write_bytes(b"x")
    m.save(target)
    assert not stale.exists() and other.exists()
    np.testing.assert_array_equal(fm.load_model(target).get_weights()[0], m.get_weights()[0])


def test_concurrent_saves_of_one_target(tmp_path):
    target = tmp_path / "m.npz"
    models = [_small_model() for _ in range(6)]
    errors = []

    def work(m):
        try:
            for _ in range(15):
                m.save(target)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(m,)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _temps(tmp_path) == []
    got = fm.load_model(target).get_weights()[0]
    assert any(np.array_equal(got, m.get_weights()[0]) for m in models)


def test_without_fcntl_stale_temporaries_stay(tmp_path, monkeypatch):
    target = tmp_path / "m.npz"
    stale = tmp_path / _temp_name(target)
    stale.write_bytes(b"x")
    monkeypatch.setattr(saving, "_fcntl", lambda: None)
    m = _small_model()
    m.save(target)
    assert _temps(tmp_path) == [stale.name]
    np.testing.assert_array_equal(fm.load_model(target).get_weights()[0], m.get_weights()[0])


_SAVER = r"""
import sys
import numpy as np
import fastmlp as fm
m = fm.Sequential([fm.Dense(1024), fm.Dense(1024)], input_shape=(1024,))
print("ready", flush=True)
while True:
    m.save(sys.argv[1])
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_save_then_next_save_cleans_up(tmp_path):
    target = tmp_path / "big.npz"
    pattern = re.compile(r"\.fastmlp-big\.npz\.[A-Za-z0-9_]+\.tmp")
    leftovers = []
    for attempt in range(10):
        p = subprocess.Popen([sys.executable, "-c", _SAVER, str(target)],
                             stdout=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline().strip() == "ready"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if any(pattern.fullmatch(n) for n in os.listdir(tmp_path)):
                    break
                time.sleep(0.0005)
            p.send_signal(signal.SIGKILL)
        finally:
            p.kill()
            p.wait(timeout=30)
            p.stdout.close()
        leftovers = [n for n in os.listdir(tmp_path) if pattern.fullmatch(n)]
        if leftovers:
            break
    if not leftovers:
        pytest.skip("the kill never landed inside a save")
    assert p.returncode == -signal.SIGKILL
    m = _small_model()
    m.save(target)
    assert [n for n in os.listdir(tmp_path) if n.startswith(".fastmlp-")] == []
    np.testing.assert_array_equal(fm.load_model(target).get_weights()[0], m.get_weights()[0])
