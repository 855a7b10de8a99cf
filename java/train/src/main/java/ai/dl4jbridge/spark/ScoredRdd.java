package ai.dl4jbridge.spark;

import ai.dl4jbridge.runtime.Prediction;
import ai.dl4jbridge.runtime.Predictor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.spark.Dependency;
import org.apache.spark.OneToOneDependency;
import org.apache.spark.Partition;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.JoinedRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.unsafe.types.UTF8String;
import scala.collection.AbstractIterator;
import scala.collection.Iterator;
import scala.collection.JavaConverters;
import scala.collection.Seq;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * The executor's half of {@link OnnxScoring#transform}: the input DataFrame's rows (Spark's internal rows, so the
 * features are read as one float array each, never as boxed values) in mini-batches of {@code spec.batchSize}
 * through the executor's cached predictor; each row goes out with its probabilities and prediction joined to it.
 * One batch is held at a time.
 *
 * <p>The input's own RDD is made when a job first asks for this one's partitions, not when the DataFrame is built:
 * with adaptive execution, making it runs the input's shuffle stages, and {@code transform} must stay lazy.
 */
final class ScoredRdd extends RDD<InternalRow> {
    private static final long serialVersionUID = 1L;
    private static final ClassTag<InternalRow> ROWS = ClassTag$.MODULE$.apply(InternalRow.class);

    private final transient Dataset<Row> input;
    private transient RDD<InternalRow> parent;
    private final ScoringSpec spec;
    private final int featuresIndex;
    private final DataType featuresType;
    private final boolean withPrediction;

    @SuppressWarnings("unchecked")
    ScoredRdd(Dataset<Row> input, ScoringSpec spec, int featuresIndex, boolean withPrediction) {
        super(
                input.sparkSession().sparkContext(),
                (Seq<Dependency<?>>) (Seq<?>) scala.collection.immutable.Nil$.MODULE$,
                ROWS);
        this.input = input;
        this.spec = spec;
        this.featuresIndex = featuresIndex;
        this.featuresType = input.schema().fields()[featuresIndex].dataType();
        this.withPrediction = withPrediction;
    }

    private synchronized RDD<InternalRow> parent() {
        if (parent == null) {
            parent = input.queryExecution().toRdd();
        }
        return parent;
    }

    @Override
    public Partition[] getPartitions() {
        return parent().partitions();
    }

    @Override
    public Seq<Dependency<?>> getDependencies() {
        List<Dependency<?>> deps = Collections.singletonList(new OneToOneDependency<>(parent()));
        return JavaConverters.asScalaBuffer(deps).toSeq();
    }

    @Override
    public Iterator<InternalRow> compute(Partition split, TaskContext context) {
        ScoringCache.Loaded loaded = ScoringCache.get(spec);
        SparkEnv env = SparkEnv.get();
        spec.providersUsed.add("executor " + (env == null ? "?" : env.executorId()) + ": " + loaded.describe());
        return new Batches(firstParent(ROWS).iterator(split, context), loaded.predictor);
    }

    private final class Batches extends AbstractIterator<InternalRow> {
        private final Iterator<InternalRow> rows;
        private final Predictor predictor;
        private final FeatureValues features = spec.features;
        private final FloatBuffer buffer;
        private final List<InternalRow> pending = new ArrayList<>();
        private final UTF8String[] labels;
        private Prediction scored;
        private int next;
        private long rowNumber;

        Batches(Iterator<InternalRow> rows, Predictor predictor) {
            this.rows = rows;
            this.predictor = predictor;
            this.buffer = ByteBuffer.allocateDirect(spec.batchSize * features.size() * Float.BYTES)
                    .order(ByteOrder.nativeOrder())
                    .asFloatBuffer();
            List<String> names = predictor.info().labels();
            this.labels = names.stream().map(UTF8String::fromString).toArray(UTF8String[]::new);
        }

        @Override
        public boolean hasNext() {
            return next < pending.size() || (rows.hasNext() && scoreNextBatch());
        }

        private boolean scoreNextBatch() {
            pending.clear();
            next = 0;
            buffer.clear();
            while (pending.size() < spec.batchSize && rows.hasNext()) {
                InternalRow row = rows.next();
                features.write(row, featuresIndex, featuresType, buffer, rowNumber++);
                pending.add(row.copy()); // the input iterator may reuse its row object
            }
            buffer.flip();
            scored = predictor.predict(buffer, pending.size());
            return !pending.isEmpty();
        }

        @Override
        public InternalRow next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            int classes = scored.numClasses();
            float[] probabilities = new float[classes];
            System.arraycopy(scored.flatProbabilities(), next * classes, probabilities, 0, classes);
            Object[] added = new Object[withPrediction ? 2 : 1];
            added[0] = UnsafeArrayData.fromPrimitiveArray(probabilities);
            if (withPrediction) {
                int index = scored.classOf(next);
                added[1] = labels.length == 0 ? (Object) index : labels[index];
            }
            return new JoinedRow(pending.get(next++), new GenericInternalRow(added));
        }
    }
}
