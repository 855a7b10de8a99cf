package ai.dl4jbridge.runtime.service;

import ai.dl4jbridge.runtime.Predictor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

/**
 * The service: one or more models over HTTP (Netty; dl4j-bridge's /v1 API, the Open Inference Protocol v2
 * REST API, TensorFlow Serving's REST predict) and, with a gRPC port, the Open Inference Protocol's
 * GRPCInferenceService. Embedded:
 *
 * <pre>{@code
 * Predictor lenet = OnnxPredictor.builder().setModel(Path.of("lenet.onnx")).build();
 * try (PredictionServer server = PredictionServer.start(lenet, ServiceOptions.defaults().port(8080))) {
 *     server.awaitShutdown();   // or serve until close()
 * }
 * }</pre>
 *
 * Or {@code java -jar dl4j-bridge-runtime-0.1.0-service.jar --model m.onnx --port 8080} ({@code --help}).
 * Bounded everywhere: a worker pool and its queue (beyond it 503 with Retry-After), connections, request
 * line, headers, body and rows; timeouts for slow requests and idle connections. Binds 127.0.0.1 unless told
 * otherwise. {@link #close()} drains: new predictions get 503 while the ones in flight finish (up to the grace
 * period), then the models are freed.
 */
public final class PredictionServer implements AutoCloseable {
    private final List<ServedModel> models;
    private final Router router;
    private final ThreadPoolExecutor workers;
    private final HttpTransport http;
    private final GrpcTransport grpc;
    private final int graceSeconds;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Object stoppedSignal = new Object();

    /** Serves {@code predictor} under its own name; the server owns it and closes it on {@link #close()}. */
    public static PredictionServer start(Predictor predictor, ServiceOptions options) {
        return start(Collections.singletonMap(predictor.info().name(), predictor), options);
    }

    /** Serves several models by name (the first is /v1/predict's default); the server owns and closes them. */
    public static PredictionServer start(Map<String, ? extends Predictor> predictors, ServiceOptions options) {
        if (predictors.isEmpty()) {
            throw new IllegalArgumentException("no model to serve");
        }
        List<ServedModel> served = new ArrayList<>();
        for (Map.Entry<String, ? extends Predictor> e : new LinkedHashMap<>(predictors).entrySet()) {
            served.add(new ServedModel(e.getKey(), "1", e.getValue(), options.batchFor(e.getKey()), options.nanPolicy));
        }
        return new PredictionServer(served, options);
    }

    /** Loads the models the options name (--model, --model-repository) and serves them. */
    public static PredictionServer start(ServiceOptions options) {
        return new PredictionServer(ModelRepository.load(options), options);
    }

    private PredictionServer(List<ServedModel> models, ServiceOptions options) {
        this.models = models;
        this.graceSeconds = options.graceSeconds;
        Metrics metrics = new Metrics();
        for (ServedModel m : models) {
            metrics.model(m.name, m.version, m.info.engine(), m.provider());
            m.startBatcher(options.batchRunners, options.queue, metrics);
        }
        this.router = new Router(models, metrics, options);
        AtomicInteger n = new AtomicInteger();
        this.workers = new ThreadPoolExecutor(
                options.threads, options.threads, 60, TimeUnit.SECONDS, new ArrayBlockingQueue<>(options.queue), r -> {
                    // A large stack: ONNX Runtime recurses in native code on the calling thread.
                    Thread t = new Thread(null, r, "dl4jbridge-worker-" + n.incrementAndGet(), 16L << 20);
                    t.setDaemon(true);
                    return t;
                });
        HttpTransport httpTransport = null;
        GrpcTransport grpcTransport = null;
        try {
            httpTransport = new HttpTransport(router, options, workers);
            grpcTransport = options.grpcPort >= 0 ? new GrpcTransport(router, options, workers) : null;
        } catch (RuntimeException e) {
            if (httpTransport != null) {
                httpTransport.close();
            }
            workers.shutdownNow();
            models.forEach(ServedModel::close);
            throw e;
        }
        this.http = httpTransport;
        this.grpc = grpcTransport;
    }

    /** The HTTP port (useful with port 0). */
    public int port() {
        return http.port();
    }

    public String host() {
        return http.host();
    }

    /** The gRPC port, or -1 when gRPC is off. */
    public int grpcPort() {
        return grpc == null ? -1 : grpc.port();
    }

    /** The names of the models served, in order (the first is /v1/predict's default). */
    public List<String> modelNames() {
        return models.stream().map(m -> m.name).collect(Collectors.toList());
    }

    /** Blocks until {@link #close()} has run (from another thread or a shutdown hook). */
    public void awaitShutdown() throws InterruptedException {
        synchronized (stoppedSignal) {
            while (!closed.get()) {
                stoppedSignal.wait();
            }
        }
    }

    /** Stops accepting, waits up to the grace period for requests in flight, then frees the models. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        router.stopping();
        http.stopAccepting();
        if (grpc != null) {
            grpc.stopAccepting();
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(graceSeconds);
        while (http.inFlight() > 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        http.close();
        if (grpc != null) {
            grpc.close();
        }
        workers.shutdown();
        try {
            if (!workers.awaitTermination(Math.max(1, graceSeconds), TimeUnit.SECONDS)) {
                workers.shutdownNow();
            }
        } catch (InterruptedException e) {
            workers.shutdownNow();
            Thread.currentThread().interrupt();
        }
        models.forEach(ServedModel::close);
        synchronized (stoppedSignal) {
            stoppedSignal.notifyAll();
        }
    }

    /** The request-body memory budget, printed at start (after the listening line). */
    String memoryLine() {
        return http.memoryLine();
    }

    /** The line the service prints once it listens (Python's `dl4j-bridge serve` and the tests wait for it). */
    String listeningLine(ServiceOptions options) {
        ServedModel first = models.get(0);
        return "dl4j-bridge service listening on http://" + host() + ":" + port()
                + (grpc != null ? " grpc=" + host() + ":" + grpcPort() : "")
                + " model=" + first.name + " models=" + String.join(",", modelNames())
                + " engine=\"" + first.info.engine() + "\" provider=" + first.provider()
                + " threads=" + options.threads
                + " batching="
                + models.stream().map(m -> m.name + ":" + m.batching).collect(Collectors.joining(","));
    }

    public static void main(String[] args) {
        ServiceOptions.Parsed parsed = ServiceOptions.parseCommandLine(args);
        if (parsed.options == null) {
            (parsed.exitCode == 0 ? System.out : System.err).println(parsed.text.strip());
            System.exit(parsed.exitCode);
            return;
        }
        ServiceOptions options = parsed.options;
        PredictionServer server;
        try {
            server = start(options);
        } catch (Exception | LinkageError e) {
            System.err.println("dl4j-bridge service: " + oneLine(e));
            System.exit(1);
            return;
        }
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            server.close();
                            System.out.println("dl4j-bridge service stopped");
                        },
                        "dl4jbridge-shutdown"));
        System.out.println(server.listeningLine(options)); // first: launchers wait for it
        System.out.println(server.memoryLine());
        System.out.flush();
        try {
            server.awaitShutdown(); // every service thread is a daemon: main holds the JVM up
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A start-up failure as one line: the message, never a stack trace. */
    static String oneLine(Throwable e) {
        String message = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
        return message.replaceAll("\\s*\\R\\s*", " ").trim();
    }
}
