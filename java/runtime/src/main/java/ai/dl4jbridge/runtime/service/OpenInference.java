package ai.dl4jbridge.runtime.service;

import ai.dl4jbridge.runtime.InputChecks;
import ai.dl4jbridge.runtime.Prediction;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The Open Inference Protocol v2 over REST (Triton, KServe, Seldon MLServer): health, server and model
 * metadata, readiness, the repository index, and infer with JSON tensors or the binary-tensor extension
 * (a JSON header of Inference-Header-Content-Length bytes, then the raw tensors).
 */
final class OpenInference {
    static final String HEADER_LENGTH = "Inference-Header-Content-Length";
    static final String SERVER = "dl4j-bridge";

    private OpenInference() {}

    static CompletableFuture<Reply> dispatch(Router router, Request r, String[] route) {
        String[] parts = r.path.substring(1).split("/", -1);
        if (parts.length == 1) { // /v2
            route[0] = "/v2";
            Router.requireMethod(r, "GET");
            return Router.done(Reply.json(200, serverMetadata()));
        }
        switch (parts[1]) {
            case "health":
                route[0] = "/v2/health";
                Router.requireMethod(r, "GET");
                if (parts.length == 3 && parts[2].equals("live")) {
                    return Router.done(Reply.json(200, JsonCodec.object("live", "true")));
                }
                if (parts.length == 3 && parts[2].equals("ready")) {
                    return Router.done(
                            router.isStopping()
                                    ? Reply.error(503, "the service is shutting down")
                                    : Reply.json(200, JsonCodec.object("ready", "true")));
                }
                break;
            case "repository":
                route[0] = "/v2/repository";
                if (parts.length == 3 && parts[2].equals("index")) {
                    Router.requireMethod(r, "POST");
                    return Router.done(Reply.json(200, index(router)));
                }
                break;
            case "models":
                return model(router, r, parts, route);
            default:
                break;
        }
        route[0] = "/v2";
        throw new HttpError(
                404,
                "not_found",
                "no Open Inference Protocol route "
                        + (r.path.length() > 200 ? r.path.substring(0, 200) + "..." : r.path));
    }

    /** /v2/models/NAME[/versions/V][/ready|/infer] */
    private static CompletableFuture<Reply> model(Router router, Request r, String[] parts, String[] route) {
        route[0] = "/v2/models";
        if (parts.length < 3 || parts[2].isEmpty()) {
            throw new HttpError(404, "not_found", "expected /v2/models/NAME[/versions/VERSION][/ready|/infer]");
        }
        String name = parts[2];
        String version = null;
        int next = 3;
        if (parts.length >= 5 && parts[3].equals("versions")) {
            version = parts[4];
            next = 5;
        }
        String action = parts.length == next ? "" : parts.length == next + 1 ? parts[next] : null;
        if (action == null) {
            throw new HttpError(404, "not_found", "expected /v2/models/NAME[/versions/VERSION][/ready|/infer]");
        }
        switch (action) {
            case "": {
                Router.requireMethod(r, "GET");
                return Router.done(Reply.json(200, modelMetadata(router.model(name, version))));
            }
            case "ready": {
                route[0] = "/v2/models/ready";
                Router.requireMethod(r, "GET");
                ServedModel m = router.model(name, version);
                return Router.done(
                        router.isStopping()
                                ? Reply.error(503, "the service is shutting down")
                                : Reply.json(200, JsonCodec.object("name", m.name, "ready", "true")));
            }
            case "infer": {
                route[0] = "/v2/models/infer";
                Router.requireMethod(r, "POST");
                return infer(router, router.model(name, version), r);
            }
            default:
                throw new HttpError(404, "not_found", "expected /v2/models/NAME[/versions/VERSION][/ready|/infer]");
        }
    }

    static byte[] serverMetadata() {
        ObjectNode o = Tensors.NODES.objectNode();
        o.put("name", SERVER);
        o.put("version", ServiceOptions.VERSION);
        o.putArray("extensions").add("binary_tensor_data").add("model_repository");
        return Tensors.write(o);
    }

    static byte[] index(Router router) {
        ArrayNode a = Tensors.NODES.arrayNode();
        for (ServedModel m : router.models().values()) {
            a.addObject()
                    .put("name", m.name)
                    .put("version", m.version)
                    .put("state", "READY")
                    .put("reason", "");
        }
        return Tensors.write(a);
    }

    static byte[] modelMetadata(ServedModel m) {
        ObjectNode o = Tensors.NODES.objectNode();
        o.put("name", m.name);
        o.putArray("versions").add(m.version);
        o.put("platform", "onnxruntime_onnx");
        ObjectNode in = o.putArray("inputs").addObject();
        in.put("name", m.info.inputName()).put("datatype", "FP32");
        ArrayNode inShape = in.putArray("shape");
        Arrays.stream(m.info.inputShape()).forEach(inShape::add);
        ObjectNode out = o.putArray("outputs").addObject();
        out.put("name", m.info.outputName()).put("datatype", "FP32");
        ArrayNode outShape = out.putArray("shape");
        Arrays.stream(m.info.outputShape()).forEach(outShape::add);
        return Tensors.write(o);
    }

    /** One parsed infer request: the rows, the id to echo, and whether the output goes back binary. */
    static final class InferRequest {
        float[] rows;
        int n;
        String id;
        boolean binaryOutput;
    }

    static CompletableFuture<Reply> infer(Router router, ServedModel m, Request r) {
        InferRequest req = parse(m, r.body, r.header(HEADER_LENGTH), router.maxRows());
        return router.predict(m, req.rows, req.n).thenApply(out -> reply(m, req, out));
    }

    static InferRequest parse(ServedModel m, byte[] body, String headerLength, int maxRows) {
        int jsonLength = body.length;
        if (headerLength != null) {
            try {
                jsonLength = Integer.parseInt(headerLength.trim());
            } catch (NumberFormatException e) {
                jsonLength = -1;
            }
            if (jsonLength < 0 || jsonLength > body.length) {
                throw JsonCodec.bad(
                        HEADER_LENGTH + " must be an integer in [0, " + body.length + "] (the body's length)");
            }
        }
        JsonNode header = Tensors.object(body, 0, jsonLength, "the inference request");
        InferRequest req = new InferRequest();
        JsonNode id = header.get("id");
        req.id = id != null && id.isTextual() ? id.asText() : null;
        JsonNode inputs = header.get("inputs");
        if (inputs == null || !inputs.isArray() || inputs.size() != 1) {
            throw JsonCodec.bad("\"inputs\" must be an array of exactly one tensor: this model's input '"
                    + m.info.inputName() + "'");
        }
        JsonNode input = inputs.get(0);
        String name = input.path("name").asText("");
        long[] shape = shape(input.get("shape"), name);
        req.n = checkInput(m, name, input.path("datatype").asText(""), shape, maxRows);
        int count = req.n * m.info.inputSize();
        JsonNode binarySize = input.path("parameters").get("binary_data_size");
        if (binarySize != null && input.has("data")) {
            throw JsonCodec.bad("input '" + name + "' has both \"data\" and parameters.binary_data_size; send its"
                    + " values one way");
        }
        if (binarySize != null) {
            long expected = (long) count * Float.BYTES;
            if (!binarySize.canConvertToLong()
                    || binarySize.asLong() != expected
                    || body.length - jsonLength != expected) {
                throw JsonCodec.bad("input '" + name + "': binary_data_size " + binarySize + " and the "
                        + (body.length - jsonLength) + " bytes after the JSON header must both be " + expected
                        + " (shape " + Arrays.toString(shape) + " of FP32)");
            }
            req.rows = new float[count];
            ByteBuffer.wrap(body, jsonLength, (int) expected)
                    .order(ByteOrder.LITTLE_ENDIAN)
                    .asFloatBuffer()
                    .get(req.rows);
        } else {
            JsonNode data = input.get("data");
            if (data == null) {
                throw JsonCodec.bad("input '" + name + "' has neither \"data\" nor parameters.binary_data_size");
            }
            List<Long> dims = new ArrayList<>();
            req.rows = Tensors.flatten(data, dims, "input '" + name + "' data");
            if (req.rows.length != count) {
                throw JsonCodec.bad("input '" + name + "' data has " + req.rows.length + " values; shape "
                        + Arrays.toString(shape) + " needs " + count);
            }
        }
        req.binaryOutput = header.path("parameters").path("binary_data_output").asBoolean(false);
        JsonNode outputs = header.get("outputs");
        if (outputs != null && outputs.isArray()) {
            for (JsonNode o : outputs) {
                String out = o.path("name").asText("");
                if (!out.equals(m.info.outputName())) {
                    throw JsonCodec.bad("unknown output '" + truncate(out) + "': model '" + m.name + "' has output '"
                            + m.info.outputName() + "'");
                }
                if (o.path("parameters").has("classification")) {
                    throw JsonCodec.bad("the classification extension is not supported; ask for the output tensor");
                }
                JsonNode binary = o.path("parameters").get("binary_data");
                if (binary != null) {
                    req.binaryOutput = binary.asBoolean(false);
                }
            }
        }
        return req;
    }

    /** Checks one input tensor's name, datatype and shape against the model; returns its rows n. */
    static int checkInput(ServedModel m, String name, String datatype, long[] shape, int maxRows) {
        if (!name.equals(m.info.inputName())) {
            throw JsonCodec.bad("unknown input '" + truncate(name) + "': model '" + m.name + "' has input '"
                    + m.info.inputName() + "'");
        }
        if (!datatype.equals("FP32")) {
            throw JsonCodec.bad(
                    "input '" + name + "' has datatype '" + truncate(datatype) + "'; this model takes FP32");
        }
        long[] rowShape = m.rowShape();
        String problem =
                shape.length < 2 ? "" : InputChecks.exampleProblem(Arrays.copyOfRange(shape, 1, shape.length), m.info);
        if (problem != null || shape[0] < 1) {
            throw JsonCodec.bad("input '" + name + "' has shape " + Arrays.toString(shape) + "; model '" + m.name
                    + "' takes [n, " + Arrays.toString(rowShape).replaceAll("[\\[\\]]", "") + "] with n >= 1"
                    + m.flatRowsNote() + (problem == null ? "" : problem));
        }
        if (shape[0] > maxRows) {
            throw new HttpError(
                    413,
                    "too_many_rows",
                    "more than " + maxRows + " rows in one request; split the batch (--max-rows)");
        }
        return (int) shape[0];
    }

    private static long[] shape(JsonNode node, String input) {
        if (node == null || !node.isArray() || node.size() == 0 || node.size() > 16) {
            throw JsonCodec.bad("input '" + input + "' needs \"shape\": an array of 1 to 16 integers");
        }
        long[] shape = new long[node.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = node.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong()) {
                throw JsonCodec.bad("input '" + input + "' shape " + node + " must hold integers");
            }
            shape[i] = d.asLong();
        }
        return shape;
    }

    private static String truncate(String s) {
        return s.length() > 64 ? s.substring(0, 64) + "..." : s;
    }

    static Reply reply(ServedModel m, InferRequest req, Prediction out) {
        ObjectNode o = Tensors.NODES.objectNode();
        o.put("model_name", m.name);
        o.put("model_version", m.version);
        if (req.id != null) {
            o.put("id", req.id);
        }
        ObjectNode tensor = o.putArray("outputs").addObject();
        tensor.put("name", m.info.outputName()).put("datatype", "FP32");
        ArrayNode shape = tensor.putArray("shape");
        shape.add(out.rows());
        Arrays.stream(out.rowShape()).forEach(shape::add);
        float[] values = out.flatProbabilities();
        if (!req.binaryOutput) {
            ArrayNode data = tensor.putArray("data");
            for (float v : values) {
                data.add(v);
            }
            return Reply.json(200, Tensors.write(o));
        }
        tensor.putObject("parameters").put("binary_data_size", values.length * Float.BYTES);
        byte[] json = Tensors.write(o);
        ByteBuffer body =
                ByteBuffer.allocate(json.length + values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        body.put(json);
        body.asFloatBuffer().put(values);
        return new Reply(200, Reply.BINARY, body.array()).header(HEADER_LENGTH, Integer.toString(json.length));
    }

    static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
