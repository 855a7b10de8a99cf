package ai.dl4jbridge.runtime.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * TensorFlow Serving's REST API: {@code POST /v1/models/NAME[/versions/V]:predict} with the row form
 * ({"instances": [example, ...]} answered {"predictions": [...]}) or the columnar form ({"inputs": tensor}
 * answered {"outputs": tensor}); an example or tensor may also be given by input name ({"input": ...}).
 * {@code GET /v1/models/NAME[/versions/V]} gives the model's status.
 */
final class TfServing {
    private TfServing() {}

    static CompletableFuture<Reply> dispatch(Router router, Request r, String[] route) {
        String rest = r.path.substring("/v1/models/".length());
        boolean predict = rest.endsWith(":predict");
        if (predict) {
            rest = rest.substring(0, rest.length() - ":predict".length());
        }
        boolean metadata = !predict && rest.endsWith("/metadata");
        if (metadata) {
            rest = rest.substring(0, rest.length() - "/metadata".length());
        }
        String[] parts = rest.split("/", -1);
        String version = null;
        if (parts.length == 3 && parts[1].equals("versions")) {
            version = parts[2];
        } else if (parts.length != 1) {
            route[0] = "/v1/models";
            throw new HttpError(404, "not_found", "expected /v1/models/NAME[/versions/VERSION][:predict or /metadata]");
        }
        ServedModel m;
        if (predict) {
            route[0] = "/v1/models:predict";
            Router.requireMethod(r, "POST");
            m = router.model(parts[0], version);
            return predict(router, m, r);
        }
        if (metadata) {
            route[0] = "/v1/models/metadata";
            Router.requireMethod(r, "GET");
            return Router.done(Reply.json(200, Tensors.write(metadata(router.model(parts[0], version)))));
        }
        route[0] = "/v1/models";
        Router.requireMethod(r, "GET");
        m = router.model(parts[0], version);
        ObjectNode status = Tensors.NODES.objectNode();
        ObjectNode v = status.putArray("model_version_status").addObject();
        v.put("version", m.version).put("state", router.isStopping() ? "END" : "AVAILABLE");
        v.putObject("status").put("error_code", "OK").put("error_message", "");
        return Router.done(Reply.json(200, Tensors.write(status)));
    }

    /**
     * TF Serving's GetModelMetadata answer: the "serving_default" signature with the model's input and output, their
     * shapes with -1 for the batch ([-1, 3, 32, 32] for an image input).
     */
    private static ObjectNode metadata(ServedModel m) {
        ObjectNode answer = Tensors.NODES.objectNode();
        answer.putObject("model_spec")
                .put("name", m.name)
                .put("signature_name", "")
                .put("version", m.version);
        ObjectNode signature = answer.putObject("metadata")
                .putObject("signature_def")
                .putObject("signature_def")
                .putObject("serving_default");
        tensorInfo(signature.putObject("inputs"), m.info.inputName(), m.info.inputShape());
        tensorInfo(signature.putObject("outputs"), m.info.outputName(), m.info.outputShape());
        signature.put("method_name", "tensorflow/serving/predict");
        return answer;
    }

    private static void tensorInfo(ObjectNode parent, String name, long[] shape) {
        ObjectNode tensor = parent.putObject(name);
        tensor.put("dtype", "DT_FLOAT").put("name", name);
        ObjectNode tensorShape = tensor.putObject("tensor_shape");
        ArrayNode dims = tensorShape.putArray("dim");
        for (long d : shape) {
            dims.addObject().put("size", Long.toString(d)).put("name", "");
        }
        tensorShape.put("unknown_rank", false);
    }

    private static CompletableFuture<Reply> predict(Router router, ServedModel m, Request r) {
        JsonNode body = Tensors.object(r.body, 0, r.body.length, "the predict request");
        JsonNode instances = body.get("instances");
        JsonNode inputs = body.get("inputs");
        if ((instances == null) == (inputs == null)) {
            throw JsonCodec.bad(
                    "give exactly one of \"instances\" (a list of examples) or \"inputs\" (a batch tensor)");
        }
        int size = m.info.inputSize();
        float[] rows;
        int n;
        if (instances != null) {
            if (!instances.isArray() || instances.size() == 0) {
                throw JsonCodec.bad("\"instances\" must be a non-empty list of examples");
            }
            n = instances.size();
            if (n > router.maxRows()) {
                throw new HttpError(
                        413,
                        "too_many_rows",
                        "more than " + router.maxRows() + " instances in one request; split the batch");
            }
            rows = new float[n * size];
            List<Long> dims = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                float[] row = Tensors.flatten(named(instances.get(i), m), dims, "instance " + i);
                String problem = m.exampleProblem(dims);
                if (problem != null) {
                    throw JsonCodec.bad("instance " + i + " has " + row.length + " values (shape " + dims + "); model '"
                            + m.name + "' takes " + size + " per example, shape " + Tensors.text(m.rowShape())
                            + m.flatRowsNote() + problem);
                }
                System.arraycopy(row, 0, rows, i * size, size);
            }
        } else {
            List<Long> dims = new ArrayList<>();
            rows = Tensors.flatten(named(inputs, m), dims, "\"inputs\"");
            String problem = dims.size() < 2 ? "" : m.exampleProblem(dims.subList(1, dims.size()));
            if (problem != null || dims.get(0) == 0 || rows.length != dims.get(0) * size) {
                throw JsonCodec.bad("\"inputs\" has shape " + dims + "; model '" + m.name + "' takes [n, "
                        + Tensors.text(m.rowShape()).replaceAll("[\\[\\]]", "") + "] (or [n, " + size + "])"
                        + (problem == null ? "" : problem));
            }
            n = (int) (long) dims.get(0);
        }
        boolean columnar = inputs != null;
        return router.predict(m, rows, n).thenApply(out -> {
            ObjectNode answer = Tensors.NODES.objectNode();
            ArrayNode tensor =
                    Tensors.nested(out.flatProbabilities(), 0, Tensors.withBatch(out.rows(), out.rowShape()), 0);
            answer.set(columnar ? "outputs" : "predictions", tensor);
            return Reply.json(200, Tensors.write(answer));
        });
    }

    /** An example or tensor given by input name ({"input": [...]}) or directly. */
    private static JsonNode named(JsonNode node, ServedModel m) {
        if (!node.isObject()) {
            return node;
        }
        if (node.has("b64") || hasBase64Value(node)) {
            throw JsonCodec.bad("{\"b64\": ...} values (TF Serving's binary strings) are not taken: model '" + m.name
                    + "' takes numbers (FP32), shape " + Tensors.text(m.rowShape())
                    + " per example; decode images to numbers on the client");
        }
        JsonNode v = node.get(m.info.inputName());
        if (v == null || node.size() != 1) {
            throw JsonCodec.bad("named inputs must name exactly this model's input '" + m.info.inputName() + "'");
        }
        return v;
    }

    /** {"image": {"b64": "..."}}: a named input given as a binary string. */
    private static boolean hasBase64Value(JsonNode node) {
        for (JsonNode value : node) {
            if (value.isObject() && value.has("b64")) {
                return true;
            }
        }
        return false;
    }
}
