package ai.dl4jbridge.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import scala.Tuple2;

/** The round robin that spreads a DataFrame's rows over round-sized partitions, and the sizes the driver derives. */
class TrainingFrameTest {
    private static final StructType SCHEMA = new StructType().add("x", DataTypes.IntegerType);

    private static List<Integer> targets(int partition, int rows, int partitions, long seed) throws Exception {
        List<InternalRow> source = new ArrayList<>();
        for (int i = 0; i < rows; i++) {
            source.add(new GenericInternalRow(new Object[] {i}));
        }
        org.apache.spark.util.CollectionAccumulator<long[]> sizes = new org.apache.spark.util.CollectionAccumulator<>();
        Iterator<Tuple2<Integer, InternalRow>> keyed =
                new TrainingFrame.RoundRobin(partitions, seed, SCHEMA, sizes).call(partition, source.iterator());
        List<Integer> out = new ArrayList<>();
        keyed.forEachRemaining(t -> out.add(t._1()));
        return out;
    }

    @Test
    void theDriversArithmeticGivesTheSizesTheRoundRobinMakes() throws Exception {
        Random random = new Random(3);
        for (int trial = 0; trial < 20; trial++) {
            int partitions = 1 + random.nextInt(12);
            long seed = random.nextLong();
            long[] counts = new long[1 + random.nextInt(6)];
            long[] sizes = new long[partitions];
            for (int m = 0; m < counts.length; m++) {
                counts[m] = random.nextInt(50);
                for (int target : targets(m, (int) counts[m], partitions, seed)) {
                    sizes[target]++;
                }
            }
            long total = 0;
            for (int p = 0; p < partitions; p++) {
                assertEquals(sizes[p], TrainingFrame.partitionSize(counts, seed, p, partitions));
                total += sizes[p];
            }
            assertEquals(java.util.Arrays.stream(counts).sum(), total); // every row goes somewhere, once
        }
    }

    @Test
    void partitionsDifferByAtMostOneRowPerSourcePartition() throws Exception {
        int partitions = 7;
        long[] counts = {100, 33, 58};
        long[] sizes = new long[partitions];
        for (int m = 0; m < counts.length; m++) {
            for (int target : targets(m, (int) counts[m], partitions, 11L)) {
                sizes[target]++;
            }
        }
        long min = java.util.Arrays.stream(sizes).min().getAsLong();
        long max = java.util.Arrays.stream(sizes).max().getAsLong();
        assertTrue(max - min <= counts.length, java.util.Arrays.toString(sizes));
    }
}
