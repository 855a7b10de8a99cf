package ai.dl4jbridge.runtime.service;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Locale;
import java.util.Set;

/**
 * The service's metrics, kept by the Prometheus Java client (1.x) in a registry of the server's own,
 * with the client's JVM and process metrics beside them. Every label value comes from a closed set
 * (route templates, HTTP methods we know, served model names, status codes, error kinds written in
 * this code): nothing a client sends becomes a label value as it is.
 */
final class Metrics {
    static final String CONTENT_TYPE = PrometheusTextFormatWriter.CONTENT_TYPE;
    private static final Set<String> METHODS = Set.of("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH");
    /** Latency buckets (seconds): batch-1 CPU inference is well under a millisecond. */
    private static final double[] BUCKETS = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10
    };

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    private final Counter requests = Counter.builder()
            .name("dl4jbridge_requests_total")
            .help("HTTP requests by route, method and status code (499: the client went away first).")
            .labelNames("route", "method", "code")
            .register(registry);
    private final Counter errors = Counter.builder()
            .name("dl4jbridge_request_errors_total")
            .help("Requests answered with an error, by kind.")
            .labelNames("kind")
            .register(registry);
    private final Histogram latency = Histogram.builder()
            .name("dl4jbridge_predict_duration_seconds")
            .help("Time to answer a prediction (any protocol): read, validate, queue, infer, encode.")
            .classicOnly()
            .classicUpperBounds(BUCKETS)
            .labelNames("model")
            .register(registry);
    private final Counter rows = Counter.builder()
            .name("dl4jbridge_predicted_rows_total")
            .help("Input rows predicted.")
            .labelNames("model")
            .register(registry);
    private final Histogram batchRows = Histogram.builder()
            .name("dl4jbridge_batch_rows")
            .help("Rows per ONNX Runtime run of the dynamic batcher.")
            .classicOnly()
            .classicUpperBounds(1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
            .labelNames("model")
            .register(registry);
    private final Counter rejected = Counter.builder()
            .name("dl4jbridge_rejected_requests_total")
            .help("Requests answered 503 because the worker queue was full.")
            .register(registry);
    private final Counter aborts = Counter.builder()
            .name("dl4jbridge_client_aborts_total")
            .help("Requests whose client closed the connection before the answer was sent.")
            .register(registry);
    private final Counter closedMidRequest = Counter.builder()
            .name("dl4jbridge_connections_closed_mid_request_total")
            .help("Connections the client closed before its request had arrived whole (a half-sent body).")
            .register(registry);
    private final Counter refusedConnections = Counter.builder()
            .name("dl4jbridge_refused_connections_total")
            .help("Connections closed at once because --max-connections were open.")
            .register(registry);
    private final Gauge inFlight = Gauge.builder()
            .name("dl4jbridge_requests_in_flight")
            .help("Requests being handled now.")
            .register(registry);
    private final Gauge connections = Gauge.builder()
            .name("dl4jbridge_open_connections")
            .help("HTTP connections open now.")
            .register(registry);
    private final Gauge modelInfo = Gauge.builder()
            .name("dl4jbridge_model_info")
            .help("The models being served (value 1).")
            .labelNames("name", "version", "engine", "provider")
            .register(registry);

    Metrics() {
        JvmMetrics.builder().register(registry);
    }

    void model(String name, String version, String engine, String provider) {
        modelInfo.labelValues(name, version, engine, provider).set(1);
    }

    /** The method as a label: one of the HTTP methods the service knows, else "other". */
    static String methodLabel(String method) {
        String upper = method.length() > 8 ? "" : method.toUpperCase(Locale.ROOT);
        return METHODS.contains(upper) ? upper : "other";
    }

    void request(String route, String method, int status) {
        requests.labelValues(route, methodLabel(method), Integer.toString(status))
                .inc();
    }

    void prediction(String model, int n, long nanos) {
        latency.labelValues(model).observe(nanos / 1e9);
        rows.labelValues(model).inc(n);
    }

    void batch(String model, int n) {
        batchRows.labelValues(model).observe(n);
    }

    void error(String kind) {
        errors.labelValues(kind).inc();
    }

    void rejected() {
        rejected.inc();
    }

    void abort() {
        aborts.inc();
    }

    void closedMidRequest() {
        closedMidRequest.inc();
    }

    void refusedConnection() {
        refusedConnections.inc();
    }

    void inFlight(int delta) {
        inFlight.inc(delta);
    }

    long inFlight() {
        return (long) inFlight.get();
    }

    void connections(int delta) {
        connections.inc(delta);
    }

    byte[] render() {
        ByteArrayOutputStream out = new ByteArrayOutputStream(16384);
        try {
            writer.write(out, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}
