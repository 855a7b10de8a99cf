"""`dl4j-bridge doctor`: what can run here, checked rather than assumed.

Execution providers are tried, one tiny ONNX session each, and listed as usable only when the session runs
on them (session.get_providers()); the datasets, the jar cache and the service jar are looked for on disk.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..data.loaders import FASHION_MNIST_DIR, _mnist_5k_path
from ..errors import BridgeError, DataError, SetupError
from ..jvm import VERSION, java_home, jclass, jvm_options, service_jar
from ..jvm.build import FIRST_SETUP_DOWNLOAD
from ..jvm.locate import TRAIN
from ..serve.runtime import GPU_PROVIDERS, _gpu_driver_missing, _tensorrt_missing

__all__ = ["doctor_report", "provider_status"]


def _tiny_model() -> bytes:
    """A one-node float model (y = x + x), the smallest session every provider can take."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])],
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def provider_status() -> dict[str, str]:
    """{provider: "usable" or why not} for every provider compiled into this onnxruntime build."""
    import numpy as np
    import onnxruntime as ort

    model, status = _tiny_model(), {}
    no_driver = _gpu_driver_missing()
    for provider in ort.get_available_providers():
        if provider in GPU_PROVIDERS and no_driver:
            status[provider] = f"compiled in, cannot run: {no_driver}"
            continue
        if provider == "TensorrtExecutionProvider" and _tensorrt_missing():
            status[provider] = f"compiled in, cannot run: {_tensorrt_missing()}"
            continue
        status[provider] = _try_session(ort, model, provider, np)
    return status


def _try_session(ort, model: bytes, provider: str, np) -> str:
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the outcome is reported below, not as ONNX Runtime's log page
    try:
        session = ort.InferenceSession(model, options, providers=[provider])
        ran = session.get_providers()
        session.run(None, {"x": np.ones((1, 4), np.float32)})
    except Exception as exc:  # onnxruntime's own exception types
        return f"compiled in, cannot run: {str(exc).splitlines()[0][:160]}"
    if not ran or ran[0] != provider:
        return f"compiled in, cannot run: the session fell back to {ran}"
    return "usable"


def doctor_report() -> dict:
    """Every line of `dl4j-bridge doctor`, as {name: value}."""
    import onnxruntime

    report = {"dl4j-bridge": _version(), "python": sys.version.split()[0]}
    report.update(_jvm_report())
    report["onnxruntime"] = onnxruntime.__version__
    status = provider_status()
    report["providers usable"] = ", ".join(p for p, s in status.items() if s == "usable") or "none"
    for provider, state in status.items():
        if state != "usable":
            report[provider] = state
    report.update(_datasets())
    report.update(_jars())
    report["cpus"] = os.cpu_count()
    report["memory"] = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB"
    return report


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dl4j-bridge")
    except PackageNotFoundError:
        return VERSION


def _jvm_report() -> dict:
    try:
        report = {"java_home": str(java_home())}
        System = jclass("java.lang.System")
    except BridgeError as exc:  # no JDK, or no jars yet: say so and go on with the rest
        return {"java": f"unavailable: {exc}"}
    report["java"] = f"{System.getProperty('java.version')} ({System.getProperty('java.vendor')})"
    Nd4j = jclass("org.nd4j.linalg.factory.Nd4j")
    env = Nd4j.getExecutioner().getEnvironmentInformation()
    report["dl4j / nd4j"] = f"{_jar_version('deeplearning4j-nn')} / {_jar_version('nd4j-native')}"
    report["nd4j backend"] = (
        f"{Nd4j.getBackend().getClass().getSimpleName()} ({env.get('blas.vendor')}, "
        f"{env.get('omp.threads')} OMP threads)"
    )
    extension = System.getProperty("org.bytedeco.javacpp.platform.extension")
    helpers = jclass("ai.dl4jbridge.train.OneDnnHelpers").enabled() and bool(
        jclass("org.deeplearning4j.nn.layers.mkldnn.BaseMKLDNNHelper").mklDnnEnabled()
    )
    report["nd4j build"] = (
        f"linux-x86_64{extension or ''} (DL4J's oneDNN layer helpers in dl4j-bridge's calls "
        f"{'on, channels-first layers' if helpers else 'off'})"
    )
    report["spark"] = str(getattr(jclass("org.apache.spark.package$"), "MODULE$").SPARK_VERSION())
    return report


def _datasets() -> dict:
    try:
        mnist = f"5,000 digits in {_mnist_5k_path()}"
    except DataError as exc:
        mnist = f"missing: {exc}"
    fashion = (
        f"{FASHION_MNIST_DIR}"
        if FASHION_MNIST_DIR.is_dir()
        else "not installed (apt-get install dataset-fashion-mnist)"
    )
    return {"dataset mnist": mnist, "dataset fashion-mnist": fashion}


def _jars() -> dict:
    report = {}
    for label, (_, listing) in zip(("jars (checkout)", "jar cache"), TRAIN.places()):
        folder = listing.parent
        if listing.is_file():
            entries = [e for e in listing.read_text().strip().split(os.pathsep) if e]
            present = [Path(e) for e in entries if Path(e).is_file()]
            size = sum(p.stat().st_size for p in present) / 1e6
            report[label] = (
                f"{folder}: {len(present)}/{len(entries)} jars present, {size:.0f} MB on the training classpath "
                f"(the first setup downloads {FIRST_SETUP_DOWNLOAD}: these, the service's and UI's jars, Maven's plugins)"
            )
        elif label == "jar cache":
            report[label] = (
                f"{folder}: empty (run `dl4j-bridge setup` after pip install; it downloads {FIRST_SETUP_DOWNLOAD})"
            )
    try:
        report["service jar"] = str(service_jar())
    except SetupError:
        report["service jar"] = "missing (run `dl4j-bridge setup`, or build java/runtime)"
    return report


def _jar_version(artifact: str) -> str:
    """The version of a Maven artifact on the running JVM's classpath, read from its jar name."""
    for entry in jvm_options().classpath:
        name = Path(entry).name
        if name.startswith(artifact + "-") and name[len(artifact) + 1 :][:1].isdigit():
            return name[len(artifact) + 1 :].split(".jar")[0].split("-linux")[0]
    return "unknown"
