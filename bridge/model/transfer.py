"""Transfer learning over DL4J's TransferLearning builders, for both network kinds.

    base = nets.lenet(); bridge.fit(base, x_fashion, y_fashion, epochs=2)
    net = bridge.transfer(base, freeze=3, new_output=10, updater=nets.Adam(1e-3))   # frozen conv/pool layers
    net = bridge.transfer(base, freeze=3, remove_from=4, add=[nets.Dense(64), nets.Output(10)])
    net = bridge.transfer(nets.resnet_small(), freeze="block2", new_output=5)        # a ComputationGraph

A MultiLayerNetwork goes through TransferLearning.Builder, a ComputationGraph through
TransferLearning.GraphBuilder. Frozen layers are wrapped in DL4J's FrozenLayer (FrozenVertex in a graph):
their parameters do not change when the new network is fitted. The base network is left as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import DataError, java_boundary, java_errors
from ..jvm import jclass
from .inputs import input_types, known_input_shapes
from .kinds import as_java, is_graph
from .layers import Output, check_weight_init, updater_config
from .network import Network

__all__ = ["transfer"]

_TL = "org.deeplearning4j.nn.transferlearning."
_CONF = "org.deeplearning4j.nn.conf."


@java_boundary("transfer")
def transfer(
    net,
    freeze=None,
    new_output: int | dict | None = None,
    remove_from=None,
    add: Sequence | None = None,
    attach_to: str | None = None,
    updater=None,
    seed: int | None = None,
    weight_init: str = "xavier",
    name: str | None = None,
    labels: Sequence[str] | None = None,
) -> Network:
    """A new network built from `net`'s layers and trained parameters, ready for bridge.fit.

    freeze: a layer index or name (a vertex name in a graph): that layer and every layer before it (in a graph,
        every vertex on a path from an input to it; a list of vertex names freezes every one of them and what
        leads to it) keep their parameters during training.
    new_output: the class count of a fresh output layer (same activation and loss, new weights drawn with
        `weight_init`); for a graph with several outputs, a dict {output name: n}.
    remove_from: a layer index or name (a vertex name in a graph): it and every layer after it (in a graph, every
        vertex that depends on it) are removed; `add` must then end with an output layer (nets.Output).
    add: layer specs of bridge.nets appended in order, (name, spec) pairs to name them in a graph. Their input
        sizes are inferred. In a graph they read `attach_to` (default: the input of the `remove_from` vertex).
    updater, seed: DL4J's FineTuneConfiguration, applied to every layer (e.g. updater=nets.Adam(1e-4)).
    name, labels: of the returned Network (default: "<base name>_transfer", and the base's labels while the
        output width is unchanged).
    """
    java = as_java(net)
    check_weight_init(weight_init)
    if new_output is not None and add:
        raise DataError(
            "Received both `new_output` and `add`: the added layers define the new output. Pass "
            "new_output=... to replace the output layer, or remove_from=... with add=[..., nets.Output(n)]."
        )
    if bool(add) != (remove_from is not None):
        raise DataError(
            "`remove_from` and `add` go together: removing layers needs an output layer added back "
            "(add=[..., nets.Output(n)]), and added layers go where layers were removed."
        )
    if freeze is None and new_output is None and not add and updater is None and seed is None:
        raise DataError(
            "transfer() received nothing to change: pass freeze=..., new_output=..., "
            "remove_from=... with add=[...], or a fine-tuning updater."
        )
    with java_errors("transfer learning"):
        fine_tune = _fine_tune(java, updater, seed)
    build = _graph_transfer if is_graph(java) else _multi_layer_transfer
    with java_errors("transfer learning"):
        result = build(
            net, java, fine_tune, freeze, new_output, remove_from, list(add or ()), attach_to, _weight_init(weight_init)
        )
    base_name = getattr(net, "name", "network")
    keep_labels = new_output is None and not add
    return Network(
        result,
        name=name or f"{base_name}_transfer",
        labels=labels if labels is not None else (getattr(net, "labels", None) if keep_labels else None),
        input_shapes=known_input_shapes(net) or None,  # a raw network's too, as bridge.fit recorded them
    )


def _fine_tune(java, updater, seed):
    builder = jclass(_TL + "FineTuneConfiguration$Builder")()
    if updater is not None:
        builder = builder.updater(updater_config(updater))
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise DataError(f"Received an invalid value for `seed`, expected an int. Received: seed={seed!r}")
        builder = builder.seed(int(seed))
    else:  # DL4J's addLayer needs a fine-tune configuration; keep the base's seed
        conf = (
            java.getConfiguration().getDefaultConfiguration()
            if is_graph(java)
            else java.getLayerWiseConfigurations().getConf(0)
        )
        builder = builder.seed(int(conf.getSeed()))
    return builder.build()


def _weight_init(name: str):
    return jclass("org.deeplearning4j.nn.weights.WeightInit").valueOf(name.upper())


# ---- MultiLayerNetwork ---------------------------------------------------------------------------------------


def _multi_layer_transfer(net, java, fine_tune, freeze, new_output, remove_from, add, attach_to, weight_init):
    names = _layer_names(java)
    if attach_to is not None:
        raise DataError(
            "`attach_to` is for ComputationGraphs: a MultiLayerNetwork's added layers follow its last kept layer."
        )
    builder = jclass(_TL + "TransferLearning$Builder")(java).fineTuneConfiguration(fine_tune)
    last = len(names) - 1
    cut = _layer_index(remove_from, names, "remove_from") if remove_from is not None else None
    if freeze is not None:
        frozen = _layer_index(freeze, names, "freeze")
        limit = (cut - 1) if cut is not None else last - 1
        if frozen > limit:
            what = (
                f"the first removed layer ({_describe(cut, names)})"
                if cut is not None
                else f"the output layer ({_describe(last, names)})"
            )
            raise DataError(
                f"Cannot freeze up to layer {_describe(frozen, names)}: it must come before {what}, so "
                "that a trainable layer is left. Freeze an earlier layer."
            )
        builder = builder.setFeatureExtractor(frozen)
    if new_output is not None:
        builder = builder.nOutReplace(last, _n_classes(new_output, "output"), weight_init)
    if cut is not None:
        if cut == 0:
            raise DataError("Cannot remove from layer 0: that removes every layer. Keep at least one layer.")
        builder = builder.removeLayersFromOutput(len(names) - cut)
        builder = _add_layers(builder, net, cut, [_spec(entry) for entry in add])
    return builder.build()


def _layer_names(java) -> list[str]:
    confs = java.getLayerWiseConfigurations()
    return [str(confs.getConf(i).getLayer().getLayerName()) for i in range(java.getnLayers())]


def _layer_index(value, names: list[str], argument: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < len(names):
            raise DataError(
                f"Received an invalid value for `{argument}`: layer index {value} is out of range; this "
                f"network has layers 0 to {len(names) - 1} ({', '.join(names)})."
            )
        return value
    if isinstance(value, str) and value in names:
        return names.index(value)
    raise DataError(
        f"Received an invalid value for `{argument}`: {value!r} is not a layer of this network. Pass a "
        f"layer index (0 to {len(names) - 1}) or one of its names: {', '.join(names)}."
    )


def _describe(index: int, names: list[str]) -> str:
    return f"{index} ({names[index]})"


def _add_layers(builder, net, cut: int, specs: list):
    """Appends the layers, with nIn and input preprocessors inferred from the kept layers' output type."""
    _check_ends_with_output(specs)
    layer_type = input_types(net)[0]
    activation_types = as_java(net).getLayerWiseConfigurations().getLayerActivationTypes(layer_type)
    layer_type = activation_types.get(cut - 1)
    for offset, spec in enumerate(specs):
        index = cut + offset
        layer = spec.to_java()
        preprocessor = layer.getPreProcessorForInputType(layer_type)
        if preprocessor is not None:
            builder = builder.setInputPreProcessor(index, preprocessor)
            layer_type = preprocessor.getOutputType(layer_type)
        layer.setNIn(layer_type, False)
        layer_type = layer.getOutputType(index, layer_type)
        builder = builder.addLayer(layer)
    return builder


def _spec(entry):
    spec = entry[1] if isinstance(entry, tuple) and len(entry) == 2 else entry
    if not hasattr(spec, "to_java"):
        raise DataError(
            f"Received an invalid entry in `add`: {entry!r}. Expected a layer of bridge.nets (nets.Dense, "
            "nets.Output, ...) or, in a graph, a (name, layer) pair."
        )
    return spec


def _check_ends_with_output(specs: list) -> None:
    if not specs or not isinstance(specs[-1], Output):
        raise DataError(
            f"`add` must end with an output layer (nets.Output(n_classes)) so that the network can "
            f"train; it ends with {type(specs[-1]).__name__ if specs else 'nothing'}."
        )


def _n_classes(value, output: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DataError(
            f"Received an invalid value for `new_output` ({output!r}), expected a positive integer (the "
            f"new class count). Received: {value!r}"
        )
    return value


# ---- ComputationGraph ----------------------------------------------------------------------------------------


def _graph_transfer(net, java, fine_tune, freeze, new_output, remove_from, add, attach_to, weight_init):
    conf = java.getConfiguration()
    vertices = [str(v) for v in conf.getVertices().keySet()]
    outputs = [str(o) for o in conf.getNetworkOutputs()]
    sources = {str(k): [str(s) for s in v] for k, v in conf.getVertexInputs().items()}
    builder = jclass(_TL + "TransferLearning$GraphBuilder")(java).fineTuneConfiguration(fine_tune)
    removed = _descendants(_vertex(remove_from, vertices, "remove_from"), sources) if remove_from is not None else set()
    if freeze is not None:
        points = [_vertex(f, vertices, "freeze") for f in (freeze if isinstance(freeze, (list, tuple)) else [freeze])]
        for frozen in points:
            if frozen in outputs or frozen in removed:
                why = "an output layer" if frozen in outputs else f"removed (it depends on {remove_from!r})"
                raise DataError(
                    f"Cannot freeze up to vertex {frozen!r}: it is {why}. Freeze a vertex before the output, "
                    "so that a trainable layer is left."
                )
        builder = builder.setFeatureExtractor(*points)
    for output, n in _new_outputs(new_output, outputs).items():
        builder = builder.nOutReplace(output, n, weight_init)
    if remove_from is not None:
        builder = _replace_vertices(builder, net, remove_from, removed, add, attach_to, sources, outputs, vertices)
    return builder.build()


def _vertex(value, vertices: list[str], argument: str) -> str:
    if isinstance(value, str) and value in vertices:
        return value
    raise DataError(
        f"Received an invalid value for `{argument}`: {value!r} is not a vertex of this graph. "
        f"Vertices: {', '.join(vertices)}."
    )


def _descendants(start: str, sources: dict[str, list[str]]) -> set[str]:
    found, frontier = {start}, [start]
    while frontier:
        current = frontier.pop()
        for vertex, inputs in sources.items():
            if current in inputs and vertex not in found:
                found.add(vertex)
                frontier.append(vertex)
    return found


def _new_outputs(new_output, outputs: list[str]) -> dict[str, int]:
    if new_output is None:
        return {}
    if isinstance(new_output, dict):
        unknown = sorted(set(new_output) - set(outputs))
        if unknown:
            raise DataError(
                f"`new_output` names {', '.join(map(repr, unknown))}, which are not outputs of this graph. "
                f"Outputs: {', '.join(outputs)}."
            )
        return {o: _n_classes(n, o) for o, n in new_output.items()}
    if len(outputs) > 1:
        raise DataError(
            f"This graph has {len(outputs)} outputs ({', '.join(outputs)}): pass new_output as a dict "
            "{output name: n_classes}."
        )
    return {outputs[0]: _n_classes(new_output, outputs[0])}


def _replace_vertices(builder, net, remove_from: str, removed: set, add: list, attach_to, sources, outputs, vertices):
    if attach_to is None:
        if len(sources.get(remove_from, [])) != 1:
            raise DataError(
                f"Vertex {remove_from!r} reads {len(sources.get(remove_from, []))} inputs: name the one "
                "the added layers read with attach_to=..."
            )
        attach_to = sources[remove_from][0]
    elif not ((attach_to in vertices and attach_to not in removed) or _is_input(net, attach_to)):
        raise DataError(
            f"Received an invalid value for `attach_to`: {attach_to!r} is not a kept vertex or input of this graph."
        )
    specs = [_spec(entry) for entry in add]
    _check_ends_with_output(specs)
    for vertex in removed:
        builder = builder.removeVertexAndConnections(vertex)
    removed_outputs = [o for o in outputs if o in removed]
    names = _added_names(add, removed_outputs[0] if len(removed_outputs) == 1 else None, set(vertices) - removed)
    source = attach_to
    for vertex, spec in zip(names, specs):
        builder = builder.addLayer(vertex, spec.to_java(), source)
        source = vertex
    kept_outputs = [o for o in outputs if o not in removed]

    return builder.setOutputs(*kept_outputs, names[-1]).setInputTypes(*input_types(net))


def _is_input(net, name: str) -> bool:
    return name in [str(i) for i in as_java(net).getConfiguration().getNetworkInputs()]


def _added_names(add: list, output_name: str | None, taken: set[str]) -> list[str]:
    """Names of the added layers: as given in (name, layer) pairs, else added_1, ...; the last takes the name of
    the removed output, so that the graph keeps its output's name."""
    names = []
    for i, entry in enumerate(add):
        if isinstance(entry, tuple) and len(entry) == 2:
            vertex = entry[0]
        elif i == len(add) - 1 and output_name is not None:
            vertex = output_name
        else:
            vertex = f"added_{i + 1}"
        if not isinstance(vertex, str) or not vertex or vertex in taken or vertex in names:
            raise DataError(
                f"Cannot add a layer named {vertex!r}: the name is empty or already taken. Name it with a "
                "(name, layer) pair in `add`."
            )
        names.append(vertex)
    return names
