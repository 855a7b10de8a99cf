package ai.dl4jbridge.runtime.service;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** JSON tensors (nested or flat number arrays) to and from float32, for the v2 and TF Serving protocols. */
final class Tensors {
    static final ObjectMapper JSON = new ObjectMapper(JsonCodec.FACTORY);
    static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private Tensors() {}

    /** Parses {@code length} bytes of {@code body} from {@code offset} as a JSON object. */
    static JsonNode object(byte[] body, int offset, int length, String what) {
        JsonNode node;
        try {
            node = JSON.readTree(body, offset, length);
        } catch (JsonProcessingException e) {
            throw JsonCodec.bad("malformed JSON in " + what + ": " + e.getOriginalMessage());
        } catch (IOException e) {
            throw JsonCodec.bad(what + " is not JSON text (" + e.getMessage() + ")");
        }
        if (node == null || !node.isObject()) {
            throw JsonCodec.bad(what + " must be a JSON object");
        }
        return node;
    }

    /** A nested (rectangular) or flat array of numbers; {@code dims} receives its shape. */
    static float[] flatten(JsonNode node, List<Long> dims, String what) {
        dims.clear();
        for (JsonNode n = node; n.isArray(); n = n.size() > 0 ? n.get(0) : NODES.nullNode()) {
            dims.add((long) n.size());
            if (n.size() == 0) {
                break;
            }
        }
        if (!node.isArray()) {
            throw JsonCodec.bad(what + " must be an array of numbers");
        }
        long total = 1;
        for (long d : dims) {
            total *= d;
        }
        if (total > Integer.MAX_VALUE / 2) {
            throw JsonCodec.bad(what + " is too large");
        }
        float[] out = new float[(int) total];
        int[] pos = {0};
        fill(node, dims, 0, out, pos, what);
        return out;
    }

    private static void fill(JsonNode node, List<Long> dims, int axis, float[] out, int[] pos, String what) {
        if (axis == dims.size()) {
            if (!node.isNumber()) {
                throw JsonCodec.bad(what + ": expected a number at flat position " + pos[0] + ", found "
                        + (node.isTextual()
                                ? "a string"
                                : node.getNodeType().name().toLowerCase(java.util.Locale.ROOT)));
            }
            out[pos[0]++] = node.floatValue();
            return;
        }
        if (!node.isArray() || node.size() != dims.get(axis)) {
            throw JsonCodec.bad(what + " is not rectangular: axis " + axis + " should have " + dims.get(axis)
                    + " entries everywhere (shape " + dims + ")");
        }
        for (JsonNode child : node) {
            fill(child, dims, axis + 1, out, pos, what);
        }
    }

    /** {@code values} nested as {@code shape} (C order). */
    static ArrayNode nested(float[] values, int offset, long[] shape, int axis) {
        ArrayNode array = NODES.arrayNode((int) shape[axis]);
        long stride = 1;
        for (int i = axis + 1; i < shape.length; i++) {
            stride *= shape[i];
        }
        for (int i = 0; i < shape[axis]; i++) {
            if (axis == shape.length - 1) {
                array.add(values[offset + i]);
            } else {
                array.add(nested(values, (int) (offset + i * stride), shape, axis + 1));
            }
        }
        return array;
    }

    /** [n, *rowShape]. */
    static long[] withBatch(int n, long[] rowShape) {
        long[] shape = new long[rowShape.length + 1];
        shape[0] = n;
        System.arraycopy(rowShape, 0, shape, 1, rowShape.length);
        return shape;
    }

    static List<Long> list(long[] shape) {
        List<Long> out = new ArrayList<>();
        for (long d : shape) {
            out.add(d);
        }
        return out;
    }

    static String text(long[] shape) {
        return Arrays.toString(shape);
    }

    static byte[] write(JsonNode node) {
        try {
            return JSON.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
