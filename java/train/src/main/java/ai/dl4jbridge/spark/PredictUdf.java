package ai.dl4jbridge.spark;

import ai.dl4jbridge.runtime.Prediction;
import java.nio.FloatBuffer;
import java.util.List;
import org.apache.spark.sql.api.java.UDF1;

/**
 * The SQL functions of {@link OnnxScoring#registerUdf}: one row's features in, its probabilities (float[]) or its
 * prediction (label or class index) out, on the executor's cached predictor. Input as {@link FeatureValues} reads
 * it; a null or malformed value fails the query, naming the column's problem.
 */
final class PredictUdf implements UDF1<Object, Object> {
    private static final long serialVersionUID = 1L;

    private final ScoringSpec spec;
    private final boolean prediction;
    /** This task's copy of the executor's predictor (the UDF object is deserialised per task). */
    private transient ScoringCache.Loaded loaded;

    PredictUdf(ScoringSpec spec, boolean prediction) {
        this.spec = spec;
        this.prediction = prediction;
    }

    @Override
    public Object call(Object features) {
        if (loaded == null) {
            loaded = ScoringCache.get(spec);
        }
        FloatBuffer row = FloatBuffer.allocate(spec.features.size());
        spec.features.write(features, row, -1);
        row.flip();
        Prediction scored = loaded.predictor.predict(row, 1);
        if (!prediction) {
            return scored.probabilities(0);
        }
        List<String> labels = loaded.predictor.info().labels();
        int index = scored.classOf(0);
        return labels.isEmpty() ? (Object) index : labels.get(index);
    }
}
