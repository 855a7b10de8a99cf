#!/usr/bin/env bash
# The last device call of the GPU check (benchmarks/gpu_check.py's docstring lists every call):
#   bash benchmarks/gpu_device.sh BUNDLE [gpu_check options, e.g. --stand-in --batches 1 8]
# Earlier calls copied onnxruntime-gpu's archive parts to /tmp/ort-parts; the last part travels with this call
# (in .whlN/). Checks the archive's SHA-256 against the bundle's manifest, unpacks it and the bundle's wheels into
# /tmp/site, shows what ONNX Runtime loads, runs the gpu-marked tests, then benchmarks.gpu_check. Writes under
# $OUT: gpu_check.json, pytest_gpu.txt, providers.txt. Exit status: gpu_check's (0: every family within 1e-4).
# GPU_CHECK_SITE=DIR overrides /tmp/site (a dry run here uses its own folder).
set -uo pipefail
BUNDLE=${1:-.gpucheck}
shift || true
OUT=${OUT:-$PWD/gpu-out}
SITE=${GPU_CHECK_SITE:-/tmp/site}
PARTS=${GPU_CHECK_PARTS:-/tmp/ort-parts}
mkdir -p "$PARTS" "$SITE" "$OUT"
for folder in .whl[0-9]*; do
  [ -d "$folder" ] && cp "$folder"/ort.tar.xz.part* "$PARTS"/ 2>/dev/null
done
python3 - "$BUNDLE" "$PARTS" "$SITE" <<'EOF' || exit 3
import hashlib, io, json, sys, tarfile
from pathlib import Path
bundle, parts_dir, site = (Path(a) for a in sys.argv[1:4])
want = json.loads((bundle / "manifest.json").read_text()).get("ort_archive")
if not want:
    sys.exit(f"{bundle}/manifest.json has no ort_archive: run `python -m benchmarks.gpu_pack` here first")
missing = [p for p in want["parts"] if not (parts_dir / p).is_file()]
if missing:
    sys.exit(f"onnxruntime-gpu parts missing from {parts_dir}: {missing} (the machine went cold? redo those calls)")
data = b"".join((parts_dir / p).read_bytes() for p in want["parts"])
if hashlib.sha256(data).hexdigest() != want["sha256"]:
    sys.exit(f"the onnxruntime-gpu archive's SHA-256 differs from the manifest's: parts {want['parts']} are stale")
with tarfile.open(fileobj=io.BytesIO(data), mode="r:xz") as tar:
    tar.extractall(site, filter="data")
print(f"unpacked {want['wheel']} ({len(data) / 1e6:.0f} MB archive) into {site}")
EOF
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" "$BUNDLE"/wheels/*.whl || exit 3
export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  python3 -c 'import onnxruntime as o; o.preload_dlls(); print("onnxruntime", o.__version__, o.__file__, o.get_available_providers())' 2>&1
  python3 -m bridge doctor 2>&1 | grep -E 'onnxruntime|Provider|providers'
} | tee "$OUT/providers.txt"
python3 -m pytest -q -p no:faulthandler -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$OUT/pytest_gpu.txt"
python3 -m benchmarks.gpu_check --bundle "$BUNDLE" --out "$OUT/gpu_check.json" "$@"
