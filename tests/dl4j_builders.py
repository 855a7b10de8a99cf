"""DL4J's own Java builders, called through JPype: the networks users build in Java, not with bridge.nets.

    g = GraphSpec(seed=1).input("in", conv_input(12, 12, 3))
    g.layer("c1", conv(4, 3, mode="Same"), "in").vertex("sum", add(), "c1", "in")...
    net = g.output("out").build()        # an initialised ComputationGraph (JPype proxy)
"""
from __future__ import annotations

import jpype

from bridge.jvm import jclass

C = "org.deeplearning4j.nn.conf."
L = C + "layers."
V = C + "graph."


def ints(*values):
    return jpype.JArray(jpype.JInt)(list(values))


def input_type():
    return jclass(C + "inputs.InputType")


def conv_input(h: int, w: int, c: int, nhwc: bool = False):
    if nhwc:
        return input_type().convolutional(h, w, c, jclass(C + "CNN2DFormat").NHWC)
    return input_type().convolutional(h, w, c)


def flat_image_input(h: int, w: int, c: int):
    return input_type().convolutionalFlat(h, w, c)


def feed_forward_input(n: int):
    return input_type().feedForward(n)


def activation(name: str):
    return jclass("org.nd4j.linalg.activations.Activation").valueOf(name.upper())


def mode(name: str):
    return jclass(C + "ConvolutionMode").valueOf(name)


def conv(n_out: int, k: int = 3, stride: int = 1, padding: int = 0, conv_mode: str = "Truncate",
         act: str = "relu", nhwc: bool = False, bias: bool = True):
    b = (jclass(L + "ConvolutionLayer$Builder")(ints(k, k), ints(stride, stride), ints(padding, padding))
         .nOut(n_out).convolutionMode(mode(conv_mode)).activation(activation(act)).hasBias(bias))
    if nhwc:
        b = b.dataFormat(jclass(C + "CNN2DFormat").NHWC)
    return b.build()


def batch_norm():
    return jclass(L + "BatchNormalization$Builder")().build()


def max_pool(k: int = 2, stride: int = 2, conv_mode: str = "Truncate"):
    pooling = jclass(L + "SubsamplingLayer$PoolingType").MAX
    return jclass(L + "SubsamplingLayer$Builder")(pooling, ints(k, k), ints(stride, stride)).convolutionMode(mode(conv_mode)).build()


def global_avg_pool():
    return jclass(L + "GlobalPoolingLayer$Builder")(jclass(L + "PoolingType").AVG).build()


def dense(n_out: int, act: str = "relu"):
    return jclass(L + "DenseLayer$Builder")().nOut(n_out).activation(activation(act)).build()


def output(n_out: int, act: str = "softmax", loss: str = "MCXENT"):
    loss_fn = jclass("org.nd4j.linalg.lossfunctions.LossFunctions$LossFunction").valueOf(loss)
    return jclass(L + "OutputLayer$Builder")(loss_fn).nOut(n_out).activation(activation(act)).build()


def add():
    return jclass(V + "ElementWiseVertex")(jclass(V + "ElementWiseVertex$Op").Add)


def element_wise(op: str):
    return jclass(V + "ElementWiseVertex")(jclass(V + "ElementWiseVertex$Op").valueOf(op))


def concat():
    return jclass(V + "MergeVertex")()


class GraphSpec:
    """A thin chain over DL4J's GraphBuilder that remembers input types in order."""

    def __init__(self, seed: int = 1, updater=None):
        builder = jclass(C + "NeuralNetConfiguration$Builder")().seed(seed)
        if updater is not None:
            builder = builder.updater(updater)
        self.builder = builder.graphBuilder()
        self.types = []

    def input(self, name: str, kind) -> "GraphSpec":
        self.builder = self.builder.addInputs(name)
        self.types.append(kind)
        return self

    def layer(self, name: str, layer_conf, *inputs: str) -> "GraphSpec":
        self.builder = self.builder.addLayer(name, layer_conf, *inputs)
        return self

    def vertex(self, name: str, vertex_conf, *inputs: str) -> "GraphSpec":
        self.builder = self.builder.addVertex(name, vertex_conf, *inputs)
        return self

    def build(self, *outputs: str):
        conf = self.builder.setOutputs(*outputs).setInputTypes(*self.types).build()
        net = jclass("org.deeplearning4j.nn.graph.ComputationGraph")(conf)
        net.init()
        return net


def sequential(layers, kind, seed: int = 1):
    """A MultiLayerNetwork from DL4J layer configurations and an InputType."""
    # list() with no argument is the Layer... varargs overload, which JPype calls with an empty array.
    builder = jclass(C + "NeuralNetConfiguration$Builder")().seed(seed).list(jpype.JArray(jclass(L + "Layer"))(layers))
    net = jclass("org.deeplearning4j.nn.multilayer.MultiLayerNetwork")(builder.setInputType(kind).build())
    net.init()
    return net
