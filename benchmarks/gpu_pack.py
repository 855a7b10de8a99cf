"""Pack what the GPU check needs on the lent GPU machine beside the bundle, and print the device calls.

    python -m benchmarks.gpu_pack --bundle .gpucheck [--ort-wheel FILE]   (gpu_prepare --pack-ort calls it)

The device machine has Python 3.12 with numpy, onnx, pytest and the CPU build of onnxruntime, and no JPype
(bridge imports it). This downloads, with pip, onnxruntime-gpu (constraints.txt's version) and JPype1 for
CPython 3.12 on manylinux x86-64; JPype's wheel (~0.5 MB) goes into the bundle's wheels/; onnxruntime-gpu's
files (~340 MB: its CUDA provider alone is 284 MB) are re-packed as one tar.xz and split into parts, each in
its own folder `.whl1/`, `.whl2/`, ... (ignored through .gitignore's `.whl*/`), sized so that a part plus the
working tree that travels with every call stays under 64 MiB, and the last part plus the bundle too.
The archive's SHA-256 goes into the bundle's manifest: benchmarks/gpu_device.sh checks it before unpacking.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .gpu_bundle import MANIFEST, folder_bytes, read_manifest

ROOT = Path(__file__).resolve().parent.parent
CARRY_LIMIT = 64 * 2**20
MARGIN = 2 * 2**20  # files that appear between packing and the calls (notes, logs)
PYTHON = "3.12"
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
PART = "ort.tar.xz.part"


def pinned(name: str) -> str:
    """The version constraints.txt pins for `name`."""
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(name.lower() + "=="):
            return line.split("==", 1)[1].strip()
    raise SystemExit(f"constraints.txt pins no {name}")


def download(name: str, dest: Path) -> Path:
    """pip download of name==pinned for CPython 3.12, manylinux x86-64, no dependencies; the wheel's path."""
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
         PYTHON, "--implementation", "cp", *platforms, "-d", str(dest), f"{name}=={pinned(name)}"],
        check=True,
    )  # fmt: skip
    prefix = name.lower().replace("-", "_") + "-"  # wheel file names are normalised: JPype1 -> jpype1-1.7.1-...
    wheels = sorted(
        (p for p in dest.glob("*.whl") if p.name.lower().startswith(prefix)), key=lambda p: p.stat().st_mtime
    )
    if not wheels:
        raise SystemExit(f"pip download left no {name} wheel in {dest}")
    return wheels[-1]


def archive(wheel: Path, dest: Path) -> Path:
    """The wheel's files (as pip --target would lay them) as one tar.xz (xz -9, all cores)."""
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp)
        for so in Path(tmp).rglob("*.so*"):
            so.chmod(0o755)
        with open(dest, "wb") as out:
            tar = subprocess.Popen(["tar", "-C", tmp, "-cf", "-", "."], stdout=subprocess.PIPE)
            subprocess.run(["xz", "-9", "-T0", "-c"], stdin=tar.stdout, stdout=out, check=True)
            if tar.wait() != 0:
                raise SystemExit("tar failed")
    return dest


def tree_bytes(root: Path = ROOT) -> int:
    """Bytes of what every device call sends: tracked files and untracked ones that git does not ignore."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=root, capture_output=True, check=True
    ).stdout
    return sum((root / p).stat().st_size for p in listing.decode().split("\0") if p and (root / p).is_file())


def split(path: Path, tree: int, bundle: int, root: Path = ROOT) -> list[Path]:
    """Split the archive into equal parts, .whl1/ ... .whlN/, each call under the limit; the part files."""
    size, room = path.stat().st_size, CARRY_LIMIT - tree - MARGIN
    if room <= bundle:
        raise SystemExit(f"the working tree ({tree / 2**20:.1f} MiB) leaves no room for the bundle and a part")
    count = -(-(size + bundle) // room)
    while -(-size // count) + bundle > room:
        count += 1
    for old in root.glob(".whl[0-9]*"):
        shutil.rmtree(old)
    step, parts = -(-size // count), []
    with open(path, "rb") as src:
        for i in range(1, count + 1):
            folder = root / f".whl{i}"
            folder.mkdir()
            parts.append(folder / f"{PART}{i:02d}")
            parts[-1].write_bytes(src.read(step))
    return parts


def pack(bundle: Path, ort_wheel: Path | None = None, root: Path = ROOT) -> list[dict]:
    """Wheels, archive, parts, manifest entry; prints and returns the device calls."""
    manifest = read_manifest(bundle)
    wheels = bundle / "wheels"
    wheels.mkdir(exist_ok=True)
    for old in wheels.glob("*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        download("JPype1", wheels)
        wheel = ort_wheel or download("onnxruntime-gpu", Path(tmp))
        print(
            f"{wheel.name}: {wheel.stat().st_size / 1e6:.0f} MB; packing as tar.xz (minutes on two cores)", flush=True
        )
        packed = archive(wheel, Path(tmp) / "ort.tar.xz")
        digest = hashlib.sha256(packed.read_bytes()).hexdigest()
        manifest["ort_archive"] = {"wheel": wheel.name, "bytes": packed.stat().st_size, "sha256": digest}
        (bundle / MANIFEST).write_text(json.dumps(manifest, indent=1))
        tree = tree_bytes(root)
        parts = split(packed, tree, folder_bytes(bundle), root)
    manifest["ort_archive"]["parts"] = [p.name for p in parts]
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return plan(parts, bundle, tree, root)


def plan(parts: list[Path], bundle: Path, tree: int, root: Path = ROOT) -> list[dict]:
    calls, rel = [], bundle.resolve().relative_to(root.resolve()).as_posix()
    for i, part in enumerate(parts, start=1):
        folder = part.parent.name
        last = i == len(parts)
        carry = [folder, rel] if last else [folder]
        size = tree + part.stat().st_size + (folder_bytes(bundle) if last else 0)
        command = (
            f"bash benchmarks/gpu_device.sh {rel}"
            if last
            else f"mkdir -p /tmp/ort-parts && cp {folder}/* /tmp/ort-parts/ && ls -la /tmp/ort-parts"
        )
        calls.append({"carry": carry, "command": command, "timeout_s": 540 if last else 120, "mib": size / 2**20})
    print(
        f"working tree {tree / 2**20:.1f} MiB, bundle {folder_bytes(bundle) / 2**20:.2f} MiB; device calls, back to back:"
    )
    for i, call in enumerate(calls, start=1):
        print(
            f"  {i}. run(command={call['command']!r}, carry={call['carry']}, timeout_s={call['timeout_s']})  # {call['mib']:.1f} MiB"
        )
    return calls


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_pack", description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / ".gpucheck")
    parser.add_argument("--ort-wheel", type=Path, help="an onnxruntime-gpu wheel already downloaded (cp312)")
    args = parser.parse_args(argv)
    pack(args.bundle, args.ort_wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
