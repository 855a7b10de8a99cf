package ai.dl4jbridge.runtime.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.dl4jbridge.runtime.ImageModel;
import ai.dl4jbridge.runtime.OnnxPredictor;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The service with an image-shaped model: [N, 3, 8, 8] in (flat or nested JSON rows, binary), [N, 1, 8, 8] out. */
class ImageServiceTest {
    private static PredictionServer server;
    private static HttpClient client;
    private static String base;

    @BeforeAll
    static void start() {
        server = PredictionServer.start(
                OnnxPredictor.builder().setModel(ImageModel.path()).build(),
                ServiceOptions.defaults().threads(2).maxRows(16));
        base = "http://127.0.0.1:" + server.port();
        client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static HttpResponse<byte[]> post(String type, byte[] body, String accept) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + "/v1/predict"))
                .header("Content-Type", type)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (accept != null) {
            b.header("Accept", accept);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    /** JSON rows of one image each, nested [C][H][W] (channelsLast: [H][W][C]) or flat. */
    static String json(float[] x, int n, boolean nested, boolean channelsLast) {
        float[] data = channelsLast ? ImageModel.toNhwc(x, n) : x;
        int[] dims = channelsLast ? new int[] {8, 8, 3} : new int[] {3, 8, 8};
        StringBuilder sb = new StringBuilder("{\"inputs\": [");
        for (int r = 0; r < n; r++) {
            sb.append(r == 0 ? "" : ",").append('[');
            for (int i = 0; i < ImageModel.IN; i++) {
                int inner = dims[2];
                int middle = dims[1] * dims[2];
                if (nested && i > 0 && i % inner == 0) {
                    sb.append(i % middle == 0 ? "]],[[" : "],[");
                } else if (i > 0) {
                    sb.append(',');
                }
                if (nested && i == 0) {
                    sb.append("[[");
                }
                sb.append(data[r * ImageModel.IN + i]);
            }
            sb.append(nested ? "]]]" : "]");
        }
        return sb.append("]}").toString();
    }

    /** The numbers of a JSON response's "outputs", in order. */
    static double[] outputs(String body) {
        String inner = body.substring(body.indexOf("\"outputs\":[") + 11, body.indexOf(",\"shape\""));
        return Arrays.stream(inner.replace("[", "").replace("]", "").split(","))
                .mapToDouble(Double::parseDouble)
                .toArray();
    }

    static void assertClose(double[] expected, double[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": values");
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-5, what + ": value " + i);
        }
    }

    @Test
    void nestedAndFlatJsonRowsGiveNestedOutputs() throws Exception {
        float[] x = ImageModel.images(2, 5);
        double[] expected = ImageModel.expected(x, 2);
        for (boolean nested : new boolean[] {true, false}) {
            HttpResponse<byte[]> r =
                    post("application/json", json(x, 2, nested, false).getBytes(), null);
            String body = new String(r.body());
            assertEquals(200, r.statusCode(), body);
            assertTrue(body.startsWith("{\"outputs\":[[[["), body.substring(0, 40));
            assertTrue(body.endsWith("\"shape\":[2,1,8,8]}"), body.substring(body.length() - 40));
            assertClose(expected, outputs(body), nested ? "nested rows" : "flat rows");
        }
    }

    @Test
    void channelsLastRowsGet400NamingTheShape() throws Exception {
        HttpResponse<byte[]> r = post(
                "application/json", json(ImageModel.images(1, 2), 1, true, true).getBytes(), null);
        String body = new String(r.body());
        assertEquals(400, r.statusCode(), body);
        assertTrue(body.contains("axis 3 has 3 entries, expected 8") && body.contains("[3][8][8]"), body);
        assertTrue(body.contains("row 0 has shape [8, 8, 3]") && body.contains("x.transpose(0, 3, 1, 2)"), body);
    }

    @Test
    void binaryRowsGetTheOutputShapeHeader() throws Exception {
        float[] x = ImageModel.images(3, 9);
        ByteBuffer in = ByteBuffer.allocate(x.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        in.asFloatBuffer().put(x);
        HttpResponse<byte[]> r = post("application/octet-stream", in.array(), "application/octet-stream");
        assertEquals(200, r.statusCode());
        assertEquals("1,8,8", r.headers().firstValue("X-Output-Shape").orElse(null));
        assertEquals("64", r.headers().firstValue("X-Classes").orElse(null));
        assertEquals(3 * 64 * 4 + 3 * 4, r.body().length);
        ByteBuffer out = ByteBuffer.wrap(r.body()).order(ByteOrder.LITTLE_ENDIAN);
        double[] actual = new double[3 * 64];
        for (int i = 0; i < actual.length; i++) {
            actual[i] = out.getFloat();
        }
        assertClose(ImageModel.expected(x, 3), actual, "binary");
        HttpResponse<byte[]> wrong = post("application/octet-stream", new byte[4 * 100], null);
        assertEquals(400, wrong.statusCode());
        assertTrue(
                new String(wrong.body()).contains("rows of 192 little-endian float32, shape [3, 8, 8]"),
                new String(wrong.body()));
    }

    @Test
    void modelReportsInputAndOutputShapes() throws Exception {
        String body = client.send(
                        HttpRequest.newBuilder(URI.create(base + "/v1/model")).build(),
                        HttpResponse.BodyHandlers.ofString())
                .body();
        assertTrue(body.contains("\"input\":{\"name\":\"input\",\"shape\":[-1,3,8,8],\"size\":192"), body);
        assertTrue(body.contains("\"layout\":\"NCHW [N,3,8,8]\""), body);
        assertTrue(body.contains("\"output\":{\"name\":\"output\",\"shape\":[-1,1,8,8],\"size\":64}"), body);
    }
}
