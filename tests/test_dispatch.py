"""CPU dispatch: the highest supported tier is picked at import, FASTMLP_ISA overrides it,
bad or unsupported values are rejected with a message naming the usable tiers.

Import-time behaviour runs in fresh interpreters (subprocesses)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp import _core

ALL_TIERS = tuple(_core.all_isas())  # increasing preference
RANK = {t: i for i, t in enumerate(ALL_TIERS)}
USABLE = [t for t in _core.supported_isas() if t in _core.compiled_isas()]

PROBE = r"""
import json, numpy as np, fastmlp, fastmlp.ops as ops
a = np.arange(12, dtype=np.float32).reshape(3, 4); b = np.ones((4, 5), np.float32)
y = ops.gemm(a, b)
ok = bool(np.array_equal(y, a.astype(np.float64) @ b))
print(json.dumps({"info": {k: v for k, v in fastmlp.cpu_info().items() if k != "features"},
                  "gemm_ok": ok}))
"""


def _run(env_isa, code=PROBE):
    env = dict(os.environ)
    env.pop("FASTMLP_ISA", None)
    if env_isa is not None:
        env["FASTMLP_ISA"] = env_isa
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)


def _ok(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_cpu_info_keys_and_types():
    info = fastmlp.cpu_info()
    for key in ("isa", "supported", "compiled", "num_threads", "openmp"):
        assert key in info, key
    assert isinstance(info["isa"], str)
    assert isinstance(info["supported"], list) and "generic" in info["supported"]
    assert isinstance(info["compiled"], list) and "generic" in info["compiled"]
    assert isinstance(info["num_threads"], int) and info["num_threads"] >= 1
    assert isinstance(info["openmp"], bool)
    assert set(info["supported"]) <= set(ALL_TIERS)
    assert set(info["compiled"]) <= set(ALL_TIERS)


def test_features_consistent_with_supported_tiers():
    feats = fastmlp.cpu_info()["features"]
    supported = fastmlp.cpu_info()["supported"]
    if "avx2" in supported:
        assert feats["avx2"] and feats["fma"] and feats["os_avx"]
    if "avx512" in supported:
        assert all(feats[k] for k in ("avx512f", "avx512bw", "avx512dq", "avx512vl",
                                      "os_avx512"))
    if feats.get("avx512f") and feats.get("avx512bw") and feats.get("avx512dq") and \
            feats.get("avx512vl") and feats.get("os_avx512"):
        assert "avx512" in supported
    # the low-precision tiers: VNNI on top of avx512, BF16 on top of that, AMX on top of
    # that (with the OS's tile state and Linux's permission, os_amx)
    assert ("avx512_vnni" in supported) == ("avx512" in supported and feats["avx512_vnni"])
    assert ("avx512_bf16" in supported) == ("avx512_vnni" in supported
                                            and feats["avx512_bf16"])
    assert ("amx" in supported) == ("avx512_bf16" in supported and feats["os_amx"])
    if feats["os_amx"]:
        assert feats["amx_tile"] and feats["amx_int8"] and feats["amx_bf16"]
    assert ("avx_vnni" in supported) == ("avx2" in supported and feats["avx_vnni"])
    assert ("neon_dotprod" in supported) == ("neon" in supported and feats["asimd_dotprod"])


def test_tier_list_is_the_one_the_library_exports():
    assert ALL_TIERS[0] == "generic"
    assert set(ALL_TIERS) == {"generic", "neon", "neon_dotprod", "avx2", "avx_vnni",
                              "avx512", "avx512_vnni", "avx512_bf16", "amx"}
    assert set(_core.compiled_isas()) <= set(ALL_TIERS)
    # supported tiers come lowest first, in the order of preference
    supported = _core.supported_isas()
    assert sorted(supported, key=RANK.__getitem__) == list(supported)


def test_default_is_highest_supported_tier():
    info = _ok(_run(None))["info"]
    expected = max(USABLE, key=RANK.__getitem__)
    assert info["isa"] == expected, info
    assert info["env_isa"] is None


def test_empty_override_means_default():
    info = _ok(_run(""))["info"]
    assert info["isa"] == max(USABLE, key=RANK.__getitem__)


@pytest.mark.parametrize("tier", USABLE)
def test_override_honoured(tier):
    out = _ok(_run(tier))
    assert out["info"]["isa"] == tier
    assert out["gemm_ok"]


@pytest.mark.parametrize("value", ["bogus", "AVX-512", "sse9"])
def test_bad_override_rejected(value):
    proc = _run(value)
    assert proc.returncode != 0
    err = proc.stderr
    assert "FASTMLP_ISA" in err, err
    assert value.strip() in err, err
    for t in USABLE:  # tells the user what would work here
        assert t in err, err


@pytest.mark.parametrize("tier", [t for t in ALL_TIERS if t not in USABLE])
def test_unsupported_tier_rejected(tier):
    proc = _run(tier)
    assert proc.returncode != 0, f"FASTMLP_ISA={tier} was accepted on a CPU/build without it"
    err = proc.stderr
    assert tier in err, err
    for t in USABLE:
        assert t in err, err


def test_set_isa_at_runtime():
    before = fastmlp.get_isa()
    assert before == _core.get_isa()
    try:
        for tier in USABLE:
            fastmlp.set_isa(tier)
            assert fastmlp.get_isa() == tier == _core.get_isa()
            assert fastmlp.cpu_info()["isa"] == tier
        with pytest.raises(ValueError, match=r"isa: expected one of generic.*got 'bogus'"):
            fastmlp.set_isa("bogus")
    finally:
        fastmlp.set_isa(before)
    assert fastmlp.get_isa() == before


@pytest.mark.parametrize("bad", [3, None, b"avx2", ["avx2"]])
def test_set_isa_wrong_type_names_argument(bad):
    before = fastmlp.get_isa()
    with pytest.raises(TypeError, match=r"isa: expected a tier name \(str\).*got "
                                        + type(bad).__name__):
        fastmlp.set_isa(bad)
    assert fastmlp.get_isa() == before


@pytest.mark.parametrize("tier", [t for t in ALL_TIERS if t not in USABLE])
def test_set_isa_unsupported_keeps_active(tier):
    before = fastmlp.get_isa()
    with pytest.raises(ValueError, match=f"isa: ISA tier '{tier}'"):
        fastmlp.set_isa(tier)
    assert fastmlp.get_isa() == before


@pytest.mark.parametrize("mode", ["int8", "bf16"])
def test_quantized_model_gives_its_tier_result_after_a_switch(mode, rng):
    """Weights packed at quantize time on one tier run on every other: switching tiers
    after quantize gives that tier's result for a model quantized on it."""
    x = rng.standard_normal((40, 23)).astype(np.float32)

    def quantized():
        m = fastmlp.Sequential([fastmlp.Dense(37, activation="relu"), fastmlp.Dense(5)],
                               input_shape=(23,), seed=3)
        m.quantize(mode)
        return m

    before = fastmlp.get_isa()
    try:
        fastmlp.set_isa(USABLE[-1])
        packed_on_top = quantized()
        for tier in USABLE:
            fastmlp.set_isa(tier)
            np.testing.assert_array_equal(packed_on_top.predict(x, verbose=0),
                                          quantized().predict(x, verbose=0), err_msg=tier)
    finally:
        fastmlp.set_isa(before)


def test_tiers_agree_numerically(rng):
    """All usable tiers compute the same small product (within float32 rounding)."""
    a = rng.standard_normal((37, 61)).astype(np.float32)
    b = rng.standard_normal((61, 29)).astype(np.float32)
    exact = a.astype(np.float64) @ b
    before = _core.get_isa()
    try:
        for tier in USABLE:
            _core.set_isa(tier)
            np.testing.assert_allclose(fastmlp.ops.gemm(a, b), exact, rtol=1e-4, atol=1e-4,
                                       err_msg=tier)
    finally:
        _core.set_isa(before)
