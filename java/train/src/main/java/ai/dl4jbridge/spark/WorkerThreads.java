package ai.dl4jbridge.spark;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.nativeblas.NativeOpsHolder;

/**
 * Caps the OpenMP threads of ND4J's and oneDNN's kernels on each Spark task thread, before its first minibatch.
 * Every Spark task is one worker; in local[N] the N workers share the driver's process, and with the process-wide
 * OMP_NUM_THREADS each of them would start that many threads: N x threads on the machine's cores, spinning at
 * each other's barriers. OpenMP's thread count is a per-thread setting, so the driver's own work keeps its threads.
 */
final class WorkerThreads implements TrainingHook {
    private static final long serialVersionUID = 1L;
    private static final ThreadLocal<Integer> APPLIED = new ThreadLocal<>();
    private final int threads;

    WorkerThreads(int threads) {
        this.threads = threads;
    }

    /** OpenMP threads for each of `workers` concurrent workers on `cores` cores: at least one each. */
    static int perWorker(int cores, int workers) {
        return Math.max(1, cores / Math.max(1, workers));
    }

    private void apply() {
        Integer applied = APPLIED.get();
        if (applied == null || applied != threads) {
            NativeOpsHolder.getInstance().getDeviceNativeOps().setOmpNumThreads(threads);
            APPLIED.set(threads);
        }
    }

    @Override
    public void preUpdate(DataSet minibatch, Model model) {
        apply();
    }

    @Override
    public void postUpdate(DataSet minibatch, Model model) {}

    @Override
    public void preUpdate(MultiDataSet minibatch, Model model) {
        apply();
    }

    @Override
    public void postUpdate(MultiDataSet minibatch, Model model) {}
}
