package ai.dl4jbridge.runtime;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnknownFieldSet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The external-data files an ONNX model names (TensorProto.external_data "location"), read from the
 * model's protobuf wire format (field numbers of onnx.proto), and the rule that they must lie inside the
 * model's own folder: no absolute paths, no "..", no symbolic link out of it.
 */
final class ExternalData {
    // onnx.proto field numbers
    private static final int MODEL_GRAPH = 7;
    private static final int GRAPH_NODE = 1;
    private static final int GRAPH_INITIALIZER = 5;
    private static final int GRAPH_SPARSE_INITIALIZER = 15;
    private static final int NODE_ATTRIBUTE = 5;
    private static final int ATTRIBUTE_T = 5;
    private static final int ATTRIBUTE_G = 6;
    private static final int ATTRIBUTE_TENSORS = 10;
    private static final int ATTRIBUTE_GRAPHS = 11;
    private static final int ATTRIBUTE_SPARSE_TENSOR = 22;
    private static final int ATTRIBUTE_SPARSE_TENSORS = 23;
    private static final int SPARSE_VALUES = 1;
    private static final int SPARSE_INDICES = 2;
    private static final int TENSOR_EXTERNAL_DATA = 13;
    private static final int ENTRY_KEY = 1;
    private static final int ENTRY_VALUE = 2;

    private ExternalData() {}

    /** Every external-data location the model names (empty for a self-contained model). */
    static Set<String> locations(byte[] model) {
        Set<String> out = new LinkedHashSet<>();
        try {
            UnknownFieldSet m = UnknownFieldSet.parseFrom(model);
            for (ByteString graph : messages(m, MODEL_GRAPH)) {
                graph(graph, out, 0);
            }
        } catch (InvalidProtocolBufferException e) {
            return out; // not protobuf: ONNX Runtime will say what is wrong with it
        }
        return out;
    }

    private static void graph(ByteString bytes, Set<String> out, int depth) throws InvalidProtocolBufferException {
        if (depth > 32) {
            return;
        }
        UnknownFieldSet g = UnknownFieldSet.parseFrom(bytes);
        for (ByteString t : messages(g, GRAPH_INITIALIZER)) {
            tensor(t, out);
        }
        for (ByteString s : messages(g, GRAPH_SPARSE_INITIALIZER)) {
            sparse(s, out);
        }
        for (ByteString node : messages(g, GRAPH_NODE)) {
            for (ByteString a : messages(UnknownFieldSet.parseFrom(node), NODE_ATTRIBUTE)) {
                UnknownFieldSet attribute = UnknownFieldSet.parseFrom(a);
                for (int field : new int[] {ATTRIBUTE_T, ATTRIBUTE_TENSORS}) {
                    for (ByteString t : messages(attribute, field)) {
                        tensor(t, out);
                    }
                }
                for (int field : new int[] {ATTRIBUTE_SPARSE_TENSOR, ATTRIBUTE_SPARSE_TENSORS}) {
                    for (ByteString s : messages(attribute, field)) {
                        sparse(s, out);
                    }
                }
                for (int field : new int[] {ATTRIBUTE_G, ATTRIBUTE_GRAPHS}) {
                    for (ByteString sub : messages(attribute, field)) {
                        graph(sub, out, depth + 1);
                    }
                }
            }
        }
    }

    private static void sparse(ByteString bytes, Set<String> out) throws InvalidProtocolBufferException {
        UnknownFieldSet s = UnknownFieldSet.parseFrom(bytes);
        for (int field : new int[] {SPARSE_VALUES, SPARSE_INDICES}) {
            for (ByteString t : messages(s, field)) {
                tensor(t, out);
            }
        }
    }

    private static void tensor(ByteString bytes, Set<String> out) throws InvalidProtocolBufferException {
        for (ByteString entry : messages(UnknownFieldSet.parseFrom(bytes), TENSOR_EXTERNAL_DATA)) {
            UnknownFieldSet e = UnknownFieldSet.parseFrom(entry);
            List<ByteString> key = messages(e, ENTRY_KEY);
            List<ByteString> value = messages(e, ENTRY_VALUE);
            if (!key.isEmpty() && key.get(0).toStringUtf8().equals("location") && !value.isEmpty()) {
                out.add(value.get(0).toStringUtf8());
            }
        }
    }

    private static List<ByteString> messages(UnknownFieldSet set, int number) {
        UnknownFieldSet.Field field = set.getField(number);
        return field == null ? new ArrayList<>() : field.getLengthDelimitedList();
    }

    /** Refuses a location outside {@code folder} (the model file's folder), or one that does not exist. */
    static void check(Path model, Set<String> locations) {
        Path folder = model.toAbsolutePath().normalize().getParent();
        for (String location : locations) {
            Path named = Path.of(location);
            Path resolved = folder.resolve(named).normalize();
            if (named.isAbsolute()
                    || location.startsWith("/")
                    || location.startsWith("\\")
                    || location.contains(":")
                    || !resolved.startsWith(folder)) {
                throw new ModelLoadException(
                        "model " + model + " names external data '" + location + "' outside its own" + " folder "
                                + folder + "; external data must be a relative path inside the model's folder");
            }
            try {
                if (!Files.isRegularFile(resolved)) {
                    throw new ModelLoadException("model " + model + " names external data '" + location
                            + "', which is not a file in " + folder);
                }
                if (!resolved.toRealPath().startsWith(folder.toRealPath())) {
                    throw new ModelLoadException("model " + model + " names external data '" + location
                            + "', a link that leads outside its folder " + folder);
                }
            } catch (IOException e) {
                throw new ModelLoadException(
                        "cannot read external data '" + location + "' of model " + model + ": " + e, e);
            }
        }
    }
}
