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
LENET_CHECK_SAMPLES = 16384  # LeNet re-measured in the same run: its ratio must hold too
LENET_CHECK = (("LeNet: PyTorch (reference for LeNet)", "torch", {}), ("LeNet: DL4J via dl4j-bridge", "dl4j", {}))


# The residual CNN's rows: (label, worker, environment); each of dl4j-bridge's graph changes turned back in a row.
RESNET_DEFAULT = "DL4J via dl4j-bridge"
RESNET_VARIANTS = (
    ("PyTorch (reference)", "torch-resnet", {}),
    (RESNET_DEFAULT, "dl4j-resnet", {}),
    (
        "DL4J via dl4j-bridge, DL4J's oneDNN helper for batch norm's training (DL4J_BRIDGE_BATCH_NORM_TRAINING=dl4j)",
        "dl4j-resnet",
        {"DL4J_BRIDGE_BATCH_NORM_TRAINING": "dl4j"},
    ),
    (
        "DL4J via dl4j-bridge, DL4J's ActivationLayer for the ReLU layers (DL4J_BRIDGE_RELU_LAYERS=dl4j)",
        "dl4j-resnet",
        {"DL4J_BRIDGE_RELU_LAYERS": "dl4j"},
    ),
)


def _load() -> str:
    """The machine's 1-minute load average: ratios hold on a busy machine, absolute figures do not."""
    return f"{os.getloadavg()[0]:.1f}"


def _resnet_section(quick: bool) -> str:
    n, repeats = (1024, 1) if quick else (RESNET_SAMPLES, 3)
    lenet_n = 1024 if quick else LENET_CHECK_SAMPLES
    load_before = _load()
    # Round by round, every row once a round: a machine that drifts during the run hits them all alike.
    rows = [(label, kind, env, n) for label, kind, env in RESNET_VARIANTS]
    rows += [(label, kind, env, lenet_n) for label, kind, env in LENET_CHECK]
    by_label: dict[str, list] = {label: [] for label, _, _, _ in rows}
    for r in range(repeats):
        for label, kind, env, samples in rows:
            by_label[label].append(_spawn(kind, samples, env))
            print(f"round {r + 1}: {label}: {by_label[label][-1]}"[:200], flush=True)
    failed = next((r for results in by_label.values() for r in results if isinstance(r, str)), None)
    if failed:
        return f"Residual CNN: {failed}"
    rates = {label: sorted(r["samples_per_sec"] for r in results) for label, results in by_label.items()}
    reference = statistics.median(rates[RESNET_VARIANTS[0][0]])
    lenet_reference = statistics.median(rates[LENET_CHECK[0][0]])

    def row(label: str, against: float) -> str:
        r = rates[label]
        return (
            f"| {label} | {statistics.median(r):.0f} ({r[0]:.0f}–{r[-1]:.0f}) | {statistics.median(r) / against:.2f}x |"
        )

    table = "\n".join(row(label, reference) for label, _, _ in RESNET_VARIANTS)
    lenet = "\n".join(row(label, lenet_reference) for label, _, _ in LENET_CHECK)
    default = statistics.median(rates[RESNET_DEFAULT])
    changes = "".join(
        f" {label.split(', ', 1)[1]}: {default / statistics.median(rates[label]):.2f}x."
        for label, _, _ in RESNET_VARIANTS[2:]
    )
    return f"""## Training: DL4J vs PyTorch, the residual CNN (a ComputationGraph)

Command: `.venv/bin/python -m benchmarks.bench_training --resnet`.
`nets.resnet_small()` (3x3 stem conv + batch norm, a stride-2 conv, a 32-wide identity block and a 64-wide
stride-2 block with a 1x1 projection, global average pooling; 84 k parameters) and the same architecture in
PyTorch, one epoch of {n} Fashion-MNIST images, batch {BATCH}, Adam 1e-3, {THREADS} threads, median of {repeats}
fresh processes, the rows taking turns round by round (`--worker dl4j-resnet` / `torch-resnet`); LeNet re-measured
in the same rounds ({lenet_n} images, `--worker dl4j` / `torch`); the machine's load average {load_before} before the
run, {_load()} after it.

| run | samples/s, median (min–max) | vs PyTorch |
| --- | --- | --- |
{table}
{lenet}

Each of dl4j-bridge's graph changes against the default with it turned back (speed-up, default over the row):{changes}
Where the milliseconds go: the per-vertex table (training-resnet-layers).
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


# resnet_small's vertices in topological order: (name, kind, inputs); kind picks the PyTorch module and the table group.
RESNET_VERTICES = (
    ("stem", "conv3x3 1-32", ("image",)),
    ("stem_bn", "bn 32", ("stem",)),
    ("stem_relu", "relu", ("stem_bn",)),
    ("down", "conv3x3/2 32-32", ("stem_relu",)),
    ("down_bn", "bn 32", ("down",)),
    ("down_relu", "relu", ("down_bn",)),
    ("block1_conv1", "conv3x3 32-32", ("down_relu",)),
    ("block1_bn1", "bn 32", ("block1_conv1",)),
    ("block1_relu1", "relu", ("block1_bn1",)),
    ("block1_conv2", "conv3x3 32-32", ("block1_relu1",)),
    ("block1_bn2", "bn 32", ("block1_conv2",)),
    ("block1_add", "add", ("block1_bn2", "down_relu")),
    ("block1", "relu", ("block1_add",)),
    ("block2_conv1", "conv3x3/2 32-64", ("block1",)),
    ("block2_bn1", "bn 64", ("block2_conv1",)),
    ("block2_relu1", "relu", ("block2_bn1",)),
    ("block2_conv2", "conv3x3 64-64", ("block2_relu1",)),
    ("block2_bn2", "bn 64", ("block2_conv2",)),
    ("block2_proj", "conv1x1/2 32-64", ("block1",)),
    ("block2_proj_bn", "bn 64", ("block2_proj",)),
    ("block2_add", "add", ("block2_bn2", "block2_proj_bn")),
    ("block2", "relu", ("block2_add",)),
    ("pool", "global avg pool", ("block2",)),
    ("out", "dense 64-10 softmax + loss", ("pool",)),
)
# The table's groups: (row label, predicate on a vertex's kind).
RESNET_GROUPS = (
    ("stem conv 3x3, 1 -> 32 channels (reads the input)", lambda k: k == "conv3x3 1-32"),
    ("conv 3x3 stride 1 (3 vertices)", lambda k: k in ("conv3x3 32-32", "conv3x3 64-64")),
    ("conv 3x3 stride 2 (2 vertices)", lambda k: k.startswith("conv3x3/2")),
    ("conv 1x1 stride 2, the projection", lambda k: k.startswith("conv1x1")),
    ("batch norm, training mode (7 vertices)", lambda k: k.startswith("bn")),
    ("ReLU activation vertices (5)", lambda k: k == "relu"),
    ("element-wise add vertex (2)", lambda k: k == "add"),
    ("global average pooling", lambda k: k == "global avg pool"),
    ("dense softmax output + loss", lambda k: k.startswith("dense")),
)
ONEDNN_BEGIN, ONEDNN_END, ONEDNN_STEPS = "ONEDNN-LOG-BEGIN", "ONEDNN-LOG-END", 10


def _dl4j_resnet_layers(n: int, batch: int) -> dict:
    """Each vertex of nets.resnet_small's ComputationGraph: forward (training mode; batch norm also in inference
    mode) and forward + backprop, through DL4J's GraphVertex calls on one real minibatch, inside dl4j-bridge's
    training step (its step changes applied, as in fit), each call in a workspace of its own; then the whole graph's
    gradient and the whole step. With BENCH_ONEDNN_LOG=1 it runs ONEDNN_STEPS steps between two marker lines
    instead (the parent sets ONEDNN_VERBOSE and reads oneDNN's log between them)."""
    import jpype
    import numpy as np

    import bridge
    from bridge import data, nets
    from bridge.jvm import jclass

    bridge.start_jvm()
    x, y, _, _ = data.load("fashion-mnist")
    x = x[:1024].reshape(-1, 1, 28, 28)
    net = nets.resnet_small(seed=1)
    bridge.fit(net, x[:512], y[:512], batch_size=batch, progress=False)
    cg = net.java
    features = bridge.to_indarray(np.ascontiguousarray(x[:batch]))
    labels = bridge.to_indarray(np.eye(10, dtype=np.float32)[y[:batch]])
    networks, array = (
        jclass("ai.dl4jbridge.train.Networks"),
        jpype.JArray(jclass("org.nd4j.linalg.api.ndarray.INDArray")),
    )
    if os.environ.get("BENCH_ONEDNN_LOG"):
        print(ONEDNN_BEGIN, flush=True)
        for _ in range(ONEDNN_STEPS):
            networks.fitBatch(cg, array([features]), array([labels]))
        print(ONEDNN_END, flush=True)
        return {}
    mgr, scoped = _bench_workspace()
    vertices = {str(v.getVertexName()): v for v in cg.getVertices()}
    result: dict = {}

    def measure_vertices():
        acts = {"image": features}
        for name, _kind, inputs in RESNET_VERTICES:
            vertex = vertices[name]
            _set_inputs(vertex, [acts[i] for i in inputs], mgr)
            acts[name] = scoped(lambda vertex=vertex: vertex.doForward(True, mgr).detach())
        vertices["out"].getLayer().setLabels(labels)
        epsilons: dict = {}
        forward, backward, inference = {}, {}, {}
        for name, kind, inputs in reversed(RESNET_VERTICES):
            vertex, ins, eps = vertices[name], [acts[i] for i in inputs], epsilons.get(name)

            def fwd(vertex=vertex, ins=ins, training=True):
                _set_inputs(vertex, ins, mgr)
                return vertex.doForward(training, mgr)

            def fwd_bwd(vertex=vertex, ins=ins, eps=eps):
                fwd(vertex, ins)
                vertex.setEpsilon(eps)
                return vertex.doBackward(False, mgr)

            forward[name] = _median_ms(lambda fwd=fwd: scoped(fwd))
            backward[name] = _median_ms(lambda fwd_bwd=fwd_bwd: scoped(fwd_bwd)) - forward[name]
            if kind.startswith("bn"):
                inference[name] = _median_ms(lambda fwd=fwd: scoped(lambda: fwd(training=False)))
            gradients = scoped(lambda fwd_bwd=fwd_bwd: [g.detach() for g in fwd_bwd().getSecond()])
            for source, gradient in zip(inputs, gradients):
                if source != "image":
                    epsilons[source] = gradient if source not in epsilons else epsilons[source].add(gradient)

        def gradient():
            cg.setInputs(features)
            cg.setLabels(labels)
            cg.computeGradientAndScore()

        result.update(forward=forward, backward=backward, inference=inference, gradient=_median_ms(gradient))

    jclass("ai.dl4jbridge.train.TrainingStep").run(
        cg, jpype.JProxy("java.lang.Runnable", dict={"run": measure_vertices})
    )
    single = jclass("org.nd4j.linalg.dataset.DataSet")(features, labels)
    multi = jclass("org.nd4j.linalg.dataset.MultiDataSet")(array([features]), array([labels]))
    step_changes = jclass("ai.dl4jbridge.train.TrainingStep")

    def fit(minibatch):
        return lambda: step_changes.run(cg, jpype.JProxy("java.lang.Runnable", dict={"run": lambda: cg.fit(minibatch)}))

    result.update(step=_median_ms(fit(single)), step_multi=_median_ms(fit(multi)))
    return result


def _bench_workspace():
    """A LayerWorkspaceMgr whose arrays all live in one workspace, and scoped(fn): fn() with that workspace open, as
    DL4J's fit opens its own around each step: from the second call on, a call's arrays reuse the memory of the call
    before (fresh memory is slow to touch on this VM and would count against DL4J alone)."""
    from bridge.jvm import jclass

    memory = "org.nd4j.linalg.api.memory."
    conf = (
        jclass(memory + "conf.WorkspaceConfiguration")
        .builder()
        .initialSize(0)
        .overallocationLimit(0.2)
        .policyLearning(jclass(memory + "enums.LearningPolicy").FIRST_LOOP)
        .policyAllocation(jclass(memory + "enums.AllocationPolicy").OVERALLOCATE)
        .policySpill(jclass(memory + "enums.SpillPolicy").REALLOCATE)
        .build()
    )
    mgr = jclass("org.deeplearning4j.nn.workspace.LayerWorkspaceMgr").builder().defaultWorkspace("BENCH", conf).build()
    manager = jclass("org.nd4j.linalg.factory.Nd4j").getWorkspaceManager()

    def scoped(fn):
        workspace = manager.getAndActivateWorkspace(conf, "BENCH")
        try:
            return fn()
        finally:
            workspace.close()

    return mgr, scoped


def _set_inputs(vertex, arrays, mgr) -> None:
    """A graph vertex's inputs as ComputationGraph sets them (a layer vertex passes its input to its layer)."""
    for i, array in enumerate(arrays):
        vertex.setInput(i, array, mgr)


def _torch_resnet_modules():
    """PyTorch modules for RESNET_VERTICES, by name (the same architecture as _torch_resnet_epoch's)."""
    import torch

    nn = torch.nn

    def module(kind):
        if kind.startswith("conv"):
            shape, channels = kind.split(" ")
            k, stride = (int(shape[4]), int(shape.split("/")[1]) if "/" in shape else 1)
            cin, cout = (int(c) for c in channels.split("-"))
            return nn.Conv2d(cin, cout, k, stride, padding=k // 2, bias=False)
        if kind.startswith("bn"):
            return nn.BatchNorm2d(int(kind.split(" ")[1]))
        if kind == "relu":
            return nn.ReLU()
        if kind == "global avg pool":
            return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        if kind.startswith("dense"):
            return nn.Linear(64, 10)
        return None  # add

    return {name: module(kind) for name, kind, _ in RESNET_VERTICES}


def _torch_resnet_layers(n: int, batch: int) -> dict:
    """The same per-vertex split in PyTorch: each vertex's forward, forward + backward (its inputs leaves that need a
    gradient, except the image), batch norm in eval mode; then the whole step and its gradient part."""
    import torch

    from bridge import data

    torch.set_num_threads(THREADS)
    torch.manual_seed(1)
    x, y, _, _ = data.load("fashion-mnist")
    modules, loss_fn = _torch_resnet_modules(), torch.nn.CrossEntropyLoss()
    features = torch.from_numpy(x[:batch].reshape(batch, 1, 28, 28).copy())
    labels = torch.from_numpy(y[:batch].astype("int64"))

    def apply(name, kind, ins):
        if kind == "add":
            return ins[0] + ins[1]
        out = modules[name](ins[0])
        return loss_fn(out, labels) if kind.startswith("dense") else out

    def whole():
        acts = {"image": features}
        for name, kind, inputs in RESNET_VERTICES:
            acts[name] = apply(name, kind, [acts[i] for i in inputs])
        return acts

    with torch.no_grad():
        acts = whole()
    forward, backward, inference = {}, {}, {}
    for name, kind, inputs in RESNET_VERTICES:

        def run(name=name, kind=kind, inputs=inputs):
            leaves = [acts[i] if i == "image" else acts[i].detach().requires_grad_() for i in inputs]
            return apply(name, kind, leaves)

        forward[name] = _median_ms(run)
        out = run()
        grad = None if kind.startswith("dense") else torch.ones_like(out)
        backward[name] = _median_ms(lambda run=run, grad=grad: run().backward(grad)) - forward[name]
        if kind.startswith("bn"):
            modules[name].eval()
            with torch.no_grad():
                inference[name] = _median_ms(run)
            modules[name].train()
    params = [p for m in modules.values() if m is not None for p in m.parameters()]
    optimizer = torch.optim.Adam(params, 1e-3)

    def gradient():
        optimizer.zero_grad()
        whole()["out"].backward()

    def step():
        gradient()
        optimizer.step()

    return {
        "forward": forward,
        "backward": backward,
        "inference": inference,
        "gradient": _median_ms(gradient),
        "step": _median_ms(step),
    }


def _onednn_summary() -> str:
    """oneDNN's verbose log of ONEDNN_STEPS training steps of resnet_small: calls and ms per step by primitive."""
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "BENCH_ONEDNN_LOG": "1", "ONEDNN_VERBOSE": "1"}
    env["DNNL_VERBOSE"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_training", "--worker", "dl4j-resnet-layers", "--n", "0"],
        env=env,
        capture_output=True,
        text=True,
    )
    lines = proc.stdout.splitlines()
    if ONEDNN_BEGIN not in lines or ONEDNN_END not in lines:
        return f"oneDNN log: not measured ({(proc.stderr.strip().splitlines() or ['no output'])[-1][:160]})"
    per_kind: dict[str, list[float]] = {}
    for line in lines[lines.index(ONEDNN_BEGIN) + 1 : lines.index(ONEDNN_END)]:
        fields = line.split(",")
        if len(fields) < 6 or fields[1] != "exec":
            continue
        kind = fields[3] if fields[3] == "reorder" else f"{fields[3]} {fields[5]}"
        per_kind.setdefault(kind, []).append(float(fields[-1]))
    rows = [
        f"| {kind} | {len(times) / ONEDNN_STEPS:.0f} | {sum(times) / ONEDNN_STEPS:.2f} |"
        for kind, times in sorted(per_kind.items(), key=lambda item: -sum(item[1]))
    ]
    total = sum(sum(t) for t in per_kind.values()) / ONEDNN_STEPS
    rows.append(
        f"| **all oneDNN primitives** | {sum(len(t) for t in per_kind.values()) / ONEDNN_STEPS:.0f} | {total:.2f} |"
    )
    return "| oneDNN primitive (prop kind) | calls per step | ms per step |\n| --- | --- | --- |\n" + "\n".join(rows)


RESNET_FINDINGS = """What was found, first round (one core, the same table with OMP_NUM_THREADS=1, where the shared 2-core machine's load
does not stall OpenMP's barriers): batch normalization was the largest part of DL4J's step, 67 of ~120 ms (forward 29,
backprop 38; PyTorch's 7 batch norms take ~5 ms). DL4J M2.1's oneDNN helper computes the batch mean and variance with
ND4J's reductions (`Mean`, `Variance`: libnd4j adds one element after another, 1.4 ms to sum 64 x 32 x 28 x 28 floats
on one core where an element-wise op over them takes 0.2 ms) and its backprop runs libnd4j's `batchnorm_bp`.
dl4j-bridge's helper (java/train/.../BatchNormTraining.java, `DL4J_BRIDGE_BATCH_NORM_TRAINING=dl4j` turns it back)
sums each channel with matmuls against rows or columns of ones and computes the rest element-wise: 67 -> 21 ms.
Second round (JFR's samples of the training thread over 250 steps of `Networks.fitBatch`, 2 cores, a ~57 ms step):
the oneDNN convolutions 52%, batch norm 29%, the ReLU activation layers 8% (DL4J's ActivationLayer copies its input
in the forward, again in backprop, and the gradient once more), JavaCPP's resident-size check 3% (it read
/proc/self/statm at every native allocation: the in-process JVM now leaves it off, `start_jvm(max_physical=...)`
turns it on), the stem's weight gradient 3% (libnd4j's batched matmul, one product per image). Changed: the ReLU
layers (`ReluLayers`, `DL4J_BRIDGE_RELU_LAYERS=dl4j` turns it back), the stem's weight gradient as one product over
the minibatch (its backprop 2.6-2.9 -> 1.5-1.8 ms), per-channel sums over large maps with the pixels summed first
(a one-row product runs on one thread: 0.43 -> 0.20 ms for 64 x 32 x 28 x 28), and batch norm's per-channel numbers
worked out in Java (half its ND4J calls). What is left: the convolutions, where the oneDNN log shows the forward
kernels (brgconv) reading channels-last and the backward ones 16-channel blocks, so every activation and gradient is
reordered from DL4J's NCHW on every call (~12 ms of reorders a step against ~15 ms of convolution; keeping oneDNN's
layouts across the step needs a binding of our own); batch norm, ~6 passes over its input forward and ~7 in
backprop as ND4J ops where PyTorch fuses them into two or three (~12 against ~5 ms); and the step's tail (young GC
pauses of 30-60 ms every ~30 steps, JPype's occasional System.gc()): the epoch's mean step is ~20% above the
median step in the table above."""


def _resnet_layers_section(batch: int) -> str:
    load_before = _load()
    dl4j, torch_ = _spawn("dl4j-resnet-layers", 0, {}), _spawn("torch-resnet-layers", 0, {})
    if isinstance(dl4j, str) or isinstance(torch_, str):
        return f"Per-vertex profile {dl4j if isinstance(dl4j, str) else torch_}"

    def row(name, a, b):
        return f"| {name} | {a:.2f} | {b:.2f} | {a / b:.1f}x |" if b > 0 else f"| {name} | {a:.2f} | {b:.2f} | |"

    def group_sum(result, part, test):
        return sum(result[part][name] for name, kind, _ in RESNET_VERTICES if test(kind) and name in result[part])

    rows = []
    for part in ("forward", "backward"):
        rows += [
            row(f"{label}: {part}", group_sum(dl4j, part, test), group_sum(torch_, part, test))
            for label, test in RESNET_GROUPS
        ]
    rows.append(
        row(
            "batch norm, inference mode (7 vertices): forward",
            sum(dl4j["inference"].values()),
            sum(torch_["inference"].values()),
        )
    )
    parts = {k: sum(r["forward"].values()) + sum(r["backward"].values()) for k, r in (("d", dl4j), ("t", torch_))}
    rows += [
        row("sum of the vertices above (forward + backward)", parts["d"], parts["t"]),
        row("forward + backward (whole graph)", dl4j["gradient"], torch_["gradient"]),
        row(
            "the graph's own per-vertex work (whole graph - sum of vertices)",
            dl4j["gradient"] - parts["d"],
            torch_["gradient"] - parts["t"],
        ),
        row("update (Adam) and per-step work", dl4j["step"] - dl4j["gradient"], torch_["step"] - torch_["gradient"]),
        row("**whole step**", dl4j["step"], torch_["step"]),
        row("whole step, DL4J's fit(MultiDataSet) instead of fit(DataSet)", dl4j["step_multi"], torch_["step"]),
    ]
    detail = [
        row(
            f"{name} ({kind})",
            dl4j["forward"][name] + dl4j["backward"][name],
            torch_["forward"][name] + torch_["backward"][name],
        )
        for name, kind, _ in RESNET_VERTICES
    ]
    nl = "\n"
    return f"""## Where the residual CNN's milliseconds go (`--worker dl4j-resnet-layers` / `torch-resnet-layers`)

`nets.resnet_small()`'s vertices on one real minibatch of {batch} Fashion-MNIST images, {THREADS} threads, median of
{REPS} calls after 10 warm-up calls, each framework in its own process (the machine's load average {load_before}
before, {_load()} after). DL4J's vertex calls are GraphVertex
doForward / doBackward inside dl4j-bridge's training step (its step changes applied, as in `fit`), each call inside
a workspace of its own that reuses the previous call's memory, as `fit`'s do; a backward is forward + backward minus forward (DL4J's layers read
what their forward left). PyTorch's backward is its backward pass alone, the vertex's inputs leaves that need a
gradient (the image none). "The graph's own per-vertex work" is the whole graph's gradient minus the sum of its
vertices: workspaces, epsilon copies and merges, the score.

| vertex group (resnet_small) | DL4J ms | PyTorch ms | DL4J / PyTorch |
| --- | --- | --- | --- |
{nl.join(rows)}

Per vertex (forward + backward, ms):

| vertex | DL4J ms | PyTorch ms | DL4J / PyTorch |
| --- | --- | --- | --- |
{nl.join(detail)}

oneDNN's verbose log (ONEDNN_VERBOSE=1) over {ONEDNN_STEPS} training steps (`fit`, one minibatch each), per step;
its times include the logging's own cost:

{_onednn_summary()}

{RESNET_FINDINGS}
"""


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
        "dl4j-resnet-layers": _dl4j_resnet_layers,
        "torch-resnet-layers": _torch_resnet_layers,
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
    """All sections; `--resnet` / `--samediff`: only the residual CNN's (its speed and its per-vertex table) /
    SameDiff's (their own sections)."""
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
        layers = _resnet_layers_section(BATCH)
        print(layers)
        write_section("training-resnet-layers", layers)
    if "--resnet" not in args:
        samediff = _samediff_section("--quick" in args)
        print(samediff)
        write_section("training-samediff", samediff)


if __name__ == "__main__":
    main()
