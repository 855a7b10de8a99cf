"""Prepare the GPU check here (JDK, DL4J): export the CNN families with seeded weights, record DL4J's outputs,
and write a bundle small enough to travel to the lent GPU machine (benchmarks.gpu_bundle says how).

    python -m benchmarks.gpu_prepare --out .gpucheck                 # the five families, at the tests' sizes
    python -m benchmarks.gpu_prepare --out DIR --families mobilenet-v1-32
    python -m benchmarks.gpu_prepare --out .gpucheck --pack-ort      # also the onnxruntime-gpu parts and the call plan

Per family: DL4J builds the network (DL4J's zoo, or tests/dl4j_families' GraphBuilder networks); every weight
tensor of at least SEEDED_MIN values is set to seeded values with the spread DL4J's initialisation gave it;
then batch norm and the head are calibrated on seeded images as tests/test_onnx_families does (so that the
outputs differ from image to image); DL4J's output() on the first `reference_rows` images is saved; the
network is exported with bridge.export_onnx, parity checked against DL4J on those images; the seeded tensors
are stripped from the file and the restored file is checked again, tensor for tensor and against DL4J.
Prints each family's sizes and the bundle's total against the 64 MiB a device call may carry.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import gpu_bundle
from .gpu_bundle import digest, seeded_images, seeded_tensor

TESTS = Path(__file__).resolve().parent.parent / "tests"
SEEDED_MIN = 4096  # smaller tensors (biases, batch-norm vectors, small kernels) travel as they are
TOLERANCE = 1e-4
CARRY_LIMIT = 64 * 2**20
_BATCH_NORM_PARAMS = {"gamma", "beta", "mean", "var", "log10stdev"}


@dataclass(frozen=True)
class Spec:
    builder: str  # a function of tests/dl4j_families
    args: tuple
    shape: tuple[int, int, int]
    seed: int
    output: str = "classes"  # "classes": softmax rows; "mask": per-pixel sigmoid; "yolo": YOLOv2 head
    spread: float = 2.0  # dl4j_families.calibrate_head's arguments, as in tests/test_onnx_families.py
    pooled: bool = False


# The families of tests/test_onnx_families.py that the issue names, at the same sizes (ResNet-50 at 3x224x224).
FAMILIES = {
    "resnet50-zoo-224": Spec("zoo", ("ResNet50", (3, 224, 224), 1000), (3, 224, 224), 1),
    "xception-zoo-160": Spec("zoo", ("Xception", (3, 160, 160), 1000), (3, 160, 160), 2),
    "mobilenet-v1-160": Spec("mobilenet", (160,), (3, 160, 160), 3),
    "tinyyolo-zoo-224": Spec("zoo", ("TinyYOLO", (3, 224, 224), 20), (3, 224, 224), 4, output="yolo", spread=1.0),
    "unet-deconv-128": Spec("unet_deconv", (128,), (3, 128, 128), 5, output="mask"),
}
# Small ones for the end-to-end test and quick trials; not part of the default bundle.
SMALL = {
    "mobilenet-v1-32": Spec("mobilenet", (32, 10), (3, 32, 32), 6),
    "unet-deconv-16": Spec("unet_deconv", (16, 4), (3, 16, 16), 7, output="mask"),
}


def _families_module():
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))  # the families' builders and calibration live with the tests
    import dl4j_families

    return dl4j_families


def seed_weights(net, base_seed: int) -> dict[str, tuple[int, float]]:
    """Set every large weight tensor to seeded values of the same spread; {param key: (seed, bound)}."""
    import bridge

    seeded = {}
    for index, (key, value) in enumerate(sorted((str(k), v) for k, v in dict(net.paramTable()).items())):
        name = key.rsplit("_", 1)[1]
        if name in _BATCH_NORM_PARAMS or int(value.length()) < SEEDED_MIN:
            continue
        std = float(np.std(bridge.to_numpy(value).astype(np.float64)))
        if not std > 0:
            continue
        seed, bound = base_seed * 100_000 + index, std * 3**0.5  # uniform [-b, b) has standard deviation b / sqrt(3)
        shape = tuple(int(d) for d in value.shape())
        net.setParam(key, bridge.to_indarray(seeded_tensor(seed, shape, bound)))
        seeded[key] = (seed, bound)
    return seeded


def reseed_scaled(net, seeded: dict[str, tuple[int, float]]) -> list[str]:
    """Calibration rescales the head's weights (dl4j_families.calibrate_head: W * k): draw that tensor again
    with bound * k, the same values to float32 rounding, so that it stays seeded; a tensor changed otherwise
    is dropped from `seeded` and travels as it is. Returns the keys redrawn."""
    import bridge

    params, redrawn = dict(net.paramTable()), []
    for key, (seed, bound) in list(seeded.items()):
        current = bridge.to_numpy(params[key]).astype(np.float64)
        drawn = seeded_tensor(seed, current.shape, bound).astype(np.float64)
        if np.array_equal(current, drawn):
            continue
        large = np.abs(drawn) > bound * 1e-3
        k = float(np.median(current[large] / drawn[large]))
        if np.max(np.abs(current - drawn * k)) > 1e-6 * np.max(np.abs(current)):
            del seeded[key]
            continue
        seeded[key] = (seed, bound * k)
        net.setParam(key, bridge.to_indarray(seeded_tensor(seed, current.shape, bound * k)))
        redrawn.append(key)
    return redrawn


def build_calibrated(spec: Spec, reference_rows: int):
    """(DL4J network with seeded, calibrated weights, {param key: (seed, bound)}, reference images)."""
    families = _families_module()
    net = getattr(families, spec.builder)(*spec.args)
    seeded = seed_weights(net, spec.seed)
    families.perturb_batch_norm(net, seed=spec.seed, calibrate=seeded_images(spec.seed * 1000 + 10, 4, spec.shape))
    x = seeded_images(image_seed(spec), reference_rows, spec.shape)
    families.calibrate_head(net, x, spec.spread, spec.pooled)
    reseed_scaled(net, seeded)
    return net, seeded, x


def image_seed(spec: Spec) -> int:
    return spec.seed * 1000


def bound(spec: Spec, expected: np.ndarray) -> float:
    # YOLO's box sizes are prior * exp(logit), up to ~1000 grid cells: float32 rounding of the logits becomes an
    # error proportional to the size (tests/test_onnx_families.py measured it). The bound is relative there.
    return TOLERANCE * max(1.0, float(np.abs(expected).max())) if spec.output == "yolo" else TOLERANCE


def prepare_family(name: str, spec: Spec, out: Path, reference_rows: int = 4) -> dict:
    """Export one family into `out`; its manifest entry."""
    import onnx
    import onnxruntime as ort

    from bridge.onnx import export_onnx
    from bridge.onnx.export import dl4j_outputs

    start = time.perf_counter()
    net, seeded, x = build_calibrated(spec, reference_rows)
    expected = dl4j_outputs(net, [x])[0]
    limit = bound(spec, expected)
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "model.onnx"
        report = export_onnx(net, full, input_shape=spec.shape, sample=x, tolerance=limit)
        model = onnx.load(str(full))
        full_bytes = full.stat().st_size
    by_digest = {
        digest(seeded_tensor(seed, tuple(int(d) for d in dict(net.paramTable())[key].shape()), b)): (seed, b)
        for key, (seed, b) in seeded.items()
    }
    skeleton, entries = gpu_bundle.strip(model, by_digest)
    restored = gpu_bundle.restore(skeleton, entries)
    _assert_same_tensors(model, restored, name)
    session = ort.InferenceSession(restored.SerializeToString(), providers=["CPUExecutionProvider"])
    restored_diff = float(np.max(np.abs(session.run(None, {session.get_inputs()[0].name: x})[0] - expected)))
    if not restored_diff <= limit:
        raise AssertionError(f"{name}: the restored model differs from DL4J by {restored_diff:.3g} > {limit:g}")
    onnx.save(skeleton, str(out / f"{name}.onnx"))
    np.save(out / f"{name}.dl4j.npy", expected, allow_pickle=False)
    entry = {
        "build": f"tests/dl4j_families.{spec.builder}{spec.args!r}",
        "skeleton": f"{name}.onnx",
        "dl4j_outputs": f"{name}.dl4j.npy",
        "input_shape": list(spec.shape),
        "output": spec.output,
        "output_shape": list(expected.shape[1:]),
        "image_seed": image_seed(spec),
        "reference_rows": reference_rows,
        "reference_sha256": digest(x),
        "params": int(net.numParams()),
        "full_onnx_bytes": full_bytes,
        "skeleton_bytes": (out / f"{name}.onnx").stat().st_size,
        "dl4j_outputs_bytes": (out / f"{name}.dl4j.npy").stat().st_size,
        "seeded_tensors": len(entries),
        "stored_tensors": len(skeleton.graph.initializer),
        "export_max_abs_diff": report.max_abs_diff,
        "restored_cpu_max_abs_diff": restored_diff,
        "bound": limit,
        "seconds": round(time.perf_counter() - start, 1),
        "seeded": entries,
    }
    return entry


def _assert_same_tensors(model, restored, name: str) -> None:
    from onnx import numpy_helper

    want = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    got = {t.name: numpy_helper.to_array(t) for t in restored.graph.initializer}
    if want.keys() != got.keys() or any(not np.array_equal(want[k], got[k]) for k in want):
        raise AssertionError(f"{name}: the restored model's initializers differ from the exported model's")


def prepare(out: Path, names: list[str], reference_rows: int = 4) -> dict:
    """Write the bundle for `names` into `out` (created; an old manifest is replaced); returns the manifest."""
    import onnx
    import onnxruntime as ort

    import bridge
    from bridge.onnx.export import DL4J_VERSION

    bridge.start_jvm()
    out.mkdir(parents=True, exist_ok=True)
    specs = {**FAMILIES, **SMALL}
    families = {}
    for name in names:
        families[name] = prepare_family(name, specs[name], out, reference_rows)
        f = families[name]
        print(
            f"{name}: {f['params']:,} params, ONNX {f['full_onnx_bytes'] / 1e6:.1f} MB -> skeleton "
            f"{f['skeleton_bytes'] / 1e6:.2f} MB ({f['seeded_tensors']} tensors seeded, {f['stored_tensors']} stored) + "
            f"DL4J outputs {f['dl4j_outputs_bytes'] / 1e3:.0f} kB; DL4J vs ONNX Runtime CPU "
            f"{f['export_max_abs_diff']:.2g} (bound {f['bound']:.2g}); {f['seconds']} s",
            flush=True,
        )
    manifest = {
        "format": gpu_bundle.FORMAT,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "prepared_with": {
            "dl4j": DL4J_VERSION,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
            "numpy": np.__version__,
        },
        "tolerance": TOLERANCE,
        "families": families,
    }
    (out / gpu_bundle.MANIFEST).write_text(json.dumps(manifest, indent=1))
    total = gpu_bundle.folder_bytes(out)
    print(f"bundle {out}: {total / 2**20:.2f} MiB in all ({total:,} bytes; a device call carries at most 64 MiB)")
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_prepare", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(".gpucheck"), help="bundle folder (default .gpucheck)")
    parser.add_argument("--families", nargs="*", choices=[*FAMILIES, *SMALL], default=list(FAMILIES))
    parser.add_argument("--reference-rows", type=int, default=4, help="images DL4J's outputs are saved for")
    parser.add_argument("--pack-ort", action="store_true", help="also pack onnxruntime-gpu and print the device calls")
    args = parser.parse_args(argv)
    prepare(args.out, args.families, args.reference_rows)
    if args.pack_ort:
        from .gpu_pack import pack

        pack(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
