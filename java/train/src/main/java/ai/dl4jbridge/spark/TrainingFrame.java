package ai.dl4jbridge.spark;

import ai.dl4jbridge.train.Seeds;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import org.apache.spark.Partitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.rdd.PartitionPruningRDD;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeProjection;
import org.apache.spark.sql.catalyst.expressions.UnsafeRow;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.CollectionAccumulator;
import org.nd4j.linalg.dataset.DataSet;
import scala.Tuple2;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;

/**
 * A DataFrame as training data, on the driver: its feature and label columns selected and checked
 * ({@link TrainingColumns}), and its rows turned into minibatches on the executors. The driver sees the schema,
 * counts and parameters, never rows.
 *
 * <p>For training ({@link #rounds}) the rows are spread once per fit, by one Spark shuffle, over P partitions of about
 * one averaging round's share each (averagingFrequency x batchSizePerWorker rows): row i of source partition m goes
 * to partition (offset_m + i) mod P, a round robin from a seeded offset, so every partition holds an even sample of
 * the whole frame. The shuffle's files stay on the executors' disks; each epoch the partitions are dealt to rounds in
 * an order shuffled by (seed, epoch), W at a time (W workers), and each round's job reads just its W partitions,
 * shuffles their rows and cuts them into minibatches. Memory on an executor: one round's share of rows per worker.
 */
public final class TrainingFrame {
    private final Dataset<Row> selected;
    private final TrainingColumns columns;
    private long counted = -1;

    public TrainingFrame(Dataset<Row> frame, TrainingColumns columns) {
        String[] names = columns.columnNames();
        Column[] select = new Column[names.length];
        for (int i = 0; i < names.length; i++) {
            select[i] = frame.col(names[i]);
        }
        this.selected = frame.select(select);
        this.columns = columns;
    }

    public TrainingColumns columns() {
        return columns;
    }

    /** Rows in the frame (a Spark job, once; cheap for parquet, whose files record their row counts). */
    public long count() {
        if (counted < 0) {
            counted = selected.count();
        }
        return counted;
    }

    /** The selected rows as Spark's binary rows, partitioned as the frame is. */
    JavaRDD<InternalRow> rows() {
        return selected.queryExecution().toRdd().toJavaRDD();
    }

    /** The frame as minibatches, partition by partition, in the frame's order (evaluation, export). */
    public JavaRDD<DataSet> minibatches(int batchSize) {
        return rows().mapPartitionsWithIndex(new RowBatches(columns, batchSize, false, 0L), true);
    }

    /** The frame spread over round-sized partitions for parameter averaging (see the class comment). */
    public Rounds rounds(int workers, int batchSize, int averagingFrequency, long seed) {
        long rows = count();
        if (rows == 0) {
            throw new IllegalArgumentException("the DataFrame has no rows to train on");
        }
        long perRound = (long) workers * batchSize * averagingFrequency;
        int partitions = (int) Math.min(Integer.MAX_VALUE / 2, workers * ((rows + perRound - 1) / perRound));
        JavaRDD<InternalRow> source = rows();
        CollectionAccumulator<long[]> sizes =
                source.context().collectionAccumulator("dl4j-bridge rows per source partition");
        JavaRDD<Tuple2<Integer, InternalRow>> keyed =
                source.mapPartitionsWithIndex(new RoundRobin(partitions, seed, selected.schema(), sizes), true);
        JavaRDD<InternalRow> spread = JavaPairRDD.fromJavaRDD(keyed)
                .partitionBy(new Exact(partitions))
                .values();
        return new Rounds(this, spread, rows, partitions, source.getNumPartitions(), workers, batchSize, seed, sizes);
    }

    /** Row i of source partition m goes to (offset_m + i) mod P, offset_m drawn from (seed, m). */
    static final class RoundRobin
            implements Function2<Integer, Iterator<InternalRow>, Iterator<Tuple2<Integer, InternalRow>>> {
        private static final long serialVersionUID = 1L;
        private final int partitions;
        private final long seed;
        private final StructType schema;
        private final CollectionAccumulator<long[]> sizes;

        RoundRobin(int partitions, long seed, StructType schema, CollectionAccumulator<long[]> sizes) {
            this.partitions = partitions;
            this.seed = seed;
            this.schema = schema;
            this.sizes = sizes;
        }

        static int offset(long seed, int partition, int partitions) {
            return new Random(Seeds.mix(seed, partition)).nextInt(partitions);
        }

        @Override
        public Iterator<Tuple2<Integer, InternalRow>> call(Integer partition, Iterator<InternalRow> rows) {
            int start = offset(seed, partition, partitions);
            UnsafeProjection[] project = new UnsafeProjection[1];
            return new Iterator<>() {
                private long i;

                @Override
                public boolean hasNext() {
                    boolean more = rows.hasNext();
                    if (!more && i >= 0) {
                        sizes.add(new long[] {partition, i});
                        i = -1; // reported once
                    }
                    return more;
                }

                @Override
                public Tuple2<Integer, InternalRow> next() {
                    InternalRow row = rows.next();
                    UnsafeRow binary;
                    if (row instanceof UnsafeRow) {
                        binary = ((UnsafeRow) row).copy();
                    } else {
                        if (project[0] == null) {
                            project[0] = UnsafeProjection.create(schema);
                        }
                        binary = project[0].apply(row).copy();
                    }
                    return new Tuple2<>((int) ((start + i++) % partitions), binary);
                }
            };
        }
    }

    /** Key k goes to partition k. */
    static final class Exact extends Partitioner {
        private static final long serialVersionUID = 1L;
        private final int partitions;

        Exact(int partitions) {
            this.partitions = partitions;
        }

        @Override
        public int numPartitions() {
            return partitions;
        }

        @Override
        public int getPartition(Object key) {
            return (Integer) key;
        }

        @Override
        public boolean equals(Object other) {
            return other instanceof Exact && ((Exact) other).partitions == partitions;
        }

        @Override
        public int hashCode() {
            return partitions;
        }
    }

    /** The round-sized partitions of one fit, dealt to rounds anew each epoch. */
    public static final class Rounds {
        private final TrainingFrame frame;
        private final JavaRDD<InternalRow> spread;
        private final long rows;
        private final int partitions;
        private final int sourcePartitions;
        private final int workers;
        private final int batchSize;
        private final long seed;
        private final CollectionAccumulator<long[]> sizes;

        Rounds(
                TrainingFrame frame,
                JavaRDD<InternalRow> spread,
                long rows,
                int partitions,
                int sourcePartitions,
                int workers,
                int batchSize,
                long seed,
                CollectionAccumulator<long[]> sizes) {
            this.frame = frame;
            this.spread = spread;
            this.rows = rows;
            this.partitions = partitions;
            this.sourcePartitions = sourcePartitions;
            this.workers = workers;
            this.batchSize = batchSize;
            this.seed = seed;
            this.sizes = sizes;
        }

        public long rows() {
            return rows;
        }

        public int partitions() {
            return partitions;
        }

        int roundsPerEpoch() {
            return partitions / workers;
        }

        /** At most this many minibatches in one partition: ceil(rows / P) plus up to one row per source partition. */
        int maxMinibatchesPerPartition() {
            long most = (rows + partitions - 1) / partitions + sourcePartitions;
            return (int) Math.max(1, (most + batchSize - 1) / batchSize);
        }

        /** Epoch e's rounds: each the partitions it trains, W of them. */
        int[][] deal(int epoch) {
            List<Integer> order = new ArrayList<>();
            for (int p = 0; p < partitions; p++) {
                order.add(p);
            }
            Collections.shuffle(order, new Random(Seeds.mix(Seeds.mix(seed, 0x5eed), epoch)));
            int[][] rounds = new int[roundsPerEpoch()][workers];
            for (int r = 0; r < rounds.length; r++) {
                for (int w = 0; w < workers; w++) {
                    rounds[r][w] = order.get(r * workers + w);
                }
            }
            return rounds;
        }

        /** One round of an epoch: its partitions' rows, shuffled by (seed, epoch, partition), as minibatches. */
        JavaRDD<DataSet> round(int epoch, int[] members) {
            long epochSeed = Seeds.mix(seed, epoch);
            JavaRDD<DataSet> batches =
                    spread.mapPartitionsWithIndex(new RowBatches(frame.columns, batchSize, true, epochSeed), true);
            boolean[] keep = new boolean[partitions];
            for (int p : members) {
                keep[p] = true;
            }
            ClassTag<DataSet> tag = ClassTag$.MODULE$.apply(DataSet.class);
            return JavaRDD.fromRDD(PartitionPruningRDD.create(batches.rdd(), new Keep(keep)), tag);
        }

        /** The most minibatches any of these partitions holds (exact once the shuffle has run: the source
         * partitions' sizes come back in an accumulator, and the round robin's arithmetic does the rest). */
        int minibatches(int[] members) {
            long[] counts = new long[sourcePartitions];
            boolean[] known = new boolean[sourcePartitions];
            int seen = 0;
            for (long[] entry : sizes.value()) {
                int m = (int) entry[0];
                if (!known[m]) {
                    known[m] = true;
                    counts[m] = entry[1];
                    seen++;
                }
            }
            if (seen < sourcePartitions) {
                return maxMinibatchesPerPartition();
            }
            int most = 0;
            for (int p : members) {
                long size = partitionSize(counts, seed, p, partitions);
                most = (int) Math.max(most, (size + batchSize - 1) / batchSize);
            }
            return most;
        }
    }

    /** How many rows the round robin sends to partition p of `partitions`, from source partitions of `counts` rows. */
    static long partitionSize(long[] counts, long seed, int p, int partitions) {
        long size = 0;
        for (int m = 0; m < counts.length; m++) {
            int start = RoundRobin.offset(seed, m, partitions);
            size += counts[m] / partitions + (Math.floorMod(p - start, partitions) < counts[m] % partitions ? 1 : 0);
        }
        return size;
    }

    /** PartitionPruningRDD's filter: the partitions of one round. */
    static final class Keep extends AbstractFunction1<Object, Object> implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        private final boolean[] keep;

        Keep(boolean[] keep) {
            this.keep = keep;
        }

        @Override
        public Object apply(Object index) {
            return keep[(Integer) index];
        }
    }
}
