package ai.dl4jbridge.train;

import org.deeplearning4j.nn.api.Model;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One training, evaluation or inference call's network, data and settings. The caller (Python) fills the
 * public fields, then hands the whole object to {@link Trainer} or the Spark trainer: one argument instead of
 * a positional list that grows with every feature.
 */
public final class TrainingRun {
    /** A MultiLayerNetwork or a ComputationGraph, trained in place. */
    public Model network;
    /** One array per network input, in input order: [n, ...] float32 of the rank the input takes
     * ([n, F], [n, C, H, W], [n, H, W, C]). */
    public INDArray[] features;
    /** One array per network output: [n] int class indices (one-hot encoded here, see {@link #numClasses}). */
    public INDArray[] labels;
    /** Class count of each output. */
    public int[] numClasses;
    public int epochs = 1;
    public int batchSize = 64;
    public long seed = 42;
    /** Optional, same layout as features / labels: evaluated after every epoch. */
    public INDArray[] validationFeatures;
    public INDArray[] validationLabels;
    /** Optional progress callback. */
    public ProgressListener listener;

    /** Number of examples (rows of the first input). */
    public long examples() {
        return features[0].size(0);
    }

    /** labels as one-hot rows, one array per output. */
    public INDArray[] oneHotLabels() {
        return Trainer.oneHot(labels, numClasses);
    }

    public boolean hasValidation() {
        return validationFeatures != null && validationLabels != null;
    }
}
