package ai.dl4jbridge.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.NativeOpsHolder;

class RoundSplitMasterTest {
    /** 23 one-row DataSets whose feature is their index. */
    private static List<DataSet> partition() {
        List<DataSet> sets = new ArrayList<>();
        for (int i = 0; i < 23; i++) {
            sets.add(new DataSet(Nd4j.scalar((float) i).reshape(1, 1), Nd4j.ones(1, 1)));
        }
        return sets;
    }

    private static List<Integer> slice(List<DataSet> data, int round, int rounds, long seed) throws Exception {
        Iterator<DataSet> it = new RoundSplitMaster.RoundSlice<DataSet>(round, rounds, seed).call(3, data.iterator());
        List<Integer> ids = new ArrayList<>();
        it.forEachRemaining(ds -> ids.add(ds.getFeatures().getInt(0)));
        return ids;
    }

    @Test
    void everyMinibatchIsInExactlyOneRoundAndWorkersGetEqualShares() throws Exception {
        List<DataSet> data = partition();
        Set<Integer> seen = new HashSet<>();
        for (int round = 0; round < 5; round++) {
            List<Integer> ids = slice(data, round, 5, 42);
            assertTrue(ids.size() == 4 || ids.size() == 5, "round " + round + " has " + ids.size());
            for (int id : ids) {
                assertTrue(seen.add(id), "minibatch " + id + " in two rounds");
            }
        }
        assertEquals(23, seen.size());
    }

    @Test
    void theOrderIsShuffledPerEpochAndReproducible() throws Exception {
        List<DataSet> data = partition();
        assertEquals(slice(data, 0, 2, 7), slice(data, 0, 2, 7));
        assertNotEquals(slice(data, 0, 2, 7), slice(data, 0, 2, 8));
    }

    @Test
    void roundsHandOutCopiesSoTheCachedDataStaysAsLoaded() throws Exception {
        List<DataSet> data = partition();
        Iterator<DataSet> it = new RoundSplitMaster.RoundSlice<DataSet>(0, 1, 1).call(0, data.iterator());
        AtomicInteger count = new AtomicInteger();
        it.forEachRemaining(ds -> {
            DataSet original = data.get(ds.getFeatures().getInt(0));
            assertNotSame(original.getFeatures(), ds.getFeatures());
            ds.getFeatures().assign(-1); // what an augmentation hook does to the minibatch it is given
            assertTrue(original.getFeatures().getFloat(0) >= 0);
            count.incrementAndGet();
        });
        assertEquals(23, count.get());
    }

    @Test
    void workerThreadsCapOpenMpOnTheTaskThreadOnly() throws Exception {
        var ops = NativeOpsHolder.getInstance().getDeviceNativeOps();
        int before = ops.ompGetMaxThreads();
        int capped = before == 1 ? 2 : 1; // differs from the process-wide value, whatever OMP_NUM_THREADS says
        int[] inWorker = new int[1];
        Thread worker = new Thread(() -> {
            new WorkerThreads(capped).preUpdate((org.nd4j.linalg.dataset.api.DataSet) null, null);
            inWorker[0] = ops.ompGetMaxThreads();
        });
        worker.start();
        worker.join();
        assertEquals(capped, inWorker[0]);
        assertEquals(before, ops.ompGetMaxThreads());
        assertEquals(1, WorkerThreads.perWorker(2, 2));
        assertEquals(4, WorkerThreads.perWorker(16, 4));
        assertEquals(1, WorkerThreads.perWorker(2, 8));
    }
}
