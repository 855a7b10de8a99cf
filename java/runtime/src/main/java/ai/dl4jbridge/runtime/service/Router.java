package ai.dl4jbridge.runtime.service;

import ai.dl4jbridge.runtime.InvalidInputException;
import ai.dl4jbridge.runtime.Prediction;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Every HTTP route, free of the transport: a {@link Request} in, a {@link Reply} out (a future when the
 * model runs through the batcher). dl4j-bridge's own /v1 routes, the Open Inference Protocol v2 REST
 * routes ({@link OpenInference}) and TensorFlow Serving's REST predict ({@link TfServing}). Nothing
 * thrown below reaches a client as a stack trace: HttpError and InvalidInputException become 4xx,
 * anything else a logged 500 with a generic message.
 */
final class Router {
    private static final Logger LOG = Logger.getLogger(Router.class.getName());
    private static final String ROUTES = "routes: POST /v1/predict, GET /v1/model, GET /health, GET /metrics, GET /v2,"
            + " GET /v2/health/live|ready, GET /v2/models/NAME[/versions/V][/ready], POST /v2/models/NAME[/versions/V]/infer,"
            + " POST /v2/repository/index, POST /v1/models/NAME[/versions/V]:predict, GET /v1/models/NAME[/versions/V][/metadata]";

    private final Map<String, ServedModel> models = new LinkedHashMap<>();
    private final ServedModel defaultModel;
    private final Metrics metrics;
    private final int maxRows;
    private final byte[] defaultModelJson;
    private volatile boolean stopping;

    Router(List<ServedModel> served, Metrics metrics, ServiceOptions options) {
        for (ServedModel m : served) {
            models.put(m.name, m);
        }
        this.defaultModel = served.get(0);
        this.metrics = metrics;
        this.maxRows = options.maxRows;
        this.defaultModelJson = JsonCodec.model(defaultModel.info);
        this.allBatching = served.stream().allMatch(m -> m.batching.enabled());
    }

    /**
     * True when {@code request} can be handled on the network thread: every model batches (a prediction only
     * parses and queues; the batcher's threads run the model) and the body is small. Saves a thread hand-off
     * per request, which is what batching single rows is about.
     */
    boolean handleInline(Request request) {
        return allBatching && request.body.length <= INLINE_BODY;
    }

    private static final int INLINE_BODY = 64 * 1024;
    private final boolean allBatching;

    void stopping() {
        stopping = true;
    }

    boolean isStopping() {
        return stopping;
    }

    Map<String, ServedModel> models() {
        return models;
    }

    Metrics metrics() {
        return metrics;
    }

    int maxRows() {
        return maxRows;
    }

    /** Answers {@code request}; the future never completes exceptionally. */
    CompletableFuture<Reply> handle(Request request) {
        String[] route = {"other"};
        CompletableFuture<Reply> reply;
        try {
            reply = dispatch(request, route);
        } catch (RuntimeException e) {
            reply = CompletableFuture.failedFuture(e);
        }
        return reply.handle((ok, failure) -> {
            Reply r = ok != null ? ok : failed(request, failure);
            r.route = route[0];
            return r;
        });
    }

    private Reply failed(Request request, Throwable failure) {
        Throwable e =
                failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
        if (e instanceof HttpError) {
            HttpError h = (HttpError) e;
            metrics.error(h.kind);
            Reply r = Reply.error(h.status, h.getMessage());
            if (h.status == 503) {
                r.header("Retry-After", "1");
            }
            if (h.status == 405) {
                r.header("Allow", h.allow);
            }
            return r;
        }
        if (e instanceof InvalidInputException) {
            metrics.error("invalid_input");
            return Reply.error(400, e.getMessage());
        }
        metrics.error("internal");
        LOG.log(
                Level.WARNING,
                "request " + Metrics.methodLabel(request.method) + " " + truncate(request.path) + " failed",
                e);
        return Reply.error(500, "internal error (" + e.getClass().getSimpleName() + "); see the service log");
    }

    private static String truncate(String s) {
        return s.length() > 200 ? s.substring(0, 200) + "..." : s;
    }

    private CompletableFuture<Reply> dispatch(Request r, String[] route) {
        String path = r.path;
        switch (path) {
            case "/v1/predict":
                route[0] = path;
                requireMethod(r, "POST");
                return predictV1(r);
            case "/v1/model":
                route[0] = path;
                requireMethod(r, "GET");
                return done(Reply.json(200, defaultModelJson));
            case "/health":
                route[0] = path;
                requireMethod(r, "GET");
                return done(
                        stopping
                                ? Reply.json(503, JsonCodec.object("status", "stopping"))
                                : Reply.json(200, JsonCodec.object("status", "ok", "model", defaultModel.name)));
            case "/metrics":
                route[0] = path;
                requireMethod(r, "GET");
                return done(new Reply(200, Metrics.CONTENT_TYPE, metrics.render()));
            default:
                break;
        }
        if (path.equals("/v2") || path.startsWith("/v2/")) {
            return OpenInference.dispatch(this, r, route);
        }
        if (path.startsWith("/v1/models/")) {
            return TfServing.dispatch(this, r, route);
        }
        throw new HttpError(404, "not_found", "no route " + truncate(path) + "; " + ROUTES);
    }

    /**
     * On a refused v1 JSON body only: the first row nested as the model's image in the other channel order, and the
     * transpose that fixes it ("" when none is). The streaming parse stops at the first axis that differs, before it
     * knows the row's shape; this reads the body again as a tree to tell.
     */
    private static String channelOrderHint(byte[] body, ServedModel model) {
        if (model.rowShape().length != 3) {
            return "";
        }
        try {
            JsonNode inputs = Tensors.object(body, 0, body.length, "the body").get("inputs");
            List<Long> dims = new ArrayList<>();
            for (int i = 0; inputs != null && inputs.isArray() && i < inputs.size(); i++) {
                Tensors.flatten(inputs.get(i), dims, "row " + i);
                String problem = model.exampleProblem(dims);
                if (problem != null && !problem.isEmpty()) {
                    return "; row " + i + " has shape " + dims + problem;
                }
            }
        } catch (HttpError notRectangular) {
            // rows that are no tensors at all: the parse error says enough
        }
        return "";
    }

    static CompletableFuture<Reply> done(Reply reply) {
        return CompletableFuture.completedFuture(reply);
    }

    static void requireMethod(Request r, String allowed) {
        if ("GET".equals(allowed) && r.isHead()) {
            return; // answered as GET; the transport sends the headers only
        }
        if (!allowed.equals(r.method)) {
            throw new HttpError(
                            405,
                            "method_not_allowed",
                            "method " + (r.method.length() > 16 ? r.method.substring(0, 16) + "..." : r.method)
                                    + " is not allowed here; use " + allowed)
                    .allow("GET".equals(allowed) ? "GET, HEAD" : allowed);
        }
    }

    /** The served model {@code name} (and version, when given), or 404 naming the ones served. */
    ServedModel model(String name, String version) {
        ServedModel m = models.get(name);
        if (m == null) {
            throw new HttpError(404, "unknown_model", "no model '" + truncate(name) + "'; serving " + models.keySet());
        }
        if (version != null && !version.isEmpty() && !version.equals(m.version)) {
            throw new HttpError(
                    404,
                    "unknown_version",
                    "model '" + name + "' has no version '" + truncate(version) + "'; it serves version " + m.version);
        }
        return m;
    }

    void checkNotStopping() {
        if (stopping) {
            throw new HttpError(503, "stopping", "the service is shutting down; retry on another instance");
        }
    }

    /** Runs {@code n} rows through {@code model}, timing it for the metrics. */
    CompletableFuture<Prediction> predict(ServedModel model, float[] rows, int n) {
        return predict(model, FloatBuffer.wrap(rows), n);
    }

    /** As above, for rows in a buffer (from position 0): a raw float32 body is read in place, not copied. */
    CompletableFuture<Prediction> predict(ServedModel model, FloatBuffer rows, int n) {
        checkNotStopping();
        if (n > maxRows) {
            throw new HttpError(
                    413,
                    "too_many_rows",
                    "more than " + maxRows + " rows in one request; split the batch (--max-rows)");
        }
        long start = System.nanoTime();
        return model.predict(rows, n).thenApply(out -> {
            metrics.prediction(model.name, out.rows(), System.nanoTime() - start);
            return out;
        });
    }

    private CompletableFuture<Reply> predictV1(Request r) {
        String name = r.queryParameter("model");
        ServedModel model = name == null ? defaultModel : model(name, null);
        String type = r.mediaType();
        int size = model.info.inputSize();
        if (!Reply.JSON.equals(type) && !Reply.BINARY.equals(type)) {
            throw new HttpError(
                    415,
                    "unsupported_media_type",
                    "Content-Type " + (type == null ? "(none)" : truncate(type))
                            + " is not supported; send " + Reply.JSON + " {\"inputs\": [[...]]} or " + Reply.BINARY
                            + " (little-endian float32 rows of " + size + ")");
        }
        FloatBuffer rows;
        int n;
        if (Reply.JSON.equals(type)) {
            float[][] parsed;
            try {
                parsed = JsonCodec.parseInputs(r.body, model.rowShape(), maxRows);
            } catch (HttpError e) {
                String hint = e.status == 400 ? channelOrderHint(r.body, model) : "";
                throw hint.isEmpty() ? e : new HttpError(e.status, e.kind, e.getMessage() + hint);
            }
            n = parsed.length;
            float[] flat = new float[n * size];
            for (int i = 0; i < n; i++) {
                System.arraycopy(parsed[i], 0, flat, i * size, size);
            }
            rows = FloatBuffer.wrap(flat);
        } else {
            int rowBytes = size * Float.BYTES;
            if (r.body.length == 0 || r.body.length % rowBytes != 0) {
                throw new HttpError(
                        400,
                        "bad_request",
                        "binary body has " + r.body.length + " bytes, expected a positive"
                                + " multiple of " + rowBytes + " (rows of " + size + " little-endian float32, shape "
                                + java.util.Arrays.toString(model.rowShape())
                                + model.info
                                        .inputLayout()
                                        .map(l -> ", layout " + l)
                                        .orElse("") + " in C order)");
            }
            n = r.body.length / rowBytes;
            if (n > maxRows) {
                throw new HttpError(
                        413,
                        "too_many_rows",
                        "more than " + maxRows + " rows in one request; split the batch (--max-rows)");
            }
            // A view of the body, read where it is: half of what a request allocated was this copy.
            rows = ByteBuffer.wrap(r.body).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        }
        String accept = r.header("Accept");
        boolean binary = accept != null && accept.toLowerCase(Locale.ROOT).contains(Reply.BINARY);
        return predict(model, rows, n)
                .thenApply(out -> binary ? binaryV1(out) : Reply.json(200, JsonCodec.prediction(out, model.info)));
    }

    private static Reply binaryV1(Prediction out) {
        float[] probs = out.flatProbabilities();
        ByteBuffer buf = ByteBuffer.allocate(probs.length * Float.BYTES + out.rows() * Integer.BYTES)
                .order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(probs);
        buf.position(probs.length * Float.BYTES);
        buf.asIntBuffer().put(out.classes());
        StringBuilder shape = new StringBuilder();
        for (long d : out.rowShape()) {
            shape.append(shape.length() == 0 ? "" : ",").append(d);
        }
        return new Reply(200, Reply.BINARY, buf.array())
                .header("X-Rows", Integer.toString(out.rows()))
                .header("X-Classes", Integer.toString(out.numClasses()))
                .header("X-Output-Shape", shape.toString());
    }
}
