#!/usr/bin/env python3
"""`make pi-check`: the device runtime on an emulated 64-bit Raspberry Pi, compared with x86.

Builds (once, cached in WORK) a Debian bookworm arm64 userland with Python 3.11, as on 64-bit
Raspberry Pi OS, and two package sets for it from PyPI's aarch64 wheels: gru_edge's base
install (numpy + ai-edge-litert) and tflite-runtime 2.14 with numpy < 2. It then streams a WAV
file through each model under qemu (a Cortex-A72, as in a Pi 4) with each interpreter, does the
same on this machine, and compares the scores: float models within 1e-5, int8 models
identical where both machines run the same integer arithmetic (see `cases`). Then it runs the
device tier of the tests (tests/device, with pytest installed into each package set) under
qemu with each interpreter.
Exits 1 if any comparison or the device tier fails.

    python tools/pi_check.py --wav FILE.wav --models A.float32.tflite B.int8.tflite ... [--work DIR]

Needs root, and the Debian packages mmdebstrap and qemu-user-static (the Makefile installs
them). The recipe and its traps: the project's notes on emulating a Pi.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from gru_edge.modelfile import read_metadata

REPO = Path(__file__).resolve().parent.parent
PLATFORMS = [
    "manylinux2014_aarch64",
    "manylinux_2_17_aarch64",
    "manylinux_2_27_aarch64",
    "manylinux_2_28_aarch64",
    "manylinux_2_34_aarch64",
    "manylinux_2_36_aarch64",
]
# qemu's default CPU exposes SME, for which LiteRT's int8 kernels return wrong results: always
# name the CPU of the device (cortex-a72: Raspberry Pi 4; cortex-a76: Pi 5).
QEMU_CPU = "cortex-a72"
PI_CPUINFO = (
    "".join(
        f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
        f"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
        f"CPU revision\t: 3\n\n"
        for i in range(4)
    )
    + "Hardware\t: BCM2835\nRevision\t: c03111\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n"
)
# What the device tier needs besides the base install: pure-Python wheels.
TEST_PACKAGES = ["pytest"]
INTERPRETERS = {  # name -> (what pip installs instead of gru_edge's deps, venv on this machine)
    "ai_edge_litert": ([], REPO / ".venv"),
    "tflite_runtime": (
        ["tflite-runtime==2.14.0", "numpy<2", "tomli-w"],
        REPO / ".venv-tflite-runtime",
    ),
}


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, **kwargs)


def apt_mirrors() -> list[str]:
    """The host's own Debian mirrors (never a host name written here)."""
    targets = run(
        ["apt-get", "indextargets", "--format", "$(REPO_URI) $(RELEASE) $(COMPONENT)"],
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    lines = sorted(
        {
            f"deb {line.split()[0]} {line.split()[1]} main"
            for line in targets
            if len(line.split()) == 3 and line.split()[1].startswith("bookworm")
        }
    )
    if not lines:
        sys.exit("pi-check: no bookworm mirror in this machine's apt configuration")
    return lines


def build_rootfs(rootfs: Path) -> None:
    if (rootfs / "usr/bin/python3.11").exists():
        return
    print(f"pi-check: building an arm64 bookworm userland in {rootfs}", flush=True)
    partial = rootfs.with_name(rootfs.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    run(
        [
            "mmdebstrap",
            "--arch=arm64",
            "--variant=extract",
            "--mode=root",
            "--include=python3.11,libstdc++6,libportaudio2",
            "bookworm",
            str(partial),
            *apt_mirrors(),
        ],
        stdout=subprocess.DEVNULL,
    )
    # ai-edge-litert >= 2.2 reads /proc/cpuinfo at start and crashes on the x86 host's: give
    # the userland the identity of a Pi 4 (qemu's -L prefix serves these paths).
    (partial / "proc").mkdir(exist_ok=True)
    (partial / "proc/cpuinfo").write_text(PI_CPUINFO)
    cpu = partial / "sys/devices/system/cpu"
    cpu.mkdir(parents=True, exist_ok=True)
    for name in ("possible", "present", "online"):
        (cpu / name).write_text("0-3\n")
    partial.rename(rootfs)


def pip_install(*args: str) -> None:
    """pip install of aarch64 wheels for the userland's Python 3.11."""
    platform = [flag for p in PLATFORMS for flag in ("--platform", p)]
    run(
        [
            *[sys.executable, "-m", "pip", "install", "-q", "--only-binary=:all:"],
            *["--python-version", "3.11", "--implementation", "cp", *platform],
            *args,
        ]
    )


def site_path(work: Path, name: str, extra: list[str], wheel: Path) -> Path:
    """The package set's folder, named by a hash of all that goes into it besides gru_edge's
    own code: a set made by an older recipe (or for other dependencies) is never reused."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [
            line
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line
        ]
    recipe = "\n".join([*requires, *extra, *TEST_PACKAGES, *PLATFORMS])
    return work / f"site-{name}-{hashlib.sha256(recipe.encode()).hexdigest()[:10]}"


def build_site(site: Path, extra: list[str], wheel: Path) -> None:
    """Installs the package set once; gru_edge itself anew every time, from this checkout."""
    if not site.exists():
        print(f"pi-check: installing aarch64 wheels into {site}", flush=True)
        partial = site.with_name(site.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        # The base install: what pip resolves for gru_edge on aarch64; else the `extra` set.
        pip_install("--target", str(partial), *(extra or [str(wheel)]), *TEST_PACKAGES)
        partial.rename(site)
    pip_install("--target", str(site), "--no-deps", "--upgrade", str(wheel))


def replay(
    python: list[str], env: dict, model: Path, wav: Path, out: Path, interpreter: str, kernels: str
) -> np.ndarray | None:
    """The scores of `model` on `wav`; None (and the reason on stderr) when it fails."""
    result = subprocess.run(
        [
            *python,
            "-m",
            "gru_edge.runtime.replay",
            str(model),
            str(wav),
            str(out),
            "--interpreter",
            interpreter,
            "--kernels",
            kernels,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        print(
            f"pi-check: {interpreter} on {model.name} failed: {result.stderr.strip()}",
            file=sys.stderr,
        )
        return None
    return np.load(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wav", type=Path, required=True)
    parser.add_argument("--models", type=Path, nargs="+", required=True)
    parser.add_argument("--work", type=Path, default=REPO / ".pi-check")
    args = parser.parse_args()
    args.work.mkdir(exist_ok=True)
    rootfs = args.work / "rootfs-arm64"
    build_rootfs(rootfs)
    wheels = args.work / "dist"
    shutil.rmtree(wheels, ignore_errors=True)
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)])
    shutil.rmtree(REPO / "build", ignore_errors=True)  # setuptools' leftovers in the checkout
    wheel = next(wheels.glob("gru_edge-*.whl"))
    sites = {}
    for name, (extra, _) in INTERPRETERS.items():
        sites[name] = site_path(args.work, name, extra, wheel)
        build_site(sites[name], extra, wheel)

    qemu = [
        "qemu-aarch64-static",
        "-cpu",
        QEMU_CPU,
        "-L",
        str(rootfs),
        str(rootfs / "usr/bin/python3.11"),
    ]
    failures = 0
    print(
        "| model | interpreter | kernels | frames | max abs diff arm64 vs x86 | required | result |"
    )
    print("|---|---|---|---:|---:|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for model, name, kernels, required in cases(args.models):
            x86 = replay(
                [str(INTERPRETERS[name][1] / "bin/python")],
                dict(os.environ),
                model,
                args.wav,
                Path(scratch) / "x86.npy",
                name,
                kernels,
            )
            env = {**os.environ, "PYTHONPATH": str(sites[name])}
            arm = replay(qemu, env, model, args.wav, Path(scratch) / "arm.npy", name, kernels)
            comparable = arm is not None and x86 is not None and arm.shape == x86.shape
            difference = float(np.abs(arm - x86).max()) if comparable else None
            ok = comparable and (required is None or difference <= required)
            failures += not ok
            limit = (
                "measured only"
                if required is None
                else "identical"
                if required == 0
                else f"<= {required:g}"
            )
            print(
                f"| {model.name} | {name} | {kernels} | {len(arm) if comparable else 0} | "
                f"{difference} | {limit} | {'ok' if ok else 'FAILED'} |",
                flush=True,
            )
        failed_tiers = [
            name
            for name in INTERPRETERS
            if not device_tier(qemu, sites[name], name, Path(scratch) / f"pytest-{name}")
        ]
    problems = [f"{failures} comparison(s) failed"] if failures else []
    problems += [f"the device tier failed with {name}" for name in failed_tiers]
    print("pi-check: " + ("; ".join(problems) or "passed"))
    return 1 if problems else 0


def device_tier(qemu: list[str], site: Path, interpreter: str, basetemp: Path) -> bool:
    """Runs tests/device under qemu with one interpreter, in one process: the userland cannot
    start another (no binfmt). Nothing is written into the checkout (this runs as root)."""
    print(f"pi-check: the device tier under qemu with {interpreter}", flush=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "GRU_EDGE_INTERPRETER": interpreter,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = [
        *qemu,
        *["-m", "pytest", "-m", "device", "-p", "no:cacheprovider", "-q"],
        *[f"--basetemp={basetemp}", str(REPO / "tests" / "device")],
    ]
    # Run from outside the checkout, so that the installed gru_edge is the one tested.
    return subprocess.run(command, env=env, cwd=basetemp.parent).returncode == 0


def cases(models: list[Path]):
    """(model, interpreter, kernels, largest difference allowed or None) to compare.

    Float models must agree to 1e-5 with the default (fastest) kernels. Int8 models must be
    identical where the same integer arithmetic runs on both machines: LiteRT's reference
    kernels, and tflite-runtime's kernels at one frame a chunk; dynamic-range models (integer
    products, float activations) agree to 1e-5 with LiteRT's reference kernels. Elsewhere the
    optimized integer kernels round differently on x86 and ARM (LiteRT's XNNPACK always;
    tflite-runtime's int8 kernels on chunks of several frames: 0.34 at 10 frames and 0.21 at
    20 for the shipped network, 0.004 at 10 for an unrolled Keras GRU; 0 at one frame), and the
    GRU state carries those LSBs on. There, dynamic-range must stay within 0.05 and int8 is
    measured, not required (XNNPACK's int8 was off by 0.30 at 20 frames).
    """
    for model in models:
        meta = read_metadata(model)
        for name in INTERPRETERS:
            if meta.quantization in ("float32", "float16"):
                yield model, name, "default", 1e-5
            elif meta.quantization == "dynamic":
                if name == "ai_edge_litert":
                    yield model, name, "reference", 1e-5
                yield model, name, "default", 0.05
            elif name == "tflite_runtime":
                yield model, name, "default", 0.0 if meta.chunk_frames == 1 else None
            else:
                yield model, name, "reference", 0.0
                yield model, name, "default", None


if __name__ == "__main__":
    sys.exit(main())
