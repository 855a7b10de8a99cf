package ai.dl4jbridge.runtime.service;

import ai.dl4jbridge.runtime.OnnxPredictor;
import ai.dl4jbridge.runtime.Predictor;
import ai.dl4jbridge.runtime.PredictorException;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The reference HTTP service: {@code java -jar dl4j-bridge-runtime-0.1.0-service.jar --model m.onnx --port 8080}.
 *
 * <p>Why the JDK's {@code com.sun.net.httpserver}: the service is a thin shell around one
 * {@code predict} call, and the JDK server needs no dependency (nothing to patch for CVEs, nothing
 * to clash with a team's own Netty or Jetty), starts in milliseconds and takes any {@link
 * java.util.concurrent.Executor}, so the worker pool is ours and bounded. A team that needs HTTP/2,
 * TLS termination or async I/O puts its own framework around {@link Predictor}; the library does not
 * depend on this package.
 *
 * <p>Bounded everywhere: {@code threads} workers, a queue of {@code queue} requests (beyond it a request
 * gets 503 with Retry-After at once, and {@code dl4jbridge_rejected_requests_total} counts it), a body
 * limit, a row limit. Binds 127.0.0.1 unless told otherwise.
 */
public final class PredictionServer implements AutoCloseable {
    private final Predictor predictor;
    private final HttpServer server;
    private final ThreadPoolExecutor workers;
    private final ThreadPoolExecutor rejections = new ThreadPoolExecutor(2, 2, 60, TimeUnit.SECONDS,
            new ArrayBlockingQueue<>(1024), daemonThreads("overload"));
    private final Router router;
    private final int graceSeconds;
    private final AtomicInteger state = new AtomicInteger(); // 0 running, 1 stopped

    static {
        // The JDK server writes headers and body in separate packets; without TCP_NODELAY, Nagle's
        // algorithm and the client's delayed ACK add ~40 ms to every response. Read once, when the
        // server's configuration class loads, so it must be set before the first HttpServer.create.
        if (System.getProperty("sun.net.httpserver.nodelay") == null) {
            System.setProperty("sun.net.httpserver.nodelay", "true");
        }
        // A client that stops sending mid-request must not hold a thread forever (default: no limit).
        if (System.getProperty("sun.net.httpserver.maxReqTime") == null) {
            System.setProperty("sun.net.httpserver.maxReqTime", "60");
        }
    }

    /** Starts serving {@code predictor}; the server owns it and closes it on {@link #close()}. */
    public static PredictionServer start(Predictor predictor, ServiceOptions options) {
        return new PredictionServer(predictor, options);
    }

    private PredictionServer(Predictor predictor, ServiceOptions options) {
        this.predictor = predictor;
        this.graceSeconds = options.graceSeconds;
        Metrics metrics = new Metrics(predictor.info().name(), predictor.info().engine(),
                predictor.info().provider().name().toLowerCase(java.util.Locale.ROOT));
        this.router = new Router(predictor, metrics, options);
        this.workers = new ThreadPoolExecutor(options.threads, options.threads, 60, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(options.queue), daemonThreads("worker"), (task, pool) -> {
                    // Queue full: a separate small pool answers 503 at once (it reads no model, and any
                    // blocking read of a slow client stalls only that pool, never the server's dispatcher
                    // thread). If that pool is full too, the JDK server drops the connection.
                    metrics.rejected();
                    rejections.execute(() -> {
                        Router.OVERLOADED.set(Boolean.TRUE);
                        try {
                            task.run();
                        } finally {
                            Router.OVERLOADED.remove();
                        }
                    });
                });
        try {
            server = HttpServer.create(new InetSocketAddress(options.host, options.port), 1024);
        } catch (IOException e) {
            workers.shutdownNow();
            rejections.shutdownNow();
            throw new UncheckedIOException("cannot listen on " + options.host + ":" + options.port + ": " + e.getMessage(), e);
        }
        server.createContext("/", router);
        server.setExecutor(workers);
        server.start();
    }

    /** The port the server listens on (useful with port 0). */
    public int port() {
        return server.getAddress().getPort();
    }

    public String host() {
        return server.getAddress().getHostString();
    }

    /** Stops accepting, waits up to the grace period for requests in flight, then frees the model. */
    @Override
    public void close() {
        if (!state.compareAndSet(0, 1)) {
            return;
        }
        // Drain first: new predictions get 503 while the ones in flight finish (up to the grace period).
        // HttpServer.stop(delay) alone would wait the whole delay on JDK < 21 even when idle.
        router.stopping();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(graceSeconds);
        while (router.inFlight() > 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        server.stop(0);
        workers.shutdown();
        rejections.shutdown();
        try {
            if (!workers.awaitTermination(graceSeconds, TimeUnit.SECONDS)) {
                workers.shutdownNow();
            }
        } catch (InterruptedException e) {
            workers.shutdownNow();
            Thread.currentThread().interrupt();
        }
        predictor.close();
    }

    private static ThreadFactory daemonThreads(String kind) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, "dl4jbridge-" + kind + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    public static void main(String[] args) {
        ServiceOptions options;
        try {
            options = ServiceOptions.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        Predictor predictor;
        try {
            predictor = OnnxPredictor.builder()
                    .setModel(options.model)
                    .optExecutionProvider(options.provider)
                    .optNanPolicy(options.nanPolicy)
                    .optIntraOpThreads(options.intraOpThreads)
                    .build();
        } catch (PredictorException e) {
            System.err.println("dl4j-bridge service: " + e.getMessage());
            System.exit(1);
            return;
        }
        PredictionServer server;
        try {
            server = start(predictor, options);
        } catch (UncheckedIOException e) {
            predictor.close();
            System.err.println("dl4j-bridge service: " + e.getMessage());
            System.exit(1);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            System.out.println("dl4j-bridge service stopped");
        }, "dl4jbridge-shutdown"));
        // One parseable line: Python's `dl4j-bridge serve` and the tests wait for it.
        System.out.println("dl4j-bridge service listening on http://" + server.host() + ":" + server.port()
                + " model=" + predictor.info().name() + " engine=\"" + predictor.info().engine() + "\" provider="
                + predictor.info().provider().name().toLowerCase(java.util.Locale.ROOT)
                + " threads=" + options.threads);
        System.out.flush();
    }
}
