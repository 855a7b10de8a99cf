package ai.dl4jbridge.train;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A change made to each training minibatch's features before the network sees it (augmentation). It is a pure
 * function of the batch and a seed, so that the same run seed gives the same training; the loop derives the seed
 * from the run's seed, the epoch and the batch index, and may call it on a loader thread ahead of training.
 * Implementations return new arrays and leave the inputs untouched (they are views of the run's data).
 */
public interface BatchTransform {
    /** features: one array per network input, as the network takes it ([n, C, H, W], [n, H, W, C] or [n, F]). */
    INDArray[] apply(INDArray[] features, long seed);
}
