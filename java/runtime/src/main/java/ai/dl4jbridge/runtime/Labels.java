package ai.dl4jbridge.runtime;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/** Reads class labels from model metadata (ONNX metadata_props, or the DL4J zip's dl4j-bridge.json). */
public final class Labels {
    private static final String[] KEYS = {"labels", "class_labels", "classes"};

    private Labels() {
    }

    public static List<String> from(Map<String, String> metadata) {
        for (String key : KEYS) {
            String value = metadata.get(key);
            if (value != null && !value.trim().isEmpty()) {
                return parse(value.trim());
            }
        }
        return Collections.emptyList();
    }

    /** A JSON array of strings, or a comma-separated list. */
    public static List<String> parse(String text) {
        if (!text.startsWith("[")) {
            List<String> out = new ArrayList<>();
            for (String part : text.split(",")) {
                out.add(part.trim());
            }
            return out;
        }
        return parseJsonArray(text);
    }

    /** A JSON array of strings or numbers; enough JSON for labels, without a JSON library. */
    private static List<String> parseJsonArray(String text) {
        List<String> out = new ArrayList<>();
        int i = 1;
        int n = text.length();
        while (i < n) {
            char c = text.charAt(i);
            if (c == '"') {
                StringBuilder sb = new StringBuilder();
                i++;
                while (i < n && text.charAt(i) != '"') {
                    char ch = text.charAt(i);
                    if (ch == '\\' && i + 1 < n) {
                        char esc = text.charAt(++i);
                        if (esc == 'u' && i + 4 < n) {
                            sb.append((char) Integer.parseInt(text.substring(i + 1, i + 5), 16));
                            i += 4;
                        } else {
                            sb.append(esc == 'n' ? '\n' : esc == 't' ? '\t' : esc);
                        }
                    } else {
                        sb.append(ch);
                    }
                    i++;
                }
                out.add(sb.toString());
                i++;
            } else if (c == ',' || c == ']' || Character.isWhitespace(c)) {
                i++;
            } else {
                int start = i;
                while (i < n && text.charAt(i) != ',' && text.charAt(i) != ']') {
                    i++;
                }
                out.add(text.substring(start, i).trim());
            }
        }
        return out;
    }
}
