package ai.dl4jbridge.runtime.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.dl4jbridge.runtime.OnnxPredictor;
import ai.dl4jbridge.runtime.TinyModel;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The service over real HTTP on 127.0.0.1 (ephemeral port), with the tiny model. */
class PredictionServerTest {
    private static final int MAX_BODY = 64 * 1024;
    private static PredictionServer server;
    private static HttpClient client;
    private static String base;

    @BeforeAll
    static void start() {
        server = PredictionServer.start(
                OnnxPredictor.builder().setModel(TinyModel.path()).build(),
                ServiceOptions.defaults().threads(4).maxBody(MAX_BODY).maxRows(16));
        base = "http://127.0.0.1:" + server.port();
        client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static String json(float[][] rows) {
        return "{\"inputs\": ["
                + Arrays.stream(rows)
                        .map(r -> {
                            StringBuilder sb = new StringBuilder("[");
                            for (int i = 0; i < r.length; i++) {
                                sb.append(i == 0 ? "" : ",").append(r[i]);
                            }
                            return sb.append(']').toString();
                        })
                        .collect(Collectors.joining(","))
                + "]}";
    }

    static HttpResponse<byte[]> post(String type, byte[] body, String accept) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + "/v1/predict"))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (type != null) {
            b.header("Content-Type", type);
        }
        if (accept != null) {
            b.header("Accept", accept);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    static HttpResponse<String> get(String path) throws Exception {
        return client.send(
                HttpRequest.newBuilder(URI.create(base + path)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Probabilities parsed from the JSON response without a JSON library: the numbers after "probabilities". */
    static double[] probabilities(String body) {
        String inner = body.substring(body.indexOf("\"probabilities\":[") + 17, body.indexOf("],\"classes\""));
        return Arrays.stream(inner.replace("[", "").replace("]", "").split(","))
                .mapToDouble(Double::parseDouble)
                .toArray();
    }

    @Test
    void jsonPredictMatchesIndependentComputation() throws Exception {
        float[][] x = TinyModel.inputs(3, 42);
        HttpResponse<byte[]> r = post("application/json", json(x).getBytes(), null);
        String body = new String(r.body());
        assertEquals(200, r.statusCode(), body);
        double[] probs = probabilities(body);
        assertEquals(3 * 10, probs.length);
        for (int row = 0; row < 3; row++) {
            double[] expected = TinyModel.expected(x[row]);
            for (int j = 0; j < 10; j++) {
                assertEquals(expected[j], probs[row * 10 + j], 1e-5, "row " + row + " class " + j);
            }
        }
        assertTrue(body.contains("\"labels\":[\""), body);
    }

    @Test
    void binaryInBinaryOut() throws Exception {
        float[][] x = TinyModel.inputs(4, 7);
        ByteBuffer in = ByteBuffer.allocate(4 * 784 * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float[] row : x) {
            for (float v : row) {
                in.putFloat(v);
            }
        }
        HttpResponse<byte[]> r = post("application/octet-stream", in.array(), "application/octet-stream");
        assertEquals(200, r.statusCode());
        assertEquals("4", r.headers().firstValue("X-Rows").orElse(null));
        assertEquals("10", r.headers().firstValue("X-Classes").orElse(null));
        ByteBuffer out = ByteBuffer.wrap(r.body()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(4 * 10 * 4 + 4 * 4, r.body().length);
        for (int row = 0; row < 4; row++) {
            double[] expected = TinyModel.expected(x[row]);
            for (int j = 0; j < 10; j++) {
                assertEquals(expected[j], out.getFloat(), 1e-5);
            }
        }
        HttpResponse<byte[]> asJson = post("application/octet-stream", in.array(), null);
        assertEquals(200, asJson.statusCode());
        assertTrue(new String(asJson.body()).startsWith("{\"probabilities\":[["));
    }

    @Test
    void modelHealthAndMetrics() throws Exception {
        HttpResponse<String> model = get("/v1/model");
        assertEquals(200, model.statusCode());
        assertTrue(
                model.body().contains("\"name\":\"tiny\"")
                        && model.body().contains("\"shape\":[-1,784]")
                        && model.body().contains("\"provider\":\"cpu\""),
                model.body());
        assertEquals(200, get("/health").statusCode());
        post("application/json", json(TinyModel.inputs(1, 1)).getBytes(), null);
        HttpResponse<String> metrics = get("/metrics");
        assertEquals(200, metrics.statusCode());
        assertTrue(metrics.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"));
        for (String name : new String[] {
            "dl4jbridge_requests_total{code=\"200\",method=\"POST\",route=\"/v1/predict\"}",
            "dl4jbridge_predict_duration_seconds_bucket{model=\"tiny\",le=\"+Inf\"}",
            "dl4jbridge_predict_duration_seconds_count{model=\"tiny\"}",
            "dl4jbridge_model_info{engine=\"onnxruntime",
            "jvm_memory_used_bytes{area=\"heap\"}",
            "process_open_fds "
        }) {
            assertTrue(metrics.body().contains(name), name + " missing from\n" + metrics.body());
        }
    }

    static Stream<Arguments> badRequests() {
        String row783 = "[" + IntStream.range(0, 783).mapToObj(i -> "0").collect(Collectors.joining(",")) + "]";
        String rowNan = "[NaN" + IntStream.range(1, 784).mapToObj(i -> ",0").collect(Collectors.joining()) + "]";
        String rowStr = "[\"x\"" + IntStream.range(1, 784).mapToObj(i -> ",0").collect(Collectors.joining()) + "]";
        String row784 = "[" + IntStream.range(0, 784).mapToObj(i -> "0").collect(Collectors.joining(",")) + "]";
        String seventeen = IntStream.range(0, 17).mapToObj(i -> row784).collect(Collectors.joining(","));
        return Stream.of(
                Arguments.of("malformed JSON", "application/json", "{\"inputs\": [[1,2", 400),
                Arguments.of("not an object", "application/json", "[1,2,3]", 400),
                Arguments.of("missing inputs", "application/json", "{\"input\": []}", 400),
                Arguments.of("empty inputs", "application/json", "{\"inputs\": []}", 400),
                Arguments.of("wrong row length", "application/json", "{\"inputs\": [" + row783 + "]}", 400),
                Arguments.of("NaN refused", "application/json", "{\"inputs\": [" + rowNan + "]}", 400),
                Arguments.of("string in row", "application/json", "{\"inputs\": [" + rowStr + "]}", 400),
                Arguments.of("too many rows", "application/json", "{\"inputs\": [" + seventeen + "]}", 413),
                Arguments.of("oversized body", "application/json", "{\"inputs\": [" + " ".repeat(MAX_BODY) + "]}", 413),
                Arguments.of("wrong content type", "text/plain", "{\"inputs\": [" + row784 + "]}", 415),
                Arguments.of("no content type", null, "{\"inputs\": [" + row784 + "]}", 415),
                Arguments.of("binary not a multiple of a row", "application/octet-stream", "abc", 400),
                Arguments.of("empty binary", "application/octet-stream", "", 400));
    }

    @ParameterizedTest(name = "{0} -> {3}")
    @MethodSource("badRequests")
    void badRequestsGetJson4xx(String what, String type, String body, int status) throws Exception {
        HttpResponse<byte[]> r = post(type, body.getBytes(), null);
        assertJsonError(r.statusCode(), new String(r.body()), status);
        assertEquals(200, get("/health").statusCode(), "service must stay up after: " + what);
    }

    @Test
    void wrongMethodAndPath() throws Exception {
        HttpResponse<String> r = get("/v1/predict");
        assertJsonError(r.statusCode(), r.body(), 405);
        assertEquals("POST", r.headers().firstValue("Allow").orElse(null));
        r = get("/nope");
        assertJsonError(r.statusCode(), r.body(), 404);
        r = client.send(
                HttpRequest.newBuilder(URI.create(base + "/health")).DELETE().build(),
                HttpResponse.BodyHandlers.ofString());
        assertJsonError(r.statusCode(), r.body(), 405);
    }

    @Test
    void closeDrainsThenStopsListeningAndFreesTheModel() throws Exception {
        OnnxPredictor predictor =
                OnnxPredictor.builder().setModel(TinyModel.path()).build();
        PredictionServer other =
                PredictionServer.start(predictor, ServiceOptions.defaults().threads(2));
        URI health = URI.create("http://127.0.0.1:" + other.port() + "/health");
        assertEquals(
                200,
                client.send(HttpRequest.newBuilder(health).build(), HttpResponse.BodyHandlers.ofString())
                        .statusCode());
        long t0 = System.nanoTime();
        other.close();
        other.close(); // idempotent
        assertTrue(System.nanoTime() - t0 < 3_000_000_000L, "close() of an idle server must not wait out the grace");
        HttpClient fresh = HttpClient.newHttpClient();
        assertThrowsIo(() -> fresh.send(HttpRequest.newBuilder(health).build(), HttpResponse.BodyHandlers.ofString()));
        org.junit.jupiter.api.Assertions.assertThrows(
                IllegalStateException.class, () -> predictor.predict(new float[784]));
    }

    @Test
    void overloadGets503NotADroppedConnection() throws Exception {
        try (PredictionServer small = PredictionServer.start(
                OnnxPredictor.builder().setModel(TinyModel.path()).build(),
                ServiceOptions.defaults().threads(1).queue(1))) {
            // One row per request: a body the server can discard unread (bodies over 64 KiB that are refused
            // unread get "Connection: close", and a client still uploading may see a reset instead).
            byte[] body = json(TinyModel.inputs(1, 9)).getBytes();
            HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + small.port() + "/v1/predict"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                    .build();
            java.util.List<java.util.concurrent.CompletableFuture<HttpResponse<String>>> calls =
                    new java.util.ArrayList<>();
            for (int i = 0; i < 48; i++) {
                calls.add(client.sendAsync(request, HttpResponse.BodyHandlers.ofString()));
            }
            java.util.Map<Integer, Integer> statuses = new java.util.TreeMap<>();
            for (java.util.concurrent.CompletableFuture<HttpResponse<String>> call : calls) {
                HttpResponse<String> r = call.get();
                statuses.merge(r.statusCode(), 1, Integer::sum);
                if (r.statusCode() == 503) {
                    assertEquals("1", r.headers().firstValue("Retry-After").orElse(null));
                    assertTrue(r.body().contains("at capacity"), r.body());
                }
            }
            assertTrue(statuses.keySet().stream().allMatch(code -> code == 200 || code == 503), statuses::toString);
            assertTrue(statuses.getOrDefault(200, 0) > 0, statuses::toString);
        }
    }

    private interface IoCall {
        void run() throws Exception;
    }

    private static void assertThrowsIo(IoCall call) {
        try {
            call.run();
        } catch (java.io.IOException expected) {
            return;
        } catch (Exception e) {
            throw new AssertionError("expected an IOException (connection refused), got " + e, e);
        }
        throw new AssertionError("the server still answers after close()");
    }

    private static void assertJsonError(int actual, String body, int expected) {
        assertEquals(expected, actual, body);
        assertTrue(body.startsWith("{\"error\":\""), body);
        assertFalse(
                body.contains("Exception") || body.contains("\tat ") || body.contains(".java:"),
                "no stack trace may reach a client: " + body);
    }
}
