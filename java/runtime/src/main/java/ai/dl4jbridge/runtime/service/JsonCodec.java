package ai.dl4jbridge.runtime.service;

import ai.dl4jbridge.runtime.ModelInfo;
import ai.dl4jbridge.runtime.Prediction;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * JSON in and out with jackson-core's streaming API: numbers go straight into float arrays, with no
 * object tree. NaN / Infinity literals are accepted by the parser so that the NaN policy, not a parse
 * error, decides (Python's json.dumps writes them).
 */
final class JsonCodec {
    static final JsonFactory FACTORY = JsonFactory.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .streamReadConstraints(com.fasterxml.jackson.core.StreamReadConstraints.builder()
                    .maxNestingDepth(64)
                    .build())
            .build();

    private JsonCodec() {}

    /**
     * Parses {"inputs": [row, ...]} (or one flat row: {"inputs": [f, ...]}) into rows of {@code size}
     * floats. A row is flat ({@code size} numbers, C order) or nested exactly as {@code rowShape}, e.g.
     * [3][48][48] for an NCHW image; any other nesting is refused, never reinterpreted.
     */
    static float[][] parseInputs(byte[] body, long[] rowShape, int maxRows) {
        int size = sizeOf(rowShape);
        try (JsonParser p = FACTORY.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw bad("body must be a JSON object {\"inputs\": [[" + size + " numbers], ...]}");
            }
            float[][] rows = null;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                p.nextToken();
                if ("inputs".equals(field)) {
                    rows = readRows(p, rowShape, maxRows);
                } else {
                    p.skipChildren();
                }
            }
            if (p.currentToken() != JsonToken.END_OBJECT || p.nextToken() != null) {
                throw bad("trailing content after the JSON object");
            }
            if (rows == null) {
                throw bad("missing field \"inputs\": expected {\"inputs\": [[" + size + " numbers], ...]}");
            }
            return rows;
        } catch (JsonProcessingException e) {
            throw bad("malformed JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            // e.g. CharConversionException: bytes that are no JSON text in any encoding (a binary body)
            throw bad("the body is not JSON text (" + e.getMessage()
                    + "); binary rows need Content-Type: application/octet-stream");
        }
    }

    private static float[][] readRows(JsonParser p, long[] rowShape, int maxRows) throws IOException {
        int size = sizeOf(rowShape);
        if (p.currentToken() != JsonToken.START_ARRAY) {
            throw bad("\"inputs\" must be an array of rows, each an array of " + size + " numbers");
        }
        List<float[]> rows = new ArrayList<>();
        JsonToken t = p.nextToken();
        if (t != null && t.isNumeric()) {
            rows.add(readRow(p, size, 0, true));
        } else {
            while (t == JsonToken.START_ARRAY) {
                if (rows.size() >= maxRows) {
                    throw new HttpError(
                            413,
                            "too_many_rows",
                            "more than " + maxRows + " rows in one request;" + " split the batch (--max-rows)");
                }
                p.nextToken();
                rows.add(
                        p.currentToken() == JsonToken.START_ARRAY && rowShape.length > 1
                                ? readNested(p, rowShape, rows.size())
                                : readRow(p, size, rows.size(), false));
                t = p.nextToken();
            }
            if (t != JsonToken.END_ARRAY) {
                throw bad("\"inputs\" must be an array of rows, each an array of " + size + " numbers; found " + t);
            }
        }
        if (rows.isEmpty()) {
            throw bad("\"inputs\" is empty: send at least one row of " + size + " numbers");
        }
        return rows.toArray(new float[0][]);
    }

    /** Reads numbers from the current token up to END_ARRAY. */
    private static float[] readRow(JsonParser p, int size, int index, boolean single) throws IOException {
        float[] row = new float[size];
        int n = 0;
        for (JsonToken t = p.currentToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
            if (t == null || !t.isNumeric()) {
                throw bad("row " + index + ", column " + n + ": expected a number, found " + describe(p, t));
            }
            if (n < size) {
                row[n] = p.getFloatValue();
            }
            n++;
        }
        if (n != size) {
            throw bad((single ? "the row" : "row " + index) + " has " + n + " values, expected " + size);
        }
        return row;
    }

    /** One row nested as rowShape, from its first element; the values land in C order. */
    private static float[] readNested(JsonParser p, long[] rowShape, int index) throws IOException {
        float[] row = new float[sizeOf(rowShape)];
        readAxis(p, rowShape, 0, row, 0, index);
        return row;
    }

    private static int readAxis(JsonParser p, long[] dims, int axis, float[] row, int pos, int index)
            throws IOException {
        boolean innermost = axis == dims.length - 1;
        int count = 0;
        for (JsonToken t = p.currentToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
            if (count >= dims[axis]) {
                throw nesting(index, axis, dims, "more than " + dims[axis] + " entries");
            }
            if (innermost) {
                if (t == null || !t.isNumeric()) {
                    throw bad("row " + index + ": expected a number at flat position " + pos + ", found "
                            + describe(p, t));
                }
                row[pos++] = p.getFloatValue();
            } else {
                if (t != JsonToken.START_ARRAY) {
                    throw nesting(index, axis, dims, "a value that is not an array (" + describe(p, t) + ")");
                }
                p.nextToken();
                pos = readAxis(p, dims, axis + 1, row, pos, index);
            }
            count++;
        }
        if (count != dims[axis]) {
            throw nesting(index, axis, dims, count + " entries");
        }
        return pos;
    }

    private static HttpError nesting(int index, int axis, long[] dims, String found) {
        StringBuilder expected = new StringBuilder();
        for (long d : dims) {
            expected.append('[').append(d).append(']');
        }
        return bad("row " + index + ": axis " + (axis + 1) + " has " + found + ", expected " + dims[axis]
                + "; a nested row must be " + expected + " (the model's per-example input shape, C order),"
                + " or send it flat as " + sizeOf(dims) + " numbers");
    }

    static int sizeOf(long[] shape) {
        long size = 1;
        for (long d : shape) {
            size *= d;
        }
        return (int) size;
    }

    private static String describe(JsonParser p, JsonToken t) throws IOException {
        if (t == null) {
            return "end of input";
        }
        return t == JsonToken.VALUE_STRING
                ? "the string \"" + truncate(p.getText()) + "\""
                : t.asString() != null ? t.asString() : t.name();
    }

    private static String truncate(String s) {
        return s.length() > 40 ? s.substring(0, 40) + "..." : s;
    }

    /**
     * [N, classes] outputs: {"probabilities": [[...]], "classes": [...], "labels": [...]}. Other outputs
     * (e.g. [N, 1, H, W]): {"outputs": [nested as the row shape], "shape": [n, ...]}.
     */
    static byte[] prediction(Prediction out, ModelInfo info) {
        long[] rowShape = out.rowShape();
        if (rowShape.length != 1) {
            return write(g -> {
                g.writeStartObject();
                g.writeArrayFieldStart("outputs");
                float[] values = out.flatProbabilities();
                int pos = 0;
                for (int r = 0; r < out.rows(); r++) {
                    pos = writeNested(g, values, pos, rowShape, 0);
                }
                g.writeEndArray();
                g.writeArrayFieldStart("shape");
                g.writeNumber(out.rows());
                for (long d : rowShape) {
                    g.writeNumber(d);
                }
                g.writeEndArray();
                g.writeEndObject();
            });
        }
        return write(g -> {
            g.writeStartObject();
            g.writeArrayFieldStart("probabilities");
            float[] probs = out.flatProbabilities();
            int c = out.numClasses();
            for (int r = 0; r < out.rows(); r++) {
                g.writeStartArray();
                for (int j = 0; j < c; j++) {
                    g.writeNumber(probs[r * c + j]);
                }
                g.writeEndArray();
            }
            g.writeEndArray();
            g.writeArrayFieldStart("classes");
            for (int k : out.classes()) {
                g.writeNumber(k);
            }
            g.writeEndArray();
            if (!info.labels().isEmpty()) {
                g.writeArrayFieldStart("labels");
                for (int k : out.classes()) {
                    g.writeString(info.label(k));
                }
                g.writeEndArray();
            }
            g.writeEndObject();
        });
    }

    private static int writeNested(JsonGenerator g, float[] values, int pos, long[] dims, int axis) throws IOException {
        g.writeStartArray();
        for (long i = 0; i < dims[axis]; i++) {
            if (axis == dims.length - 1) {
                g.writeNumber(values[pos++]);
            } else {
                pos = writeNested(g, values, pos, dims, axis + 1);
            }
        }
        g.writeEndArray();
        return pos;
    }

    static byte[] model(ModelInfo info) {
        return write(g -> {
            g.writeStartObject();
            g.writeStringField("name", info.name());
            g.writeStringField("engine", info.engine());
            g.writeStringField("provider", info.provider().name().toLowerCase(java.util.Locale.ROOT));
            g.writeObjectFieldStart("input");
            g.writeStringField("name", info.inputName());
            g.writeArrayFieldStart("shape");
            for (long d : info.inputShape()) {
                g.writeNumber(d);
            }
            g.writeEndArray();
            g.writeNumberField("size", info.inputSize());
            g.writeStringField("dtype", "float32");
            g.writeStringField("layout", info.inputLayout().orElse(null));
            g.writeStringField("scaling", info.inputScaling().orElse(null));
            g.writeEndObject();
            g.writeObjectFieldStart("output");
            g.writeStringField("name", info.outputName());
            g.writeArrayFieldStart("shape");
            for (long d : info.outputShape()) {
                g.writeNumber(d);
            }
            g.writeEndArray();
            g.writeNumberField("size", info.outputSize());
            if (info.isClassifier()) {
                g.writeNumberField("classes", info.numClasses());
            }
            g.writeEndObject();
            g.writeArrayFieldStart("labels");
            for (String label : info.labels()) {
                g.writeString(label);
            }
            g.writeEndArray();
            g.writeObjectFieldStart("metadata");
            for (Map.Entry<String, String> e : info.metadata().entrySet()) {
                g.writeStringField(e.getKey(), e.getValue());
            }
            g.writeEndObject();
            g.writeEndObject();
        });
    }

    static byte[] object(String... keyValues) {
        return write(g -> {
            g.writeStartObject();
            for (int i = 0; i + 1 < keyValues.length; i += 2) {
                g.writeStringField(keyValues[i], keyValues[i + 1]);
            }
            g.writeEndObject();
        });
    }

    private interface Body {
        void write(JsonGenerator g) throws IOException;
    }

    private static byte[] write(Body body) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(256);
        try (JsonGenerator g = FACTORY.createGenerator(bytes)) {
            body.write(g);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    static HttpError bad(String message) {
        return new HttpError(400, "bad_request", message);
    }
}
