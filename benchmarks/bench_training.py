"""Training throughput: one epoch of LeNet on Fashion-MNIST, DL4J (through dl4j-bridge) vs PyTorch (CPU),
same architecture, batch size, optimizer (Adam 1e-3) and thread count, in the same run.

Run: .venv/bin/python -m benchmarks.bench_training [--quick] [--resnet | --samediff]
Each measurement runs in a fresh process (its own JVM / torch runtime) and reports samples/s and peak RSS.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time

from .common import measure, write_section

THREADS = 2
BATCH = 64
# (label, worker, environment) — DL4J variants tried while looking for the gap to PyTorch.
DEFAULT = "DL4J via dl4j-bridge (default: onednn-avx2 build, oneDNN layer helpers on)"
SPINNING = "DL4J via dl4j-bridge, libgomp's own spinning (GOMP_SPINCOUNT=300000)"
GENERIC = "DL4J, generic build, DL4J's own conv code (DL4J's defaults)"
ONE_THREAD = "DL4J, default, OMP_NUM_THREADS=1"
BIG_BATCH = "DL4J, default, batch 256"
# Each of this session's defaults turned back to what it replaced, one at a time, then all three together.
DL4J_INPUT_CONV = "DL4J via dl4j-bridge, DL4J's own input-convolution backprop (DL4J_BRIDGE_INPUT_CONV_GRADIENTS=dl4j)"
C2_JIT = "DL4J via dl4j-bridge, HotSpot's C2 compiler too (JAVA_TOOL_OPTIONS=-XX:TieredStopAtLevel=4)"
OPENBLAS_WAIT = "DL4J via dl4j-bridge, OpenBLAS's own idle wait (OPENBLAS_THREAD_TIMEOUT=28)"
DENORMALS = "DL4J via dl4j-bridge, denormal floats kept (DL4J_BRIDGE_FLUSH_DENORMALS=false)"
NO_CACHE = "DL4J via dl4j-bridge, forward recomputed in backprop (DL4J_BRIDGE_FORWARD_CACHE=false)"
RELU_BP = "DL4J via dl4j-bridge, DL4J's relu_bp for ReLU's derivative (DL4J_BRIDGE_RELU_GRADIENTS=dl4j)"
EARLIER = "DL4J via dl4j-bridge, all six of the above (the default before them)"
EARLIER_ENV = {
    "DL4J_BRIDGE_INPUT_CONV_GRADIENTS": "dl4j",
    "JAVA_TOOL_OPTIONS": "-XX:TieredStopAtLevel=4",
    "OPENBLAS_THREAD_TIMEOUT": "28",
    "DL4J_BRIDGE_FLUSH_DENORMALS": "false",
    "DL4J_BRIDGE_FORWARD_CACHE": "false",
    "DL4J_BRIDGE_RELU_GRADIENTS": "dl4j",
}
VARIANTS = [
    ("PyTorch 2.15 CPU (reference)", "torch", {}),
    (DEFAULT, "dl4j", {}),
    (DL4J_INPUT_CONV, "dl4j", {"DL4J_BRIDGE_INPUT_CONV_GRADIENTS": "dl4j"}),
    (C2_JIT, "dl4j", {"JAVA_TOOL_OPTIONS": "-XX:TieredStopAtLevel=4"}),
    (OPENBLAS_WAIT, "dl4j", {"OPENBLAS_THREAD_TIMEOUT": "28"}),
    (DENORMALS, "dl4j", {"DL4J_BRIDGE_FLUSH_DENORMALS": "false"}),
    (NO_CACHE, "dl4j", {"DL4J_BRIDGE_FORWARD_CACHE": "false"}),
    (RELU_BP, "dl4j", {"DL4J_BRIDGE_RELU_GRADIENTS": "dl4j"}),
    (EARLIER, "dl4j", EARLIER_ENV),
    (SPINNING, "dl4j", {"GOMP_SPINCOUNT": "300000"}),
    (GENERIC, "dl4j", {"DL4J_BRIDGE_ND4J": "generic", "GOMP_SPINCOUNT": "300000", **EARLIER_ENV}),
    (ONE_THREAD, "dl4j", {"OMP_NUM_THREADS": "1"}),
    (BIG_BATCH, "dl4j", {"BENCH_BATCH": "256"}),
]


def _dl4j_epoch(n: int, batch: int) -> dict:
    import bridge
    from bridge import data, nets
    from bridge.jvm import nd4j_build

    bridge.start_jvm()
    x, y, _, _ = data.load("fashion-mnist")
    net = nets.lenet(seed=1)
    bridge.fit(net, x[:1024], y[:1024], epochs=1, batch_size=batch, progress=False)  # JIT and workspaces warm
    with _OffHeapPeak() as off_heap:
        epoch = bridge.fit(net, x[:n], y[:n], epochs=1, batch_size=batch, seed=1, progress=False)[0]
    return {"samples_per_sec": epoch.samples_per_sec, "build": nd4j_build(), "off_heap_peak_mb": off_heap.peak / 2**20}


def _dl4j_resnet_epoch(n: int, batch: int) -> dict:
    """bridge's residual CNN (nets.resnet_small, a ComputationGraph): one epoch of n images after a warm-up."""
    import bridge
    from bridge import data, nets

    bridge.start_jvm()
    x, y, _, _ = data.load("fashion-mnist")
    x = x[:n].reshape(-1, 1, 28, 28)
    net = nets.resnet_small(seed=1)
    bridge.fit(net, x[:512], y[:512], epochs=1, batch_size=batch, progress=False)
    epoch = bridge.fit(net, x, y[:n], epochs=1, batch_size=batch, seed=1, progress=False)[0]
    return {"samples_per_sec": epoch.samples_per_sec}


def _torch_resnet_epoch(n: int, batch: int) -> dict:
    """The same architecture as nets.resnet_small in PyTorch: 3x3 stem conv + batch norm + relu, a stride-2 3x3
    conv, a 32-wide identity block, a 64-wide stride-2 block with a 1x1 projection, global average pool, softmax."""
    import numpy as np
    import torch

    from bridge import data

    torch.set_num_threads(THREADS)
    torch.manual_seed(1)
    nn = torch.nn

    def conv_bn(cin, cout, k=3, stride=1):
        return [nn.Conv2d(cin, cout, k, stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout, momentum=0.1)]

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(*conv_bn(cin, cout, 3, stride), nn.ReLU(), *conv_bn(cout, cout))
            self.shortcut = nn.Sequential(*conv_bn(cin, cout, 1, stride)) if stride > 1 else nn.Identity()

        def forward(self, x):
            return torch.relu(self.body(x) + self.shortcut(x))

    net = nn.Sequential(
        *conv_bn(1, 32),
        nn.ReLU(),
        *conv_bn(32, 32, 3, 2),
        nn.ReLU(),
        Block(32, 32, 1),
        Block(32, 64, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )
    x, y, _, _ = data.load("fashion-mnist")
    features, labels = torch.from_numpy(x[:n].reshape(-1, 1, 28, 28)), torch.from_numpy(y[:n].astype(np.int64))
    return {"samples_per_sec": _torch_epoch_rate(net, features, labels, n, batch, warm_up=512)}


def _torch_epoch_rate(net, features, labels, n: int, batch: int, warm_up: int) -> float:
    """samples/s of one shuffled epoch of n rows (Adam 1e-3, cross-entropy) after a warm-up epoch of warm_up rows."""
    import torch

    optimizer, loss_fn = torch.optim.Adam(net.parameters(), 1e-3), torch.nn.CrossEntropyLoss()

    def epoch(count):
        order = torch.randperm(count)
        for start in range(0, count, batch):
            rows = order[start : start + batch]
            optimizer.zero_grad()
            loss_fn(net(features[rows]), labels[rows]).backward()
            optimizer.step()

    epoch(warm_up)
    start = time.perf_counter()
    epoch(n)
    return n / (time.perf_counter() - start)


def _samediff_epoch(n: int, batch: int) -> dict:
    """The same LeNet written in DL4J's SameDiff (its graph API: conv2d, max pooling, linear, softmax cross-entropy,
    Adam 1e-3), trained by SameDiff.fit on DataSets of `batch` images: one epoch of n after 1,024 warm-up images."""
    import numpy as np
    from jpype import JArray, JLong

    import bridge
    from bridge import data
    from bridge.jvm import jclass

    bridge.start_jvm()
    conv_config = jclass("org.nd4j.linalg.api.ops.impl.layers.convolution.config.Conv2DConfig")
    pool_config = jclass("org.nd4j.linalg.api.ops.impl.layers.convolution.config.Pooling2DConfig")
    xavier = jclass("org.nd4j.weightinit.impl.XavierInitScheme")
    dtype = jclass("org.nd4j.linalg.api.buffer.DataType").FLOAT
    sd = jclass("org.nd4j.autodiff.samediff.SameDiff").create()

    def shape(*dims):
        return JArray(JLong)(list(dims))

    def weights(name, fan_in, fan_out, *dims):
        return sd.var(name, xavier("c", float(fan_in), float(fan_out)), dtype, shape(*dims))

    def conv(h, name, cin, cout):  # weights [kH, kW, iC, oC]: SameDiff M2.1's conv2d_bp reads no other layout
        w, b = weights(name + "_W", cin * 25, cout * 25, 5, 5, cin, cout), sd.zero(name + "_b", dtype, shape(cout))
        config = conv_config.builder().kH(5).kW(5).sH(1).sW(1).pH(0).pW(0).dH(1).dW(1).dataFormat("NCHW").build()
        return sd.nn().relu(sd.cnn().conv2d(h, w, b, config), 0.0)

    pool = pool_config.builder().kH(2).kW(2).sH(2).sW(2).isNHWC(False).build()
    h = sd.cnn().maxPooling2d(conv(sd.placeHolder("input", dtype, shape(-1, 1, 28, 28)), "c0", 1, 20), pool)
    h = sd.reshape(sd.cnn().maxPooling2d(conv(h, "c1", 20, 50), pool), shape(-1, 800))
    h = sd.nn().relu(sd.nn().linear(h, weights("d_W", 800, 500, 800, 500), sd.zero("d_b", dtype, shape(500))), 0.0)
    logits = sd.nn().linear(h, weights("o_W", 500, 10, 500, 10), sd.zero("o_b", dtype, shape(10)))
    sd.loss().softmaxCrossEntropy("loss", sd.placeHolder("label", dtype, shape(-1, 10)), logits, None)
    sd.setLossVariables("loss")
    sd.setTrainingConfig(
        jclass("org.nd4j.autodiff.samediff.TrainingConfig")
        .builder()
        .updater(jclass("org.nd4j.linalg.learning.config.Adam")(1e-3))
        .dataSetFeatureMapping("input")
        .dataSetLabelMapping("label")
        .build()
    )
    x, y, _, _ = data.load("fashion-mnist")

    def minibatches(count):
        sets = jclass("java.util.ArrayList")()
        for start in range(0, count, batch):
            features = bridge.to_indarray(x[start : start + batch].reshape(-1, 1, 28, 28))
            sets.add(
                jclass("org.nd4j.linalg.dataset.DataSet")(
                    features, bridge.to_indarray(np.eye(10, dtype=np.float32)[y[start : start + batch]])
                )
            )
        return jclass("org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator")(sets, batch)

    warm_up, epoch = minibatches(1024), minibatches(n)
    sd.fit(warm_up, 1)
    start = time.perf_counter()
    sd.fit(epoch, 1)
    return {"samples_per_sec": n / (time.perf_counter() - start)}


def _rates(kinds: tuple[str, ...], n: int, repeats: int) -> dict[str, list[float]] | str:
    """Each worker kind's samples/s over `repeats` fresh processes, sorted; or why one was not measured."""
    rates = {}
    for kind in kinds:
        results = [_spawn(kind, n, {}) for _ in range(repeats)]
        failed = next((r for r in results if isinstance(r, str)), None)
        if failed:
            return failed
        rates[kind] = sorted(r["samples_per_sec"] for r in results)
    return rates


def _samediff_section(quick: bool) -> str:
    n, repeats = (1024, 1) if quick else (SAMEDIFF_SAMPLES, 3)
    rates = _rates(("dl4j", "dl4j-samediff"), n, repeats)
    if isinstance(rates, str):
        return f"SameDiff: {rates}"
    layers, samediff = (statistics.median(rates[k]) for k in ("dl4j", "dl4j-samediff"))
    return f"""## Training: DL4J's SameDiff vs its layers API, the same LeNet

`--worker dl4j-samediff`: LeNet written in SameDiff (conv2d, max pooling, linear, softmax cross-entropy, Adam 1e-3)
and trained by `SameDiff.fit`, against dl4j-bridge's MultiLayerNetwork path (`--worker dl4j`), one epoch of {n}
Fashion-MNIST images, batch {BATCH}, {THREADS} threads, median of {repeats} fresh processes.

| run | samples/s, median (min–max) | vs layers API |
| --- | --- | --- |
| MultiLayerNetwork via dl4j-bridge (reference) | {layers:.0f} ({rates["dl4j"][0]:.0f}–{rates["dl4j"][-1]:.0f}) | 1.00x |
| SameDiff | {samediff:.0f} ({rates["dl4j-samediff"][0]:.0f}–{rates["dl4j-samediff"][-1]:.0f}) | {samediff / layers:.2f}x |

{_samediff_verdict(samediff / layers)}
"""


SAMEDIFF_SAMPLES = 16384


def _samediff_verdict(ratio: float) -> str:
    if ratio <= 1.05:
        return "SameDiff is not faster here, so dl4j-bridge does not offer it as a training path."
    return (
        f"SameDiff trains the same network {ratio:.2f}x as fast. dl4j-bridge does not offer it behind `bridge.fit` yet:"
        " DL4J 1.0.0-M2.1 has no conversion from its layers to SameDiff (no `toSameDiff`), so that needs a converter"
        " per layer type, as the ONNX exporter has, and the trained variables copied back into the DL4J network."
    )


RESNET_SAMPLES = 8192


def _resnet_section(quick: bool) -> str:
    n, repeats = (1024, 1) if quick else (RESNET_SAMPLES, 3)
    rates = _rates(("torch-resnet", "dl4j-resnet"), n, repeats)
    if isinstance(rates, str):
        return f"Residual CNN: {rates}"
    torch_, dl4j = (statistics.median(rates[k]) for k in ("torch-resnet", "dl4j-resnet"))
    return f"""## Training: DL4J vs PyTorch, the residual CNN (a ComputationGraph)

`nets.resnet_small()` (3x3 stem conv + batch norm, a stride-2 conv, a 32-wide identity block and a 64-wide
stride-2 block with a 1x1 projection, global average pooling; 84 k parameters) and the same architecture in
PyTorch, one epoch of {n} Fashion-MNIST images, batch {BATCH}, Adam 1e-3, {THREADS} threads, median of {repeats}
fresh processes (`--worker dl4j-resnet` / `torch-resnet`).

| run | samples/s, median (min–max) | vs PyTorch |
| --- | --- | --- |
| PyTorch (reference) | {torch_:.0f} ({rates["torch-resnet"][0]:.0f}–{rates["torch-resnet"][-1]:.0f}) | 1.00x |
| DL4J via dl4j-bridge | {dl4j:.0f} ({rates["dl4j-resnet"][0]:.0f}–{rates["dl4j-resnet"][-1]:.0f}) | {dl4j / torch_:.2f}x |
"""


class _OffHeapPeak:
    """Peak of ND4J's native (off-heap) memory, as ND4J's memory manager counts it, polled every 200 ms."""

    def __enter__(self):
        import threading

        from bridge.jvm import jclass

        manager, host = jclass("org.nd4j.linalg.factory.Nd4j").getMemoryManager(), jclass("java.lang.Integer")(0)
        self.peak, self._stop = int(manager.allocatedMemory(host)), threading.Event()

        def poll():
            while not self._stop.wait(0.2):
                self.peak = max(self.peak, int(manager.allocatedMemory(host)))

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False


def _torch_epoch(n: int, batch: int) -> dict:
    import numpy as np
    import torch

    from bridge import data

    torch.set_num_threads(THREADS)
    torch.manual_seed(1)
    x, y, _, _ = data.load("fashion-mnist")
    features = torch.from_numpy(x[:n].reshape(-1, 1, 28, 28))
    labels = torch.from_numpy(y[:n].astype(np.int64))
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(1, 20, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(800, 500),
        nn.ReLU(),
        nn.Linear(500, 10),
    )
    return {
        "samples_per_sec": _torch_epoch_rate(net, features, labels, n, batch, warm_up=1024),
        "version": torch.__version__,
    }


# Where each millisecond of a LeNet step goes, layer by layer, forward and backward, in both frameworks.
LAYERS = (
    "conv 5x5x20 + relu",
    "max pool 2",
    "conv 5x5x50 + relu",
    "max pool 2",
    "dense 500 + relu",
    "softmax output + loss",
)
REPS = 60


def _median_ms(fn) -> float:
    return measure(fn, repeats=REPS, warmup=10).median * 1000


def _dl4j_layers(n: int, batch: int) -> dict:
    """Each DL4J layer's forward (training mode) and backprop on a real minibatch, as MultiLayerNetwork runs them
    (the layer's input set, preprocessors applied), outside workspaces; then the whole step and its gradient part."""
    import numpy as np

    import bridge
    from bridge import data, nets
    from bridge.jvm import jclass

    bridge.start_jvm()
    x, y, _, _ = data.load("fashion-mnist")
    net = nets.lenet(seed=1)
    bridge.fit(net, x[:1024], y[:1024], batch_size=batch, progress=False)
    mln, mgr = net.java, jclass("org.deeplearning4j.nn.workspace.LayerWorkspaceMgr").noWorkspaces()
    features = bridge.to_indarray(x[:batch].reshape(batch, 1, 28, 28))
    labels = bridge.to_indarray(np.eye(10, dtype=np.float32)[y[:batch]])
    layers, conf = list(mln.getLayers()), mln.getLayerWiseConfigurations()
    inputs, h = [], features
    for i, layer in enumerate(layers):
        if conf.getInputPreProcess(i) is not None:
            h = conf.getInputPreProcess(i).preProcess(h, batch, mgr)
        inputs.append(h)
        h = layer.activate(h, True, mgr)
    layers[-1].setLabels(labels)
    forward, backward, epsilon = [], [], None
    for i, layer in enumerate(layers):
        forward.append(_median_ms(lambda layer=layer, h=inputs[i]: layer.activate(h, True, mgr)))
    for i in reversed(range(len(layers))):

        def backprop(layer=layers[i], h=inputs[i], eps=epsilon):
            layer.setInput(h, mgr)  # DL4J's layers recompute from their input what backprop needs
            return layer.backpropGradient(eps, mgr)

        backward.insert(0, _median_ms(backprop))
        epsilon = backprop().getSecond()
        if conf.getInputPreProcess(i) is not None:
            epsilon = conf.getInputPreProcess(i).backprop(epsilon, batch, mgr)
    minibatch = jclass("org.nd4j.linalg.dataset.DataSet")(features, labels)

    def gradient():
        mln.setInput(features)
        mln.setLabels(labels)
        mln.computeGradientAndScore()

    return {
        "forward": forward,
        "backward": backward,
        "gradient": _median_ms(gradient),
        "step": _median_ms(lambda: mln.fit(minibatch)),
    }


def _torch_layers(n: int, batch: int) -> dict:
    """The same per-layer split in PyTorch: each layer group's forward, and its backward alone (its input a leaf
    that needs a gradient, except the first layer's, as in training), then the whole step and its gradient part."""
    import torch

    from bridge import data

    torch.set_num_threads(THREADS)
    torch.manual_seed(1)
    x, y, _, _ = data.load("fashion-mnist")
    nn = torch.nn
    groups = [
        nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU()),
        nn.MaxPool2d(2),
        nn.Sequential(nn.Conv2d(20, 50, 5), nn.ReLU()),
        nn.MaxPool2d(2),
        nn.Sequential(nn.Flatten(), nn.Linear(800, 500), nn.ReLU()),
        nn.Linear(500, 10),
    ]
    net = nn.Sequential(*groups)
    optimizer, loss_fn = torch.optim.Adam(net.parameters(), 1e-3), nn.CrossEntropyLoss()
    features, labels = (
        torch.from_numpy(x[:batch].reshape(batch, 1, 28, 28)),
        torch.from_numpy(y[:batch].astype("int64")),
    )
    inputs, h = [], features
    with torch.no_grad():
        for group in groups:
            inputs.append(h)
            h = group(h)
    forward, backward = [], []
    for i, group in enumerate(groups):
        last = i == len(groups) - 1

        def run(group=group, h=inputs[i], last=last, first=i == 0):
            leaf = h if first else h.detach().requires_grad_()
            out = group(leaf)
            return loss_fn(out, labels) if last else out

        forward.append(_median_ms(run))
        out = run()
        grad = None if last else torch.ones_like(out)
        backward.append(_median_ms(lambda run=run, grad=grad: run().backward(grad)) - forward[-1])

    def gradient():
        optimizer.zero_grad()
        loss_fn(net(features), labels).backward()

    def step():
        gradient()
        optimizer.step()

    return {"forward": forward, "backward": backward, "gradient": _median_ms(gradient), "step": _median_ms(step)}


def worker(kind: str, n: int) -> None:
    batch = int(os.environ.get("BENCH_BATCH", BATCH))
    result = {
        "torch": _torch_epoch,
        "dl4j": _dl4j_epoch,
        "torch-layers": _torch_layers,
        "dl4j-layers": _dl4j_layers,
        "torch-resnet": _torch_resnet_epoch,
        "dl4j-resnet": _dl4j_resnet_epoch,
        "dl4j-samediff": _samediff_epoch,
    }[kind](n, batch)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def _spawn(kind: str, n: int, env: dict) -> dict | str:
    full_env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), **env}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_training", "--worker", kind, "--n", str(n)],
        env=full_env,
        capture_output=True,
        text=True,
    )
    line = next((row for row in proc.stdout.splitlines() if row.startswith("RESULT ")), None)
    if line is None:
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return f"not measured: {reason[:160]}"
    return json.loads(line[len("RESULT ") :])


def run(quick: bool) -> str:
    n = 2048 if quick else 60000
    rows, medians = [], {}
    reference = None
    repeats = 1 if quick else 3
    # Round by round, every variant once a round: a machine that drifts during the run hits them all alike.
    by_label: dict[str, list] = {label: [] for label, _, _ in VARIANTS}
    for r in range(repeats):
        for label, kind, env in VARIANTS:
            by_label[label].append(_spawn(kind, n, env))
            print(f"round {r + 1}: {label}: {by_label[label][-1]}"[:200], flush=True)
    for label, kind, _env in VARIANTS:
        results = by_label[label]
        failed = next((r for r in results if isinstance(r, str)), None)
        if failed:
            rows.append(f"| {label} | {failed} | | | | |")
            continue
        rates = [r["samples_per_sec"] for r in results]
        median = statistics.median(rates)
        medians[label] = median
        reference = reference or (median if kind == "torch" else None)
        ratio = f"{median / reference:.2f}x" if reference else "n/a (no PyTorch)"
        memory = f"{max(r['peak_rss_mb'] for r in results):.0f} MiB"
        off_heap = (
            f"{max(r['off_heap_peak_mb'] for r in results):.0f} MiB"
            if kind == "dl4j"
            else "n/a (no separate native pool)"
        )
        print(f"{label}: {median:.0f} samples/s", flush=True)
        rows.append(
            f"| {label} | {median:.0f} ({min(rates):.0f}–{max(rates):.0f}) | {ratio} | {memory} | {off_heap} | {repeats} |"
        )
    table = "\n".join(rows)
    return f"""{_layers_section(BATCH)}

## Training: DL4J vs PyTorch, LeNet on Fashion-MNIST

Command: `.venv/bin/python -m benchmarks.bench_training{" --quick" if quick else ""}`. One epoch of {n} samples,
batch {BATCH}, Adam 1e-3, {THREADS} threads (OMP_NUM_THREADS / torch.set_num_threads), after a 1,024-sample warm-up,
each in a fresh process, the rows taking turns round by round. Goal: DL4J/PyTorch >= 1.0.

Peak RSS is the whole worker process: Python, and for DL4J the in-process JVM heap and ND4J's native memory;
ND4J off-heap is ND4J's own count of its native allocations (`Nd4j.getMemoryManager().allocatedMemory(0)`:
arrays and workspaces), polled every 200 ms during the epoch.

| run | samples/s, median (min–max) | vs PyTorch | peak RSS | ND4J off-heap peak | runs |
| --- | --- | --- | --- | --- | --- |
{table}

{_findings(medians, reference)}
"""


def _spin_finding(default: float, spinning: float, reference: float) -> str:
    """What dl4j-bridge's GOMP_SPINCOUNT did to this epoch, against libgomp's own spin count."""
    said = f" With libgomp's own spin count (300,000) instead of dl4j-bridge's 20,000: {spinning:.0f} samples/s"
    said += f" ({spinning / reference:.2f}x)"
    if default > spinning * 1.03:
        said += ": an idle OpenMP thread spins through the serial stretches of each step on a core the others need."
    else:
        said += ", no slower here."
    return said + (
        " bridge.fit trains on a Python worker thread (so that Ctrl-C reaches Python), and libgomp counts the threads"
        " of every thread's OpenMP team: with the main thread's idle team (left by earlier ND4J calls) and the batch"
        " loader's beside the training thread's, they outnumber the 2 cores and libgomp cuts all spinning to 100"
        " turns, whatever GOMP_SPINCOUNT says. bridge.fit therefore releases the calling thread's idle team"
        " (omp_pause_resource_all) and runs the loader on one OpenMP thread."
    )


def _findings(medians: dict, reference: float | None) -> str:
    default, generic = medians.get(DEFAULT), medians.get(GENERIC)
    if not (default and generic and reference):
        return "Findings: not written (a run above was not measured)."
    ratio = default / reference
    verdict = "met" if ratio >= 1.0 else f"not met: dl4j-bridge trains LeNet at {ratio:.2f}x PyTorch"
    extra = "".join(
        f" {name}: {medians[label]:.0f} samples/s ({medians[label] / reference:.2f}x)."
        for name, label in (("One OMP thread instead of two", ONE_THREAD), ("Batch 256", BIG_BATCH))
        if medians.get(label)
    )
    spin = _spin_finding(default, medians[SPINNING], reference) if medians.get(SPINNING) else ""
    changes = "".join(f" {name}: {default / medians[label]:.2f}x." for name, label in _CHANGES if medians.get(label))
    return f"""What was found: the goal (ratio >= 1.0) is {verdict} ({generic / reference:.2f}x with DL4J's defaults).
Most of the gap was DL4J 1.0.0-M2.1 never using oneDNN for its CNN layers: its layer helpers ship disabled
(`org.eclipse.deeplearning4j.helpers.disable` defaults to true), and when enabled, their check looks up
`org.nd4j.nativeblas.Nd4jCpu$Environment.isUseMKLDNN()`, a class nd4j-native M2.1 moved and renamed
(`...nativecpu.bindings.Nd4jCpu`, `isUseONEDNN()`), so it fails quietly and every convolution runs DL4J's own
im2col + gemm (libnd4j's verbose log shows `im2col` and `matmul` ops; oneDNN's matmul refuses DL4J's
'f'-ordered output). dl4j-bridge loads nd4j-native's onednn-avx2 build on AVX2 CPUs, gives the helpers to the
channels-first layers of the networks it trains and runs (ai.dl4jbridge.train.OneDnnHelpers; DL4J's own switch stays
off: it would give them to channels-last layers too, which they compute wrongly) and
answers the check with a small class (java/train/src/main/java/org/nd4j/nativeblas/Nd4jCpu.java):
{generic:.0f} -> {default:.0f} samples/s ({default / generic:.1f}x, the generic row also without the six changes
below).{spin}{extra}

Six more defaults, each measured against the default with it turned back (speed-ups, default over the row):{changes}
(1) The first convolution's input gradient: DL4J's oneDNN helper (conv2d_bp) computes it though nothing reads it,
and for LeNet's one-channel input oneDNN pads the channel to 16 in its backward-data kernel (4.2 ms of the step in
oneDNN's verbose log, against 0.3 ms for the weight gradient). dl4j-bridge's helper for convolutions fed by the
network input computes the weight and bias gradients only, as one batched matmul of the output gradient with the
input's sliding windows (java/train/.../InputConvGradients.java; tests compare its gradients with DL4J's to 1e-5).
(2) The JIT: HotSpot's C2 compiler thread spent 6-8% of all CPU samples an epoch into training (perf), on a core
the two OpenMP threads need, and a descheduled OpenMP thread stalls its team at the next barrier; the in-process
JVM compiles with C1 alone (-XX:TieredStopAtLevel=1). Over three consecutive epochs C2's finished code catches up
(one run each: C2 2,244 / 2,472 / 2,602 samples/s, C1 2,745 / 2,655 / 2,544). (3) OpenBLAS's idle worker calls
sched_yield for ~0.1 s (2^28 cycles) after each dense-layer matmul, through the convolutions that follow: a third
busy thread on 2 cores, a quarter of the steps at 2-3x the median; OPENBLAS_THREAD_TIMEOUT=4 sends it to sleep.
(4) Denormal floats: about 700 steps in, Adam's first moment of every weight whose gradient stays zero (dead
ReLUs) decays below 1.2e-38, and each op that reads a denormal takes the CPU's slow path: perf put Adam's update
at 16% of all CPU samples after 2,400 steps (3% with flushing), and without flushing a second epoch ran at 0.88-0.90x
the first (2 fresh processes), with it at 0.99-1.01x. Training steps set FTZ/DAZ on the
training thread and its OpenMP team, as TensorFlow does (java/train/.../FlushDenormals.java; a test trains with
denormal Adam moments to DL4J's parameters within 1e-5). (5) DL4J's forward cache (CacheMode.DEVICE) for the
step only: a convolution keeps its forward output for backprop instead of running the convolution again (DL4J's
default trades that time for memory); dl4j-bridge drops the cached outputs after each step, which DL4J never does
(a later backprop outside training would read them), and leaves the saved configuration's mode alone
(java/train/.../ForwardCache.java; tests: same parameters as without, to 1e-5). (6) ReLU's derivative: libnd4j's
relu_bp calls a std::function per element (0.75 ms on the first convolution's output); the step function of the
pre-activation times the gradient, two vectorised ND4J ops, takes 0.46 ms (0.05 against 0.21 ms on the second's).
DL4J's ActivationReLU objects are swapped for a subclass with that backprop during the step only
(java/train/.../ReluGradients.java; tests: relu_bp's values on edge cases, DL4J's parameters after training).

What is left, from oneDNN's verbose log (11 ms of a ~20 ms step) and perf: the second convolution's backward
(weights 1.9 ms, data 1.5 ms per step), the pooling forward rerun in backprop for its indices (1.1 ms), 18
reorders between NCHW and oneDNN's blocked formats (2.0 ms), the dense layers' OpenBLAS calls (DL4J's dense
forward 0.84 ms against PyTorch's 0.21), and libgomp's wait loop. Tried and dropped this session: max-pooling backprop in Java
(1.7 ms with C2 and 5.6 ms with C1 for the first pooling layer, against oneDNN's 1.3 ms). NHWC layers (DL4J's `CNN2DFormat.NHWC` on every conv and pooling layer) train slower: 35.5 ms
per step against 27-29 ms (2 alternating runs each, an earlier session). DL4J's SameDiff runs the same LeNet at
0.9x-1.5x across runs (its section below). Not tried: keeping oneDNN primitives and blocked formats across steps
through our own oneDNN binding."""


_CHANGES = (
    ("weights-only backprop of the input convolution", DL4J_INPUT_CONV),
    ("C1 alone", C2_JIT),
    ("OpenBLAS's worker sleeping at once", OPENBLAS_WAIT),
    ("denormals flushed to zero", DENORMALS),
    ("the forward cache", NO_CACHE),
    ("vectorised ReLU derivative", RELU_BP),
    ("all six", EARLIER),
)


def _layers_section(batch: int) -> str:
    dl4j, torch_ = _spawn("dl4j-layers", 0, {}), _spawn("torch-layers", 0, {})
    if isinstance(dl4j, str) or isinstance(torch_, str):
        return f"Per-layer profile {dl4j if isinstance(dl4j, str) else torch_}"

    def row(name, a, b):
        return f"| {name} | {a:.2f} | {b:.2f} | {a / b:.1f}x |"

    rows = [row(f"{layer}: forward", dl4j["forward"][i], torch_["forward"][i]) for i, layer in enumerate(LAYERS)]
    rows += [row(f"{layer}: backward", dl4j["backward"][i], torch_["backward"][i]) for i, layer in enumerate(LAYERS)]
    rows += [
        row("forward + backward (whole network)", dl4j["gradient"], torch_["gradient"]),
        row("update (Adam) and per-step work", dl4j["step"] - dl4j["gradient"], torch_["step"] - torch_["gradient"]),
        row("**whole step**", dl4j["step"], torch_["step"]),
    ]
    table = "\n".join(rows)
    return f"""Where each millisecond of a LeNet training step goes (`--worker dl4j-layers` / `torch-layers`): one real
minibatch of {batch} Fashion-MNIST images, {THREADS} threads, median of {REPS} calls after 10 warm-up calls, each
framework in its own process. A DL4J layer's backward is its backprop call (its input set: DL4J's layers recompute from it what they need,
the forward convolution included), PyTorch's is its backward pass alone; PyTorch's first layer computes no input
gradient (its input needs none), DL4J's does. The layer calls run outside DL4J's training loop and its workspaces
(each call allocates its outputs), so DL4J's layer rows add up to more than its whole step (the last rows, measured
in the network): they say where DL4J's time goes more than how much.

| layer (LeNet, in order) | DL4J ms | PyTorch ms | DL4J / PyTorch |
| --- | --- | --- | --- |
{table}"""


def main(argv=None) -> None:
    """All sections; `--resnet` / `--samediff`: only the residual CNN's / SameDiff's (their own sections)."""
    args = argv if argv is not None else sys.argv[1:]
    if "--worker" in args:
        worker(args[args.index("--worker") + 1], int(args[args.index("--n") + 1]))
        return
    if "--resnet" not in args and "--samediff" not in args:
        section = run("--quick" in args)
        print(section)
        write_section("training", section)
    if "--samediff" not in args:
        resnet = _resnet_section("--quick" in args)
        print(resnet)
        write_section("training-resnet", resnet)
    if "--resnet" not in args:
        samediff = _samediff_section("--quick" in args)
        print(samediff)
        write_section("training-samediff", samediff)


if __name__ == "__main__":
    main()
