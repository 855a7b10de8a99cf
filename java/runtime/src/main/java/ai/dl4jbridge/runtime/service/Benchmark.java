package ai.dl4jbridge.runtime.service;

import ai.dl4jbridge.runtime.OnnxPredictor;
import ai.dl4jbridge.runtime.Predictor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * In-process ONNX Runtime Java timings, for benchmarks/bench_service.py to set beside Python's ONNX
 * Runtime in the same run: batch-1 latency and batch-N throughput.
 *
 * <pre>java -cp dl4j-bridge-runtime-0.1.0-service.jar ai.dl4jbridge.runtime.service.Benchmark \
 *     MODEL.onnx DIGITS.u8 [batch1Threads=1] [batchNThreads=0] [batch1Calls=2000] [batchSize=256] [batches=40]</pre>
 * Thread counts are ONNX Runtime intra-op threads (0: one per core).
 * Prints one JSON line: {"batch1": {"p50_us", "p99_us", "mean_us"}, "batchN": {"rows_per_s", ...}}.
 */
public final class Benchmark {
    private Benchmark() {}

    public static void main(String[] args) throws IOException {
        Path model = Path.of(args[0]);
        byte[] raw = Files.readAllBytes(Path.of(args[1]));
        int threads1 = args.length > 2 ? Integer.parseInt(args[2]) : 1;
        int threadsN = args.length > 3 ? Integer.parseInt(args[3]) : 0;
        int calls = args.length > 4 ? Integer.parseInt(args[4]) : 2000;
        int batchSize = args.length > 5 ? Integer.parseInt(args[5]) : 256;
        int batches = args.length > 6 ? Integer.parseInt(args[6]) : 40;
        int rows = raw.length / 784;
        float[][] digits = new float[rows][784];
        for (int i = 0; i < raw.length; i++) {
            digits[i / 784][i % 784] = (raw[i] & 0xff) / 255f;
        }
        FloatBuffer batch = ByteBuffer.allocateDirect(batchSize * 784 * 4)
                .order(ByteOrder.nativeOrder())
                .asFloatBuffer();
        for (int r = 0; r < batchSize; r++) {
            batch.put(digits[r % rows]);
        }
        batch.flip();
        try (Predictor p = OnnxPredictor.builder()
                        .setModel(model)
                        .optIntraOpThreads(threads1)
                        .build();
                Predictor pn = OnnxPredictor.builder()
                        .setModel(model)
                        .optIntraOpThreads(threadsN)
                        .build()) {
            for (int i = 0; i < 200; i++) { // warm-up: JIT and ONNX Runtime's arenas
                p.predict(digits[i % rows]);
            }
            long[] lat = new long[calls];
            for (int i = 0; i < calls; i++) {
                long t0 = System.nanoTime();
                p.predict(digits[i % rows]);
                lat[i] = System.nanoTime() - t0;
            }
            Arrays.sort(lat);
            double mean = Arrays.stream(lat).average().orElse(0) / 1e3;
            for (int i = 0; i < 3; i++) {
                pn.predict(batch, batchSize);
            }
            long[] per = new long[batches];
            for (int i = 0; i < batches; i++) {
                long t0 = System.nanoTime();
                pn.predict(batch, batchSize);
                per[i] = System.nanoTime() - t0;
            }
            Arrays.sort(per);
            double median = per[batches / 2] / 1e9;
            System.out.println(String.format(
                    Locale.ROOT,
                    "{\"engine\": \"%s\", \"threads\": [%d, %d], "
                            + "\"batch1\": {\"calls\": %d, \"p50_us\": %.1f, \"p99_us\": %.1f, \"mean_us\": %.1f}, "
                            + "\"batchN\": {\"batch\": %d, \"batches\": %d, \"median_s\": %.6f, \"min_s\": %.6f, "
                            + "\"max_s\": %.6f, \"rows_per_s\": %.1f}}",
                    p.info().engine(),
                    threads1,
                    threadsN,
                    calls,
                    lat[calls / 2] / 1e3,
                    lat[(int) (calls * 0.99)] / 1e3,
                    mean,
                    batchSize,
                    batches,
                    median,
                    per[0] / 1e9,
                    per[batches - 1] / 1e9,
                    batchSize / median));
        }
    }
}
