package ai.dl4jbridge.spark;

import ai.dl4jbridge.train.Seeds;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaRDDLike;
import org.apache.spark.api.java.function.Function2;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.MultiDataSet;

/**
 * DL4J's parameter averaging with the training data split into averaging rounds without a pass over serialized
 * data or a shuffle per round. DL4J 1.0.0-M2 caches the data serialized (MEMORY_ONLY_SER), so each of an epoch's
 * rounds deserialized every minibatch only to keep 1/rounds of them, and then repartitioned the round's data
 * through a shuffle (27% of a Spark epoch of LeNet). Here the data is cached as objects (the caller persists it
 * MEMORY_ONLY and trains with Repartition.Never): round r of a partition is the r-th slice of that partition's
 * minibatches in an order shuffled per epoch and partition, so every worker gets the same number of minibatches
 * (within one) and every minibatch trains once per epoch. The minibatches a round hands to DL4J are copies:
 * DL4J's workers and the augmentation hook write into the DataSets they train on, and the cached ones must stay
 * as loaded.
 */
final class RoundSplitMaster extends AveragingMaster {
    private static final long serialVersionUID = 1L;
    private final long seed;
    private int epochs;
    /** The partitions' sizes of the cached training RDD (its id), counted once per fit: every epoch trains the
     * same cached data, and DL4J's count and the round split would each run a job over it every epoch. */
    private transient int countedRdd = -1;

    private transient List<Integer> sizes;

    RoundSplitMaster(Builder builder, long seed) {
        super(builder);
        this.seed = seed;
    }

    @Override
    protected <T, R extends JavaRDDLike<T, R>> long getTotalDataSetObjectCount(JavaRDDLike<T, R> data) {
        if (collectTrainingStats) {
            stats.logCountStart();
        }
        long total = sizes(data).stream().mapToLong(Integer::longValue).sum();
        if (collectTrainingStats) {
            stats.logCountEnd();
        }
        return total;
    }

    /** One small job over the cached partitions (the first also fills the cache), then remembered. */
    private <T, R extends JavaRDDLike<T, R>> List<Integer> sizes(JavaRDDLike<T, R> data) {
        if (sizes == null || countedRdd != data.id()) {
            sizes = data.mapPartitions(RoundSplitMaster::count).collect();
            countedRdd = data.id();
        }
        return sizes;
    }

    @Override
    @SuppressWarnings("unchecked")
    protected <T> JavaRDD<T>[] getSplitRDDs(JavaRDD<T> data, int totalObjects, int examplesPerObject) {
        int rounds = rounds(sizes(data), Math.max(1, getNumDataSetObjectsPerSplit(examplesPerObject) / numWorkers));
        long epochSeed = Seeds.mix(seed, epochs++);
        JavaRDD<T>[] splits = new JavaRDD[rounds];
        for (int r = 0; r < rounds; r++) {
            splits[r] = data.mapPartitionsWithIndex(new RoundSlice<>(r, rounds, epochSeed), true);
        }
        return splits;
    }

    /**
     * Enough rounds that no worker gets more than `perWorker` objects in one: DL4J's worker stops a round after
     * averagingFrequency minibatches and drops the rest of its share (DL4J's own split, which rounds the count of
     * rounds down, lost up to a fifth of an epoch that way).
     */
    private static int rounds(List<Integer> sizes, int perWorker) {
        int largest = sizes.stream().mapToInt(Integer::intValue).max().orElse(0);
        return Math.max(1, (largest + perWorker - 1) / perWorker);
    }

    private static <T> Iterator<Integer> count(Iterator<T> objects) {
        int n = 0;
        for (; objects.hasNext(); objects.next()) {
            n++;
        }
        return List.of(n).iterator();
    }

    /** Round r of `rounds` within one partition: every rounds-th minibatch of the partition's shuffled order. */
    static final class RoundSlice<T> implements Function2<Integer, Iterator<T>, Iterator<T>> {
        private static final long serialVersionUID = 1L;
        private final int round;
        private final int rounds;
        private final long epochSeed;

        RoundSlice(int round, int rounds, long epochSeed) {
            this.round = round;
            this.rounds = rounds;
            this.epochSeed = epochSeed;
        }

        @Override
        public Iterator<T> call(Integer partition, Iterator<T> objects) {
            List<T> all = new ArrayList<>();
            objects.forEachRemaining(all::add);
            Collections.shuffle(all, new Random(Seeds.mix(epochSeed, partition)));
            List<T> slice = new ArrayList<>(all.size() / rounds + 1);
            for (int i = round; i < all.size(); i += rounds) {
                slice.add(copyOf(all.get(i)));
            }
            return slice.iterator();
        }

        @SuppressWarnings("unchecked")
        private static <T> T copyOf(T object) {
            if (object instanceof DataSet) {
                return (T) ((DataSet) object).copy();
            }
            if (object instanceof MultiDataSet) {
                return (T) ((MultiDataSet) object).copy();
            }
            return object; // paths (fitFiles) are immutable
        }
    }
}
