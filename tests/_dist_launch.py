"""Start 2 local ranks of tests/_dist_worker.py with mpirun or torchrun, bounded in time."""
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import fastmlp as fm

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_dist_worker.py")


def require(backend):
    """Skip (fail under CI, which installs them) when the backend's pieces are missing."""
    if backend == "mpi":
        missing = [w for w, ok in (("mpirun (apt-get install openmpi-bin libopenmpi-dev)",
                                    shutil.which("mpirun")),
                                   ("mpi4py (pip install mpi4py)",
                                    importlib.util.find_spec("mpi4py"))) if not ok]
    else:
        missing = [] if importlib.util.find_spec("torch") else ["torch (pip install torch)"]
    if missing:
        msg = f"backend {backend!r} needs {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    # the ranks import the fastmlp this test imported
    root = os.path.dirname(os.path.dirname(os.path.abspath(fm.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in
                                                  env.get("PYTHONPATH", "").split(os.pathsep)
                                                  if p])
    return env


def python():
    """This interpreter, with -S when it runs without site (a checkout on PYTHONPATH that an
    editable install would otherwise shadow)."""
    return [sys.executable] + (["-S"] if sys.flags.no_site else [])


def command(backend, script_args, nproc=2):
    if backend == "mpi":
        return ["mpirun", "-n", str(nproc), "--oversubscribe", "--bind-to", "none"] + \
            python() + script_args
    # --no-python: the ranks run exactly python() (torchrun would drop its flags)
    return python() + ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                       str(nproc), "--no-python"] + python() + script_args


def launch(backend, scenario, outdir, timeout=180):
    """(returncode, output, seconds); a run past ``timeout`` is killed and fails."""
    cmd = command(backend, [WORKER, backend, scenario, str(outdir)])
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=_env(), start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the launcher and every rank it started
        out, _ = p.communicate()
        pytest.fail(f"{' '.join(cmd)} did not finish within {timeout} s:\n{out[-4000:]}")
    return p.returncode, out, time.monotonic() - t0
