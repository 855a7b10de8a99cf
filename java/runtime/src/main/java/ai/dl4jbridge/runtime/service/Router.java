package ai.dl4jbridge.runtime.service;

import ai.dl4jbridge.runtime.InvalidInputException;
import ai.dl4jbridge.runtime.ModelInfo;
import ai.dl4jbridge.runtime.Prediction;
import ai.dl4jbridge.runtime.Predictor;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Locale;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Every request goes through here: one handler on "/" so that unknown paths and methods also get a
 * JSON error (the JDK server's own 404 is plain text). Nothing thrown below reaches the client as a
 * stack trace: HttpError and InvalidInputException become 4xx, anything else a logged 500.
 */
final class Router implements HttpHandler {
    static final String JSON = "application/json";
    static final String BINARY = "application/octet-stream";
    private static final Logger LOG = Logger.getLogger(Router.class.getName());
    /** Set while the worker queue is full: the request is answered 503 without reading its body. */
    static final ThreadLocal<Boolean> OVERLOADED = new ThreadLocal<>();
    private static final String BODY_READ = "dl4jbridge.bodyRead";
    private static final String START = "dl4jbridge.start";
    private static final String RECORDED = "dl4jbridge.recorded";

    private final Predictor predictor;
    private final ModelInfo info;
    private final Metrics metrics;
    private final ServiceOptions options;
    private final byte[] modelJson;
    private volatile boolean stopping;

    Router(Predictor predictor, Metrics metrics, ServiceOptions options) {
        this.predictor = predictor;
        this.info = predictor.info();
        this.metrics = metrics;
        this.options = options;
        this.modelJson = JsonCodec.model(info);
    }

    void stopping() {
        stopping = true;
    }

    /** Requests being handled now, this one excluded when called from a handler. */
    long inFlight() {
        return metrics.inFlight.get();
    }

    @Override
    public void handle(HttpExchange ex) {
        ex.setAttribute(START, System.nanoTime());
        metrics.inFlight.incrementAndGet();
        String path = ex.getRequestURI().getPath();
        int status;
        try {
            if (OVERLOADED.get() != null) {
                ex.getResponseHeaders().set("Retry-After", "1");
                throw new HttpError(503, "overloaded", "the service is at capacity (all workers busy, queue full);"
                        + " retry shortly");
            }
            status = dispatch(ex, path);
        } catch (HttpError e) {
            status = error(ex, e.status, e.kind, e.getMessage());
        } catch (InvalidInputException e) {
            status = error(ex, 400, "invalid_input", e.getMessage());
        } catch (RuntimeException | IOException e) {
            LOG.log(Level.WARNING, "request " + ex.getRequestMethod() + " " + path + " failed", e);
            status = error(ex, 500, "internal", "internal error (" + e.getClass().getSimpleName() + "); see the service log");
        } finally {
            metrics.inFlight.decrementAndGet();
            ex.close();
        }
        if (ex.getAttribute(RECORDED) == null) { // no answer could be sent
            record(ex, status);
        }
    }

    /** Counts the request before its answer leaves, so that a client that reads /metrics next sees it. */
    private void record(HttpExchange ex, int status) {
        ex.setAttribute(RECORDED, Boolean.TRUE);
        metrics.request(knownRoute(ex.getRequestURI().getPath()), ex.getRequestMethod(), status,
                System.nanoTime() - (Long) ex.getAttribute(START));
    }

    private int dispatch(HttpExchange ex, String path) throws IOException {
        String method = ex.getRequestMethod();
        switch (path) {
            case "/v1/predict":
                requireMethod(method, "POST");
                if (stopping) {
                    throw new HttpError(503, "stopping", "the service is shutting down; retry on another instance");
                }
                return predict(ex);
            case "/v1/model":
                requireMethod(method, "GET");
                return send(ex, 200, JSON, modelJson);
            case "/health":
                requireMethod(method, "GET");
                return stopping ? send(ex, 503, JSON, JsonCodec.object("status", "stopping"))
                        : send(ex, 200, JSON, JsonCodec.object("status", "ok", "model", info.name()));
            case "/metrics":
                requireMethod(method, "GET");
                return send(ex, 200, "text/plain; version=0.0.4; charset=utf-8",
                        metrics.render().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            default:
                throw new HttpError(404, "not_found", "no route " + path
                        + "; routes: POST /v1/predict, GET /v1/model, GET /health, GET /metrics");
        }
    }

    private int predict(HttpExchange ex) throws IOException {
        String type = mediaType(ex.getRequestHeaders().getFirst("Content-Type"));
        if (!JSON.equals(type) && !BINARY.equals(type)) {
            throw new HttpError(415, "unsupported_media_type", "Content-Type " + (type == null ? "(none)" : type)
                    + " is not supported; send " + JSON + " {\"inputs\": [[...]]} or " + BINARY
                    + " (little-endian float32 rows of " + info.inputSize() + ", " + rowShapeText() + " in C order)");
        }
        byte[] body = readBody(ex);
        Prediction out;
        if (JSON.equals(type)) {
            out = predictor.predict(JsonCodec.parseInputs(body, rowShape(), options.maxRows));
        } else {
            out = predictor.predict(binaryRows(body), body.length / (info.inputSize() * Float.BYTES));
        }
        metrics.rows(out.rows());
        String accept = ex.getRequestHeaders().getFirst("Accept");
        if (accept != null && accept.toLowerCase(Locale.ROOT).contains(BINARY)) {
            ex.getResponseHeaders().set("X-Rows", Integer.toString(out.rows()));
            ex.getResponseHeaders().set("X-Classes", Integer.toString(out.numClasses()));
            ex.getResponseHeaders().set("X-Output-Shape", joined(out.rowShape()));
            return send(ex, 200, BINARY, binaryPrediction(out));
        }
        return send(ex, 200, JSON, JsonCodec.prediction(out, info));
    }

    /** The per-example input shape, e.g. [3, 48, 48]. */
    private long[] rowShape() {
        long[] shape = info.inputShape();
        return java.util.Arrays.copyOfRange(shape, 1, shape.length);
    }

    private String rowShapeText() {
        return "shape " + java.util.Arrays.toString(rowShape()) + info.inputLayout().map(l -> ", layout " + l).orElse("");
    }

    private static String joined(long[] shape) {
        StringBuilder out = new StringBuilder();
        for (long d : shape) {
            out.append(out.length() == 0 ? "" : ",").append(d);
        }
        return out.toString();
    }

    private FloatBuffer binaryRows(byte[] body) {
        int rowBytes = info.inputSize() * Float.BYTES;
        if (body.length == 0 || body.length % rowBytes != 0) {
            throw new HttpError(400, "bad_request", "binary body has " + body.length + " bytes, expected a positive"
                    + " multiple of " + rowBytes + " (rows of " + info.inputSize() + " little-endian float32, "
                    + rowShapeText() + " in C order)");
        }
        if (body.length / rowBytes > options.maxRows) {
            throw new HttpError(413, "too_many_rows", "more than " + options.maxRows + " rows in one request;"
                    + " split the batch (--max-rows)");
        }
        return ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    }

    /**
     * Binary response: float32 LE outputs [rows, X-Classes values] (each row shaped as X-Output-Shape
     * says, C order), then int32 LE classes [rows] (the arg-max of each flattened row).
     */
    private static byte[] binaryPrediction(Prediction out) {
        float[] probs = out.flatProbabilities();
        ByteBuffer buf = ByteBuffer.allocate(probs.length * Float.BYTES + out.rows() * Integer.BYTES)
                .order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(probs);
        buf.position(probs.length * Float.BYTES);
        buf.asIntBuffer().put(out.classes());
        return buf.array();
    }

    private byte[] readBody(HttpExchange ex) throws IOException {
        String length = ex.getRequestHeaders().getFirst("Content-Length");
        if (length != null) {
            long declared;
            try {
                declared = Long.parseLong(length.trim());
            } catch (NumberFormatException e) {
                throw new HttpError(400, "bad_request", "invalid Content-Length: " + length);
            }
            if (declared > options.maxBody) {
                throw tooLarge();
            }
        }
        try (InputStream in = ex.getRequestBody()) {
            byte[] body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, options.maxBody + 1));
            if (body.length > options.maxBody) {
                throw tooLarge();
            }
            ex.setAttribute(BODY_READ, Boolean.TRUE);
            return body;
        }
    }

    private static boolean hasBody(HttpExchange ex) {
        String length = ex.getRequestHeaders().getFirst("Content-Length");
        return ex.getRequestHeaders().containsKey("Transfer-Encoding") || (length != null && !"0".equals(length.trim()));
    }

    private HttpError tooLarge() {
        return new HttpError(413, "body_too_large", "request body is larger than " + options.maxBody
                + " bytes (--max-body); split the batch");
    }

    private static void requireMethod(String method, String allowed) {
        if (!allowed.equals(method)) {
            throw new HttpError(405, "method_not_allowed", "method " + method + " is not allowed here; use " + allowed);
        }
    }

    private static String mediaType(String header) {
        if (header == null) {
            return null;
        }
        int semi = header.indexOf(';');
        return (semi < 0 ? header : header.substring(0, semi)).trim().toLowerCase(Locale.ROOT);
    }

    private static String knownRoute(String path) {
        switch (path) {
            case "/v1/predict":
            case "/v1/model":
            case "/health":
            case "/metrics":
                return path;
            default:
                return "other";
        }
    }

    private int error(HttpExchange ex, int status, String kind, String message) {
        metrics.error(kind);
        if (ex.getAttribute(BODY_READ) == null && hasBody(ex)) {
            // The body is still unread: the JDK server drains 64 KiB at most, then drops the connection
            // without a word, and a client that reuses it sees a reset. Say so, so that it does not.
            ex.getResponseHeaders().set("Connection", "close");
        }
        if (status == 405) {
            ex.getResponseHeaders().set("Allow", allowedFor(ex.getRequestURI().getPath()));
        }
        try {
            return send(ex, status, JSON, JsonCodec.object("error", message));
        } catch (IOException | RuntimeException e) {
            return status; // the client went away, or headers were already sent: nothing more to say
        }
    }

    private static String allowedFor(String path) {
        return "/v1/predict".equals(path) ? "POST" : "GET";
    }

    private int send(HttpExchange ex, int status, String type, byte[] body) throws IOException {
        record(ex, status);
        ex.getResponseHeaders().set("Content-Type", type.startsWith("text/") ? type : type
                + (JSON.equals(type) ? "; charset=utf-8" : ""));
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
        return status;
    }
}
