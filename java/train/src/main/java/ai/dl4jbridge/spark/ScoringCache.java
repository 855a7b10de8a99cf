package ai.dl4jbridge.spark;

import ai.dl4jbridge.runtime.ExecutionProvider;
import ai.dl4jbridge.runtime.NanPolicy;
import ai.dl4jbridge.runtime.OnnxPredictor;
import ai.dl4jbridge.runtime.Predictor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The predictors of this JVM (an executor, or the driver on local[N]), one per model and settings, built on first
 * use from the broadcast bytes and kept for the JVM's life: every task and UDF call on the executor shares it
 * ({@code OrtSession.run} is thread-safe). {@link OnnxScoring#close()} releases the driver JVM's.
 */
final class ScoringCache {
    private static final Logger LOG = LoggerFactory.getLogger(ScoringCache.class);
    private static final Map<String, Loaded> PREDICTORS = new ConcurrentHashMap<>();
    /** Where Linux's NVIDIA driver announces itself; without it ONNX Runtime's CUDA provider cannot start. */
    private static final Path NVIDIA_DRIVER = Path.of("/proc/driver/nvidia/version");

    private ScoringCache() {}

    /** A built predictor and the provider it runs on, with why that provider was chosen. */
    static final class Loaded {
        final Predictor predictor;
        final ExecutionProvider provider;
        final String reason;

        Loaded(Predictor predictor, ExecutionProvider provider, String reason) {
            this.predictor = predictor;
            this.provider = provider;
            this.reason = reason;
        }

        String describe() {
            return provider + (reason.isEmpty() ? "" : " (" + reason + ")");
        }
    }

    /** The executor's predictor for {@code spec}, built from the broadcast bytes the first time. */
    static Loaded get(ScoringSpec spec) {
        String[] why = new String[1];
        ExecutionProvider provider = resolve(spec.provider, why);
        Loaded cached =
                get(spec.modelDigest, () -> spec.model.value(), provider, why[0], spec.deviceId, spec.intraOpThreads);
        // The driver's own CPU predictor (local[N]) is cached without AUTO's reason: report this choice's.
        return why[0].equals(cached.reason) ? cached : new Loaded(cached.predictor, cached.provider, why[0]);
    }

    static Loaded get(
            String digest,
            java.util.function.Supplier<byte[]> bytes,
            ExecutionProvider provider,
            String reason,
            int deviceId,
            int intraOpThreads) {
        String key = digest + "/" + provider + "/" + deviceId + "/" + intraOpThreads;
        return PREDICTORS.computeIfAbsent(key, k -> {
            OnnxPredictor predictor = OnnxPredictor.builder()
                    .setModel(bytes.get())
                    .optExecutionProvider(provider)
                    .optDeviceId(deviceId)
                    .optIntraOpThreads(intraOpThreads)
                    // FeatureValues checks NaN and infinite values as it reads each row, naming it: one pass,
                    // not a second one over every batch in the predictor.
                    .optNanPolicy(NanPolicy.ALLOW)
                    .build();
            LOG.info(
                    "dl4j-bridge scoring: model '{}' ({}) loaded on {}{}",
                    predictor.info().name(),
                    digest.substring(0, 12),
                    provider,
                    reason.isEmpty() ? "" : " (" + reason + ")");
            return new Loaded(predictor, provider, reason);
        });
    }

    /** Closes and forgets this JVM's predictors of one model. */
    static void release(String digest) {
        PREDICTORS.entrySet().removeIf(entry -> {
            if (!entry.getKey().startsWith(digest + "/")) {
                return false;
            }
            entry.getValue().predictor.close();
            return true;
        });
    }

    /**
     * The provider that runs: CPU and CUDA as asked (CUDA that cannot load fails the task, naming why: never a
     * silent CPU run); AUTO is CUDA where this JVM's ONNX Runtime has the CUDA provider and the machine an NVIDIA
     * driver, else CPU, with the reason.
     */
    static ExecutionProvider resolve(OnnxScoring.Provider asked, String[] why) {
        why[0] = "";
        if (asked == OnnxScoring.Provider.CPU) {
            return ExecutionProvider.CPU;
        }
        if (asked == OnnxScoring.Provider.CUDA) {
            return ExecutionProvider.CUDA;
        }
        // Not OrtEnvironment.getEnvironment() here: creating ONNX Runtime's environment on a thread with the default
        // stack (a Spark task's) killed the executor JVM with SIGSEGV and no error report (ONNX Runtime Java 1.29).
        // OnnxPredictor creates it on its loader thread, which has a large stack.
        if (!OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA)) {
            why[0] = "auto: this ONNX Runtime build has no CUDA provider; com.microsoft.onnxruntime:onnxruntime_gpu"
                    + " has it";
            return ExecutionProvider.CPU;
        }
        if (!Files.exists(NVIDIA_DRIVER)) {
            why[0] = "auto: no NVIDIA driver on this machine (" + NVIDIA_DRIVER + " is missing)";
            return ExecutionProvider.CPU;
        }
        why[0] = "auto: the CUDA provider and an NVIDIA driver are present";
        return ExecutionProvider.CUDA;
    }
}
