package ai.dl4jbridge.runtime.service;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/** Prometheus text-format metrics, kept with lock-free counters (no client library needed). */
final class Metrics {
    /** Latency buckets (seconds): batch-1 CPU inference is well under a millisecond. */
    private static final double[] BUCKETS = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> errors = new ConcurrentHashMap<>();
    private final LongAdder[] bucketCounts = new LongAdder[BUCKETS.length];
    private final LongAdder latencyCount = new LongAdder();
    private final LongAdder latencyNanos = new LongAdder();
    private final LongAdder rows = new LongAdder();
    private final LongAdder rejected = new LongAdder();
    final AtomicLong inFlight = new AtomicLong();
    private final String modelLabels;

    Metrics(String modelName, String engine, String provider) {
        for (int i = 0; i < BUCKETS.length; i++) {
            bucketCounts[i] = new LongAdder();
        }
        modelLabels = "name=\"" + escape(modelName) + "\",engine=\"" + escape(engine) + "\",provider=\""
                + escape(provider) + "\"";
    }

    void request(String route, String method, int status, long nanos) {
        requests.computeIfAbsent(route + "\u0000" + method + "\u0000" + status, k -> new LongAdder()).increment();
        if ("/v1/predict".equals(route)) {
            double seconds = nanos / 1e9;
            for (int i = 0; i < BUCKETS.length; i++) {
                if (seconds <= BUCKETS[i]) {
                    bucketCounts[i].increment();
                }
            }
            latencyCount.increment();
            latencyNanos.add(nanos);
        }
    }

    void error(String kind) {
        errors.computeIfAbsent(kind, k -> new LongAdder()).increment();
    }

    void rows(int n) {
        rows.add(n);
    }

    void rejected() {
        rejected.increment();
    }

    String render() {
        StringBuilder sb = new StringBuilder(4096);
        sb.append("# HELP dl4jbridge_requests_total HTTP requests by route, method and status code.\n");
        sb.append("# TYPE dl4jbridge_requests_total counter\n");
        requests.forEach((key, count) -> {
            String[] parts = key.split("\u0000");
            sb.append("dl4jbridge_requests_total{route=\"").append(parts[0]).append("\",method=\"").append(parts[1])
                    .append("\",code=\"").append(parts[2]).append("\"} ").append(count.sum()).append('\n');
        });
        sb.append("# HELP dl4jbridge_request_errors_total Requests answered with an error, by kind.\n");
        sb.append("# TYPE dl4jbridge_request_errors_total counter\n");
        errors.forEach((kind, count) -> sb.append("dl4jbridge_request_errors_total{kind=\"").append(kind)
                .append("\"} ").append(count.sum()).append('\n'));
        sb.append("# HELP dl4jbridge_predict_duration_seconds Time to answer POST /v1/predict: read, validate, infer, encode, up to sending the answer.\n");
        sb.append("# TYPE dl4jbridge_predict_duration_seconds histogram\n");
        for (int i = 0; i < BUCKETS.length; i++) {
            sb.append("dl4jbridge_predict_duration_seconds_bucket{le=\"").append(BUCKETS[i]).append("\"} ")
                    .append(bucketCounts[i].sum()).append('\n');
        }
        long count = latencyCount.sum();
        sb.append("dl4jbridge_predict_duration_seconds_bucket{le=\"+Inf\"} ").append(count).append('\n');
        sb.append("dl4jbridge_predict_duration_seconds_sum ").append(latencyNanos.sum() / 1e9).append('\n');
        sb.append("dl4jbridge_predict_duration_seconds_count ").append(count).append('\n');
        sb.append("# HELP dl4jbridge_predicted_rows_total Input rows predicted.\n");
        sb.append("# TYPE dl4jbridge_predicted_rows_total counter\n");
        sb.append("dl4jbridge_predicted_rows_total ").append(rows.sum()).append('\n');
        sb.append("# HELP dl4jbridge_rejected_requests_total Requests answered 503 because the worker queue was full.\n");
        sb.append("# TYPE dl4jbridge_rejected_requests_total counter\n");
        sb.append("dl4jbridge_rejected_requests_total ").append(rejected.sum()).append('\n');
        sb.append("# HELP dl4jbridge_requests_in_flight Requests being handled now.\n");
        sb.append("# TYPE dl4jbridge_requests_in_flight gauge\n");
        sb.append("dl4jbridge_requests_in_flight ").append(inFlight.get()).append('\n');
        sb.append("# HELP dl4jbridge_model_info The model being served.\n");
        sb.append("# TYPE dl4jbridge_model_info gauge\n");
        sb.append("dl4jbridge_model_info{").append(modelLabels).append("} 1\n");
        return sb.toString();
    }

    private static String escape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
