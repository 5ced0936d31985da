"""Resource limits: predict on 10^7 rows streams them through fixed-size tiles (peak memory
grows by about the output, never by a float32 copy of the input or per-row activations);
the model's memory is bounded and reported."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np

import fastmlp as fm

_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    import fastmlp as fm
    dtype = sys.argv[1]
    def rss():
        return int(open("/proc/self/statm").read().split()[1]) * 4096
    m = fm.Sequential([fm.Rescaling(1 / 255), fm.Dense(8, activation="relu"), fm.Dense(2)],
                      input_shape=(16,), seed=0)
    row = (np.arange(16) * 13 % 256).astype(dtype)[None]
    x = np.broadcast_to(row, (10**7, 16))  # 10^7 rows, no memory behind them
    small = m.predict(np.ascontiguousarray(x[:1000]))
    base = max(rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    out = m.predict(x)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    ok = bool(np.array_equal(out[::99991], np.repeat(small[:1], len(out[::99991]), 0)))
    print(json.dumps({"growth": peak - base, "out": out.nbytes, "ok": ok,
                      "workspace": m.memory_bytes(detail=True)["workspace"]}))
""")


def _run(dtype):
    r = subprocess.run([sys.executable, "-c", _SCRIPT, dtype], capture_output=True, text=True,
                       timeout=300, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_predict_streams_ten_million_rows():
    for dtype in ("uint8", "float32"):
        res = _run(dtype)
        assert res["ok"], dtype
        # output 80 MB; a float32 copy of x would add 640 MB, activations per row 400 MB+
        assert res["growth"] < res["out"] + 24 * 2**20, (dtype, res)
        assert res["workspace"] < 4 * 2**20, (dtype, res)


def test_workspace_does_not_grow_with_rows(rng):
    m = fm.Sequential([fm.Dense(32, activation="relu"), fm.Dense(4)], input_shape=(10,), seed=0)
    m.predict(rng.standard_normal((1000, 10)).astype(np.float32))
    w1 = m.memory_bytes(detail=True)["workspace"]
    m.predict(rng.standard_normal((100_000, 10)).astype(np.float32))
    assert m.memory_bytes(detail=True)["workspace"] == w1
    m._net.release_caches()
    d = m.memory_bytes(detail=True)
    assert d["workspace"] < w1 and d["packed"] == 0
    assert d["total"] >= d["weights"] > 0
