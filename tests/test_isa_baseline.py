"""The x86-64 baseline code of the extension must run on any x86-64 CPU.

Only the per-tier kernel code (namespaces ``fastmlp::avx2`` and ``fastmlp::avx512``,
see csrc/kernels/tier.h) may contain AVX / AVX2 / FMA / AVX-512 instructions. Everything
else -- CPU detection, dispatch, the engine, the pybind11 bindings, and any inline helper
the linker may have merged from a tier object into the baseline path (the SIGILL trap) --
must be plain x86-64 (SSE2). Checked by disassembly with binutils' objdump:

* if the installed ``_core`` shared object still has its symbol table, the linked code is
  checked function by function (the strongest check: it sees what the linker kept);
* release builds are stripped (pybind11 strips Release modules), so otherwise the object
  files of the build tree that produced it are checked: non-tier objects contain no
  AVX-or-newer instruction, and every symbol a tier object exports to the linker (global
  or weak, i.e. mergeable) lives in that tier's namespace. The build tree comes from
  ``FASTMLP_BUILD_DIR``, from scikit-build-core's editable-install record, or from
  ``build/`` in the repository.

Skipped when objdump is missing (a failure under ``CI=1``) or no build tree is found (a
failure when ``FASTMLP_REQUIRE_ISA_CHECK`` is set, as .ci/wheel_check does).
"""
from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import fastmlp._core as _core

TIER_NAMESPACES = tuple(f"fastmlp::{t}::" for t in _core.all_isas()
                        if t != "generic" and not t.startswith("neon"))

pytestmark = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"),
    reason="x86-64 ISA baseline check (other architectures have their own baseline)",
)

# VEX / EVEX encoded instructions all have mnemonics starting with "v" in objdump's
# AT&T output (vmovups, vfmadd231ps, vpbroadcastd, vzeroupper, ...); the only legacy
# mnemonics starting with "v" are verr / verw. Wider registers and opmasks give away
# AVX / AVX-512 as well, and BMI1/BMI2 are x86-64-v3 too.
_NEWER_MNEMONIC = re.compile(
    r"^(v(?!err\b|erw\b)[a-z0-9]+|andn|bextr|blsi|blsmsk|blsr|bzhi|mulx|pdep|pext|rorx|sarx|"
    r"shlx|shrx|kmov[bwdq]|kand[a-z]*|kor[a-z]*)\b"
)
_NEWER_OPERAND = re.compile(r"%(ymm|zmm)\d+|%k[0-7]\b|\{%k[0-7]\}")

_FUNC_HEADER = re.compile(r"^[0-9a-f]+ <(.+)>:$")
_INSN = re.compile(r"^\s*[0-9a-f]+:\s+(\S+)\s*(.*)$")


def _objdump() -> str | None:
    tool = shutil.which("objdump")
    if tool is None and os.environ.get("CI"):
        pytest.fail("objdump (binutils) is required for the ISA baseline check under CI=1")
    return tool


def _skip_or_fail(reason: str) -> None:
    """Skip, unless FASTMLP_REQUIRE_ISA_CHECK is set (.ci/wheel_check sets it together
    with FASTMLP_BUILD_DIR): then a check that cannot run is a failure."""
    if os.environ.get("FASTMLP_REQUIRE_ISA_CHECK"):
        pytest.fail(reason)
    pytest.skip(reason)


def _functions(objdump: str, path: Path) -> dict[str, list[str]]:
    """Demangled function name -> offending (AVX-or-newer) instructions in it."""
    out = subprocess.run(
        [objdump, "-d", "-C", "-w", "--no-show-raw-insn", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    funcs: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in out.splitlines():
        m = _FUNC_HEADER.match(line)
        if m:
            current = funcs.setdefault(m.group(1), [])
            continue
        m = _INSN.match(line)
        if m and current is not None:
            mnemonic, operands = m.group(1), m.group(2)
            if _NEWER_MNEMONIC.match(mnemonic) or _NEWER_OPERAND.search(operands):
                current.append(f"{mnemonic} {operands}".strip())
    return funcs


def _has_symtab(path: Path) -> bool:
    readelf = shutil.which("readelf")
    if readelf is None:
        return False
    out = subprocess.run([readelf, "-S", "-W", str(path)], check=True,
                         capture_output=True, text=True).stdout
    return ".symtab" in out


def _in_tier(name: str) -> bool:
    return any(ns in name for ns in TIER_NAMESPACES)


def _report(bad: dict[str, list[str]]) -> str:
    lines = []
    for name, insns in sorted(bad.items())[:20]:
        lines.append(f"  {name}: {len(insns)} instructions, e.g. {insns[0]}")
    return "\n".join(lines)


def _candidate_build_dirs() -> list[Path]:
    dirs: list[Path] = []
    env = os.environ.get("FASTMLP_BUILD_DIR")
    if env:
        dirs.append(Path(env))
    purelib = Path(sysconfig.get_paths()["purelib"])
    for record in [*purelib.glob("_editable_skbc_fastmlp*.py"),
                   *(Path(p) / "_editable_skbc_fastmlp.py" for p in sys.path if p)]:
        try:
            text = record.read_text()
        except OSError:
            continue
        dirs.extend(Path(s) for s in re.findall(r"'(/[^']+)'", text)
                    if (Path(s) / "CMakeCache.txt").is_file())
    dirs.append(Path(__file__).resolve().parent.parent / "build")
    seen, out = set(), []
    for d in dirs:
        if d not in seen and (d / "CMakeCache.txt").is_file():
            seen.add(d)
            out.append(d)
    return out


def _exported_functions(path: Path) -> list[str]:
    """Demangled names of the functions an object defines with global, weak or unique
    binding: the ones the linker may merge with a same-named copy from another object."""
    readelf = shutil.which("readelf")
    assert readelf is not None
    out = subprocess.run([readelf, "-s", "-W", "-C", str(path)], check=True,
                         capture_output=True, text=True).stdout
    names = []
    for line in out.splitlines():
        # Num: Value Size Type Bind Vis Ndx Name
        parts = line.split(None, 7)
        if (len(parts) == 8 and parts[3] == "FUNC" and parts[6] != "UND"
                and parts[4] in ("GLOBAL", "WEAK", "UNIQUE", "GNU_UNIQUE")):
            names.append(parts[7])
    return names


def test_linked_extension_baseline_has_no_avx():
    objdump = _objdump()
    if objdump is None:
        pytest.skip("objdump not installed")
    so = Path(_core.__file__)
    if not _has_symtab(so):  # the usual case for Release builds: not an error
        pytest.skip(f"{so.name} is stripped; test_build_objects_baseline_has_no_avx "
                    "checks the objects it was linked from")
    funcs = _functions(objdump, so)
    assert len(funcs) > 50, "could not read the function symbols of the extension"
    bad = {n: i for n, i in funcs.items() if i and not _in_tier(n)}
    assert not bad, ("AVX-or-newer instructions outside the tier namespaces of "
                     f"{so.name}:\n{_report(bad)}")
    assert any(i and "fastmlp::avx512::" in n for n, i in funcs.items()), \
        "no AVX-512 code found in the avx512 tier: is the check reading the right file?"


def test_build_objects_baseline_has_no_avx():
    objdump = _objdump()
    if objdump is None:
        pytest.skip("objdump not installed")
    if shutil.which("readelf") is None:
        pytest.skip("readelf not installed")
    dirs = _candidate_build_dirs()
    if not dirs:
        _skip_or_fail("no CMake build tree found (set FASTMLP_BUILD_DIR to check its objects)")
    build = dirs[0]
    objects = sorted((build / "CMakeFiles").glob("*.dir/**/*.o"))
    tier_objs = [o for o in objects if re.search(r"fastmlp_tier_(avx\w*|amx)\.dir", str(o))]
    base_objs = [o for o in objects if not re.search(r"fastmlp_tier_\w+\.dir", str(o))]
    if not tier_objs or not base_objs:
        _skip_or_fail(f"no x86 tier / baseline objects under {build}")

    # 1. Baseline objects (cpu, dispatch, engine, bindings): nothing newer than SSE2.
    bad: dict[str, list[str]] = {}
    for obj in base_objs:
        for name, insns in _functions(objdump, obj).items():
            if insns:
                bad[f"{obj.name}: {name}"] = insns
    assert not bad, f"AVX-or-newer instructions in baseline objects of {build}:\n{_report(bad)}"

    # 2. Tier objects export (global / weak / unique: mergeable by the linker) only symbols
    #    of their own namespace, so no ISA-specific copy can replace a baseline one.
    leaks: dict[str, list[str]] = {}
    saw_avx512 = False
    for obj in tier_objs:
        tier = re.search(r"fastmlp_tier_(\w+)\.dir", str(obj)).group(1)
        ns = f"fastmlp::{tier}::"
        for name in _exported_functions(obj):
            if ns not in name:
                leaks.setdefault(f"{obj.name} ({tier})", []).append(name)
        if tier == "avx512" and not saw_avx512:
            saw_avx512 = any(insns and ns in n for n, insns in _functions(objdump, obj).items()
                             if any("zmm" in i for i in insns))
    assert not leaks, ("tier objects export symbols outside their namespace (the linker may "
                       "merge them into baseline code):\n" + _report(leaks))
    assert saw_avx512, "no zmm instruction in the avx512 tier objects: wrong build tree?"


# Prefixes that may precede an EVEX instruction (segment overrides, address size); its
# first byte proper is then 0x62 (BOUND, invalid in 64-bit mode, so nothing else).
_EVEX_PREFIXES = {"26", "2e", "36", "3e", "64", "65", "67"}
_RAW_INSN = re.compile(r"^\s*[0-9a-f]+:\t((?:[0-9a-f]{2} )+)\s*\t?(.*)$")


def _evex_instructions(objdump: str, path: Path) -> tuple[list[str], list[str]]:
    """(EVEX-encoded instructions, all instructions) of an object, as objdump prints them."""
    out = subprocess.run([objdump, "-d", "-w", str(path)], check=True, capture_output=True,
                         text=True).stdout
    evex, insns = [], []
    for line in out.splitlines():
        m = _RAW_INSN.match(line)
        if not m:
            continue
        raw = m.group(1).split()
        insns.append(m.group(2))
        while raw and raw[0] in _EVEX_PREFIXES:
            raw = raw[1:]
        if raw and raw[0] == "62":
            evex.append(m.group(2))
    return evex, insns


# What each x86 tier may not contain, for the CPUs below it in its line: avx2 / avx_vnni
# run on CPUs without AVX-512 (Zen 3, Alder Lake); avx512 on Skylake-SP (no VNNI);
# avx512_vnni on Cascade Lake and Ice Lake (no BF16); avx512_bf16 on Zen 4 (no AMX).
_AMX = re.compile(r"^(tile|tdp|ldtilecfg|sttilecfg)")
_BF16 = re.compile(r"^(vdpbf16ps|vcvtne2ps2bf16|vcvtneps2bf16)")
_VNNI = re.compile(r"^(\{vex\} )?vpdpbus|^vpdpws")
_FORBIDDEN = {
    "avx2": ("evex", _VNNI, _BF16, _AMX),
    "avx_vnni": ("evex", _BF16, _AMX),
    "avx512": (_VNNI, _BF16, _AMX),
    "avx512_vnni": (_BF16, _AMX),
    "avx512_bf16": (_AMX,),
}
# ... and what its int8 / bf16 GEMM must show for the tier to be worth its place.
_REQUIRED = {
    "avx_vnni": ("gemm_u8s8", re.compile(r"^\{vex\} vpdpbusd")),
    "avx512_vnni": ("gemm_u8s8", re.compile(r"^vpdpbusd .*%zmm")),
    "avx512_bf16": ("gemm_bf16", re.compile(r"^vdpbf16ps .*%zmm")),
    "amx": ("gemm_u8s8", re.compile(r"^tdpbusd")),
}


def test_tier_objects_hold_only_their_instructions():
    """Each x86 tier's objects hold no instruction of a feature its CPUs may lack (EVEX for
    the AVX2 tiers, VNNI, BF16, AMX), and the low-precision tiers' GEMMs do use theirs."""
    objdump = _objdump()
    if objdump is None:
        pytest.skip("objdump not installed")
    dirs = _candidate_build_dirs()
    if not dirs:
        _skip_or_fail("no CMake build tree found (set FASTMLP_BUILD_DIR to check its objects)")
    compiled = set(_core.compiled_isas())
    checked = []
    for tier in ("avx2", "avx_vnni", "avx512", "avx512_vnni", "avx512_bf16", "amx"):
        if tier not in compiled:
            continue
        objects = sorted((dirs[0] / "CMakeFiles" / f"fastmlp_tier_{tier}.dir").glob("**/*.o"))
        if not objects:
            _skip_or_fail(f"no objects of tier {tier} under {dirs[0]}")
        read, found = 0, False
        for obj in objects:
            evex, insns = _evex_instructions(objdump, obj)
            read += len(insns)
            for rule in _FORBIDDEN.get(tier, ()):
                bad = evex if rule == "evex" else [i for i in insns if rule.match(i)]
                assert not bad, f"{tier}'s {obj.name} holds {bad[:3]} (rule {rule})"
            if tier in _REQUIRED and obj.name.startswith(_REQUIRED[tier][0]):
                found = found or any(_REQUIRED[tier][1].match(i) for i in insns)
        assert read > 1000, f"read only {read} instructions from tier {tier}'s objects"
        assert tier not in _REQUIRED or found, \
            f"no {_REQUIRED[tier][1].pattern} in tier {tier}'s {_REQUIRED[tier][0]}"
        checked.append(tier)
    assert "avx2" in checked and "avx512" in checked, \
        f"the avx2 / avx512 tiers are not compiled into this x86-64 build: {sorted(compiled)}"
