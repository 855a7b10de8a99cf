package ai.dl4jbridge.runtime;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/** Reads class labels from model metadata (ONNX metadata_props, or the DL4J zip's dl4j-bridge.json). */
public final class Labels {
    private static final String[] KEYS = {"labels", "class_labels", "classes"};
    private static final ObjectMapper JSON = new ObjectMapper();

    private Labels() {}

    /** The labels under the first key present; IllegalArgumentException names the key when its value is malformed. */
    public static List<String> from(Map<String, String> metadata) {
        for (String key : KEYS) {
            String value = metadata.get(key);
            if (value != null && !value.trim().isEmpty()) {
                try {
                    return parse(value.trim());
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("metadata '" + key + "' " + e.getMessage(), e);
                }
            }
        }
        return Collections.emptyList();
    }

    /** A JSON array of strings or numbers (parsed with jackson), or a comma-separated list. */
    public static List<String> parse(String text) {
        if (!text.startsWith("[")) {
            List<String> out = new ArrayList<>();
            for (String part : text.split(",")) {
                out.add(part.trim());
            }
            return out;
        }
        JsonNode array;
        try {
            array = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("is not a valid JSON array of labels: " + e.getOriginalMessage());
        }
        List<String> out = new ArrayList<>();
        for (JsonNode label : array) {
            if (!label.isTextual() && !label.isNumber()) {
                throw new IllegalArgumentException("must be a JSON array of strings or numbers; found "
                        + label.getNodeType().name().toLowerCase(java.util.Locale.ROOT) + " "
                        + (label.toString().length() > 40 ? label.toString().substring(0, 40) + "..." : label));
            }
            out.add(label.asText());
        }
        return out;
    }
}
