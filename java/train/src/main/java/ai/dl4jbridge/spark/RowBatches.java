package ai.dl4jbridge.spark;

import ai.dl4jbridge.train.Seeds;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.sql.catalyst.InternalRow;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * On an executor: a partition's rows as DL4J minibatches of batchSize examples (the last one smaller), built by
 * {@link TrainingColumns}. Shuffled (training): the partition, one averaging round's share of one worker, is read
 * whole, its rows put in an order drawn from (seed, partition) and all its minibatches built before DL4J's worker
 * sees the first, so that a bad row fails the Spark task here (DL4J's worker reads through a prefetch thread that
 * would swallow the error and leave the task waiting forever). Not shuffled (evaluation, export): rows stream
 * through, one minibatch at a time.
 */
final class RowBatches implements Function2<Integer, Iterator<InternalRow>, Iterator<DataSet>> {
    private static final long serialVersionUID = 1L;
    private final TrainingColumns columns;
    private final int batchSize;
    private final boolean shuffle;
    private final long seed;

    RowBatches(TrainingColumns columns, int batchSize, boolean shuffle, long seed) {
        this.columns = columns;
        this.batchSize = batchSize;
        this.shuffle = shuffle;
        this.seed = seed;
    }

    @Override
    public Iterator<DataSet> call(Integer partition, Iterator<InternalRow> rows) {
        if (!shuffle) {
            return new Batches(rows, partition);
        }
        List<InternalRow> held = new ArrayList<>();
        rows.forEachRemaining(held::add); // the shuffle's reader deserializes every row into an object of its own
        Collections.shuffle(held, new Random(Seeds.mix(seed, partition)));
        List<DataSet> batches = new ArrayList<>();
        new Batches(held.iterator(), partition).forEachRemaining(batches::add);
        return batches.iterator();
    }

    private final class Batches implements Iterator<DataSet> {
        private final Iterator<InternalRow> rows;
        private final int partition;
        private long done;

        Batches(Iterator<InternalRow> rows, int partition) {
            this.rows = rows;
            this.partition = partition;
        }

        @Override
        public boolean hasNext() {
            return rows.hasNext();
        }

        @Override
        public DataSet next() {
            if (!rows.hasNext()) {
                throw new NoSuchElementException();
            }
            int inputSize = columns.inputSize();
            int outputs = columns.outputWidth();
            float[] features = new float[batchSize * inputSize];
            float[] targets = new float[batchSize * outputs];
            int n = 0;
            for (; n < batchSize && rows.hasNext(); n++, done++) {
                columns.read(rows.next(), features, targets, n, shuffle ? -1 : done, partition);
            }
            long[] shape = columns.inputShape();
            long[] batchShape = new long[shape.length + 1];
            batchShape[0] = n;
            System.arraycopy(shape, 0, batchShape, 1, shape.length);
            float[] x = n == batchSize ? features : java.util.Arrays.copyOf(features, n * inputSize);
            float[] y = n == batchSize ? targets : java.util.Arrays.copyOf(targets, n * outputs);
            return new DataSet(Nd4j.create(x, batchShape, 'c'), Nd4j.create(y, new long[] {n, outputs}, 'c'));
        }
    }
}
