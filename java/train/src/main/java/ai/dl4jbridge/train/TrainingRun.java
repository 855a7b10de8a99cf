package ai.dl4jbridge.train;

import java.util.concurrent.atomic.AtomicBoolean;
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
    /** One array per network output: [n] int class indices (one-hot encoded here, see {@link #numClasses}), or
     * [n, k] float targets used as they are (multi-label, regression, soft labels). */
    public INDArray[] labels;
    /** Width of each output. */
    public int[] numClasses;
    /** Epochs to run in this call. */
    public int epochs = 1;
    /** Number of the first epoch run here minus one (Keras' initial_epoch): epochs are reported as
     * initialEpoch + 1, initialEpoch + 2, ... */
    public int initialEpoch = 0;
    public int batchSize = 64;
    public long seed = 42;
    /** Shuffle the rows each epoch; the order is a pure function of (seed, the network's epoch counter). */
    public boolean shuffle = true;
    /** Optional, same layout as features / labels: evaluated after every epoch. */
    public INDArray[] validationFeatures;
    public INDArray[] validationLabels;
    /** Optional progress and callback listener (per epoch, and every few hundred milliseconds). */
    public ProgressListener listener;
    /** Optional change to every training minibatch's features (augmentation), prepared one batch ahead. */
    public BatchTransform transform;
    /** Optional stream of minibatches (data read from disk by the caller); replaces features / labels. */
    public BatchQueue stream;
    /** Spark only: a folder of DataSet files (part-*.bin) every worker can read, instead of features / labels, and
     * how many examples they hold (for the reported rate). */
    public String dataFiles;
    public long dataFileExamples;
    /** Set (from Python's Ctrl-C handler or a callback's stop_training) to stop at the next minibatch boundary. */
    public final AtomicBoolean stop = new AtomicBoolean();
    /** Set by the loop when it stopped inside an epoch (that epoch is not counted). */
    public volatile boolean stoppedMidEpoch;

    /** Number of examples (rows of the first input). */
    public long examples() {
        return features[0].size(0);
    }

    /** Training targets, one array per output: class indices one-hot encoded, float targets as they are. */
    public INDArray[] targets() {
        return Trainer.targets(labels, numClasses);
    }

    public boolean hasValidation() {
        return validationFeatures != null && validationLabels != null;
    }
}
