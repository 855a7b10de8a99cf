/*
 * docs/java.md's embedded service and its client: java Main MODEL.onnx ROWS.json serves the model on a free port,
 * posts the rows to /v1/predict and prints "ANSWER <status> <body>".
 */
import ai.dl4jbridge.runtime.OnnxPredictor;
import ai.dl4jbridge.runtime.Predictor;
import ai.dl4jbridge.runtime.service.PredictionServer;
import ai.dl4jbridge.runtime.service.ServiceOptions;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;

public class Main {
    public static void main(String[] args) throws Exception {
        Predictor lenet = OnnxPredictor.builder().setModel(Path.of(args[0])).build();
        try (PredictionServer server = PredictionServer.start(lenet, ServiceOptions.defaults().batching(32, 500))) {
            HttpClient http = HttpClient.newHttpClient();
            HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/predict"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(Files.readString(Path.of(args[1]))))
                    .build();
            HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
            System.out.println("ANSWER " + response.statusCode() + " " + response.body());
        }
    }
}
