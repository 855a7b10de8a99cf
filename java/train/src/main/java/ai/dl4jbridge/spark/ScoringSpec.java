package ai.dl4jbridge.spark;

import java.io.Serializable;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.util.CollectionAccumulator;

/**
 * What an executor needs to score: the model's bytes (a broadcast, never a driver path), how to build its
 * predictor, where the features are and what to add. Serialised into every scoring task and SQL UDF.
 */
final class ScoringSpec implements Serializable {
    private static final long serialVersionUID = 1L;

    final Broadcast<byte[]> model;
    /** The model bytes' SHA-256 (hex): with the predictor settings, the key of the executor's cached predictor. */
    final String modelDigest;

    final OnnxScoring.Provider provider;
    final int deviceId;
    final int intraOpThreads;
    final FeatureValues features;
    final int batchSize;
    /** Per task: "executor ID: provider" (the driver reads the set: which provider ran where). */
    final CollectionAccumulator<String> providersUsed;

    ScoringSpec(
            Broadcast<byte[]> model,
            String modelDigest,
            OnnxScoring.Provider provider,
            int deviceId,
            int intraOpThreads,
            FeatureValues features,
            int batchSize,
            CollectionAccumulator<String> providersUsed) {
        this.model = model;
        this.modelDigest = modelDigest;
        this.provider = provider;
        this.deviceId = deviceId;
        this.intraOpThreads = intraOpThreads;
        this.features = features;
        this.batchSize = batchSize;
        this.providersUsed = providersUsed;
    }
}
