package ai.dl4jbridge.train;

import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

/** What Python needs to validate inputs before any native call. */
public final class NetInfo {
    private NetInfo() {}

    /** Number of features per example the network takes as a flat row, or -1 if unknown. */
    public static long flatInputSize(MultiLayerNetwork net) {
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations();
        InputPreProcessor pre = conf.getInputPreProcess(0);
        if (pre instanceof FeedForwardToCnnPreProcessor) {
            FeedForwardToCnnPreProcessor cnn = (FeedForwardToCnnPreProcessor) pre;
            return cnn.getInputHeight() * cnn.getInputWidth() * cnn.getNumChannels();
        }
        Layer first = conf.getConf(0).getLayer();
        if (first instanceof FeedForwardLayer && pre == null) {
            return ((FeedForwardLayer) first).getNIn();
        }
        return -1;
    }

    /** Width of the last layer's output (the number of classes for a classifier). */
    public static long outputSize(MultiLayerNetwork net) {
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations();
        Layer last = conf.getConf(conf.getConfs().size() - 1).getLayer();
        return last instanceof FeedForwardLayer ? ((FeedForwardLayer) last).getNOut() : -1;
    }
}
