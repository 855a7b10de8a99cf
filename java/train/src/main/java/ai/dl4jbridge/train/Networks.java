package ai.dl4jbridge.train;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.api.NeuralNetwork;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.MultiDataSet;

/**
 * What differs between a MultiLayerNetwork and a ComputationGraph, in one place. Training goes through DL4J's
 * common {@link NeuralNetwork} interface; only inference differs (one output array vs one per graph output).
 */
public final class Networks {
    private Networks() {}

    /** One minibatch step: a DataSet when the network has one input and one output, else a MultiDataSet. */
    public static void fitBatch(Model net, INDArray[] features, INDArray[] labels) {
        NeuralNetwork network = (NeuralNetwork) requireKnown(net);
        ChannelsLastHelpers.ensureDropped(net);
        if (features.length == 1 && labels.length == 1) {
            network.fit(new DataSet(features[0], labels[0]));
        } else {
            network.fit(new MultiDataSet(features, labels));
        }
    }

    /** Inference (test mode): one array per network output. */
    public static INDArray[] output(Model net, INDArray[] features) {
        ChannelsLastHelpers.ensureDropped(requireKnown(net));
        if (net instanceof MultiLayerNetwork) {
            return new INDArray[] {((MultiLayerNetwork) net).output(features[0], false)};
        }
        return ((ComputationGraph) net).output(false, features);
    }

    /** Number of network outputs: 1 for a MultiLayerNetwork. */
    public static int numOutputs(Model net) {
        return requireKnown(net) instanceof ComputationGraph ? ((ComputationGraph) net).getNumOutputArrays() : 1;
    }

    /** Number of network inputs: 1 for a MultiLayerNetwork. */
    public static int numInputs(Model net) {
        return requireKnown(net) instanceof ComputationGraph ? ((ComputationGraph) net).getNumInputArrays() : 1;
    }

    static Model requireKnown(Model net) {
        if (!(net instanceof MultiLayerNetwork) && !(net instanceof ComputationGraph)) {
            throw new IllegalArgumentException("expected a MultiLayerNetwork or a ComputationGraph, received "
                    + (net == null ? "null" : net.getClass().getName()));
        }
        return net;
    }
}
