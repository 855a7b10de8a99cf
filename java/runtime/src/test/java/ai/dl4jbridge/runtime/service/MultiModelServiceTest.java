package ai.dl4jbridge.runtime.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.dl4jbridge.runtime.ImageModel;
import ai.dl4jbridge.runtime.OnnxPredictor;
import ai.dl4jbridge.runtime.Predictor;
import ai.dl4jbridge.runtime.TinyModel;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Two models embedded in one server, with dynamic batching: the v2 API, the repository index, batched answers. */
class MultiModelServiceTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static PredictionServer server;
    private static HttpClient client;
    private static String base;

    @BeforeAll
    static void start() {
        Map<String, Predictor> models = new LinkedHashMap<>();
        models.put("tiny", OnnxPredictor.builder().setModel(TinyModel.path()).build());
        models.put("image", OnnxPredictor.builder().setModel(ImageModel.path()).build());
        server = PredictionServer.start(
                models, ServiceOptions.defaults().threads(2).batching(8, 2000).batchRunners(2));
        base = "http://127.0.0.1:" + server.port();
        client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static JsonNode call(String method, String path, String body, int status) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path));
        b = body == null
                ? b.method(method, HttpRequest.BodyPublishers.noBody())
                : b.header("Content-Type", "application/json")
                        .method(method, HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> r = client.send(b.build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(status, r.statusCode(), r.body());
        return r.body().isEmpty() ? null : JSON.readTree(r.body());
    }

    private static String inferBody(float[] row) {
        StringBuilder data = new StringBuilder();
        for (float v : row) {
            data.append(data.length() == 0 ? "" : ",").append(v);
        }
        return "{\"id\": \"x\", \"inputs\": [{\"name\": \"input\", \"shape\": [1, 784], \"datatype\": \"FP32\", \"data\": ["
                + data + "]}]}";
    }

    @Test
    void repositoryAndMetadataNameBothModels() throws Exception {
        JsonNode index = call("POST", "/v2/repository/index", null, 200);
        assertEquals(2, index.size());
        assertEquals("tiny", index.get(0).get("name").asText());
        assertEquals("image", index.get(1).get("name").asText());
        JsonNode image = call("GET", "/v2/models/image", null, 200);
        assertEquals("[-1,3,8,8]", image.get("inputs").get(0).get("shape").toString());
        assertEquals("[-1,1,8,8]", image.get("outputs").get(0).get("shape").toString());
        call("GET", "/v2/models/tiny/ready", null, 200);
        call("GET", "/v2/models/nope/ready", null, 404);
        assertEquals(List.of("tiny", "image"), server.modelNames());
    }

    @Test
    void concurrentSingleRowsThroughTheBatcherGetTheirOwnAnswers() throws Exception {
        float[][] x = TinyModel.inputs(64, 11);
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try {
            List<Future<JsonNode>> answers = new ArrayList<>();
            for (float[] row : x) {
                answers.add(pool.submit(() -> call("POST", "/v2/models/tiny/infer", inferBody(row), 200)));
            }
            for (int i = 0; i < x.length; i++) {
                JsonNode out = answers.get(i).get();
                assertEquals("x", out.get("id").asText());
                assertEquals("[1,10]", out.get("outputs").get(0).get("shape").toString());
                double[] expected = TinyModel.expected(x[i]);
                JsonNode data = out.get("outputs").get(0).get("data");
                for (int j = 0; j < 10; j++) {
                    assertEquals(expected[j], data.get(j).asDouble(), 1e-5, "row " + i + " class " + j);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        String metrics = client.send(
                        HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
                        HttpResponse.BodyHandlers.ofString())
                .body();
        assertTrue(metrics.contains("dl4jbridge_batch_rows_count{model=\"tiny\"}"), metrics);
    }

    @Test
    void badV2RequestsAre4xx() throws Exception {
        call(
                "POST",
                "/v2/models/tiny/infer",
                "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 3], \"datatype\": \"FP32\","
                        + " \"data\": [1, 2, 3]}]}",
                400);
        call("POST", "/v2/models/tiny/infer", "{\"inputs\": [", 400);
        call("POST", "/v2/models/tiny/versions/2/infer", inferBody(new float[784]), 404);
        call("GET", "/v2/models/tiny/infer", null, 405);
    }
}
