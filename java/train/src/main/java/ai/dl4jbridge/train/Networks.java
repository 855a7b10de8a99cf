package ai.dl4jbridge.train;

import java.util.Collection;
import java.util.Collections;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.api.NeuralNetwork;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.lossfunctions.ILossFunction;

/**
 * What differs between a MultiLayerNetwork and a ComputationGraph, in one place. Training goes through DL4J's
 * common {@link NeuralNetwork} interface; only inference differs (one output array vs one per graph output).
 */
public final class Networks {
    private Networks() {}

    /** One minibatch step, DL4J's fit with dl4j-bridge's step changes ({@link TrainingStep}): a DataSet when the
     * network has one input and one output, else a MultiDataSet. */
    public static void fitBatch(Model net, INDArray[] features, INDArray[] labels) {
        NeuralNetwork network = (NeuralNetwork) requireKnown(net);
        TrainingStep.run(
                net,
                features.length == 1 && labels.length == 1
                        ? () -> network.fit(new DataSet(features[0], labels[0]))
                        : () -> network.fit(new MultiDataSet(features, labels)));
    }

    /** The network's layers (a graph's in its own order); none for a model of another kind. */
    public static Layer[] layers(Model net) {
        return net instanceof MultiLayerNetwork
                ? ((MultiLayerNetwork) net).getLayers()
                : net instanceof ComputationGraph ? ((ComputationGraph) net).getLayers() : new Layer[0];
    }

    /** Inference (test mode): one array per network output, with dl4j-bridge's oneDNN helpers ({@link OneDnnHelpers}). */
    public static INDArray[] output(Model net, INDArray[] features) {
        OneDnnHelpers.ensureInstalled(requireKnown(net));
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

    /** DL4J's epoch counter (kept in the configuration, saved in the model zip). */
    public static int epochCount(Model net) {
        return requireKnown(net) instanceof MultiLayerNetwork
                ? ((MultiLayerNetwork) net).getEpochCount()
                : ((ComputationGraph) net).getEpochCount();
    }

    /** DL4J's iteration counter: minibatch steps so far (it drives Adam's bias correction and per-iteration
     * learning-rate schedules). */
    public static int iterationCount(Model net) {
        return requireKnown(net) instanceof MultiLayerNetwork
                ? ((MultiLayerNetwork) net).getIterationCount()
                : ((ComputationGraph) net).getIterationCount();
    }

    /** Advance the epoch counter, as DL4J's own fit(iterator) does after each epoch (per-epoch schedules read it). */
    public static void incrementEpochCount(Model net) {
        if (requireKnown(net) instanceof MultiLayerNetwork) {
            ((MultiLayerNetwork) net).incrementEpochCount();
        } else {
            ((ComputationGraph) net).incrementEpochCount();
        }
    }

    /** The network's DL4J TrainingListeners (fit(DataSet) calls their per-iteration methods itself). */
    public static Collection<TrainingListener> listeners(Model net) {
        Collection<TrainingListener> listeners = requireKnown(net) instanceof MultiLayerNetwork
                ? ((MultiLayerNetwork) net).getListeners()
                : ((ComputationGraph) net).getListeners();
        return listeners == null ? Collections.emptyList() : listeners;
    }

    /** Tell the network's TrainingListeners an epoch starts, as DL4J's fit(iterator) does. */
    public static void epochStarted(Model net) {
        for (TrainingListener listener : listeners(net)) {
            listener.onEpochStart(net);
        }
    }

    public static void epochEnded(Model net) {
        for (TrainingListener listener : listeners(net)) {
            listener.onEpochEnd(net);
        }
    }

    /** The score (loss plus regularisation) of one minibatch in test mode. */
    public static double score(Model net, INDArray[] features, INDArray[] targets) {
        OneDnnHelpers.ensureInstalled(requireKnown(net));
        if (net instanceof MultiLayerNetwork) {
            return ((MultiLayerNetwork) net).score(new DataSet(features[0], targets[0]), false);
        }
        return ((ComputationGraph) net).score(new MultiDataSet(features, targets), false);
    }

    /** The learning rate of the first layer that has one, at the network's current counters (schedules
     * included); NaN when no layer has one. */
    public static double learningRate(Model net) {
        for (Layer layer : Networks.layers(requireKnown(net))) {
            Object conf = layer.conf().getLayer();
            if (layer.numParams() == 0 || !(conf instanceof BaseLayer)) {
                continue;
            }
            IUpdater updater = ((BaseLayer) conf).getIUpdater();
            if (updater != null && updater.hasLearningRate()) {
                return updater.getLearningRate(iterationCount(net), epochCount(net));
            }
        }
        return Double.NaN;
    }

    /** The output layer's configuration (where its loss function lives); output: 0 for a MultiLayerNetwork. */
    static BaseOutputLayer outputLayerConf(Model net, int output) {
        Layer layer = requireKnown(net) instanceof MultiLayerNetwork
                ? ((MultiLayerNetwork) net).getOutputLayer()
                : ((ComputationGraph) net).getOutputLayer(output);
        Object conf = layer.conf().getLayer();
        if (!(conf instanceof BaseOutputLayer)) {
            throw new IllegalArgumentException("class_weight needs an output layer with a loss function; output "
                    + output + " is a " + conf.getClass().getSimpleName());
        }
        return (BaseOutputLayer) conf;
    }

    /**
     * Weight the output's loss per class (Keras' class_weight) by replacing its loss function with a weighted copy
     * of the same class; returns the previous loss function, to restore with {@link #setLossFunction}.
     */
    public static ILossFunction weightLoss(Model net, int output, INDArray weights) {
        BaseOutputLayer conf = outputLayerConf(net, output);
        ILossFunction previous = conf.getLossFn();
        ILossFunction weighted;
        try {
            weighted = previous.getClass()
                    .getConstructor(INDArray.class)
                    .newInstance(weights.reshape(1, weights.length()));
        } catch (ReflectiveOperationException e) {
            throw new IllegalArgumentException(
                    "class_weight: the loss " + previous.getClass().getSimpleName()
                            + " of output " + output
                            + " takes no per-class weights; DL4J weights MCXENT, NEGATIVELOGLIKELIHOOD,"
                            + " XENT, MSE, L1, L2, MAE and similar losses. Drop class_weight or change the loss.");
        }
        conf.setLossFn(weighted);
        return previous;
    }

    public static void setLossFunction(Model net, int output, ILossFunction loss) {
        outputLayerConf(net, output).setLossFn(loss);
    }

    static Model requireKnown(Model net) {
        if (!(net instanceof MultiLayerNetwork) && !(net instanceof ComputationGraph)) {
            throw new IllegalArgumentException("expected a MultiLayerNetwork or a ComputationGraph, received "
                    + (net == null ? "null" : net.getClass().getName()));
        }
        return net;
    }
}
