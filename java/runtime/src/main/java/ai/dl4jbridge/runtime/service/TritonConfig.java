package ai.dl4jbridge.runtime.service;

import java.util.ArrayList;
import java.util.List;

/**
 * What the service takes from a Triton {@code config.pbtxt} (ModelConfig in protobuf text format): the top-level
 * {@code max_batch_size} and {@code dynamic_batching}'s {@code max_queue_delay_microseconds}. Every other field is
 * read over and ignored; the text must still be well formed (fields, scalars, strings, lists, nested messages).
 * As in Triton, a model batches requests together only with a {@code dynamic_batching} stanza.
 */
final class TritonConfig {
    private final List<String> tokens;
    private final String source;
    private int at;
    private long maxBatchSize;
    private long maxQueueDelay;
    private boolean dynamicBatching;

    private TritonConfig(String text, String source) {
        this.tokens = tokenize(text, source);
        this.source = source;
    }

    /** The batching {@code text} asks for: ROWS = max_batch_size with dynamic_batching, else 0 (off). */
    static BatchSettings batching(String text, String source) {
        TritonConfig config = new TritonConfig(text, source);
        config.message("");
        if (config.at < config.tokens.size()) {
            throw config.malformed("unexpected '" + config.tokens.get(config.at) + "'");
        }
        int rows = config.bounded("max_batch_size", config.maxBatchSize, 1 << 16);
        int delay = config.bounded("max_queue_delay_microseconds", config.maxQueueDelay, 1_000_000);
        return new BatchSettings(config.dynamicBatching ? rows : 0, delay);
    }

    /** Fields until '}' or '>' (a nested message's end) or the end of the text. */
    private void message(String path) {
        while (at < tokens.size()
                && !tokens.get(at).equals("}")
                && !tokens.get(at).equals(">")) {
            String field = tokens.get(at++);
            if (!Character.isLetter(field.charAt(0)) && field.charAt(0) != '_') {
                throw malformed("expected a field name, found '" + field + "'");
            }
            String here = path.isEmpty() ? field : path + "." + field;
            if (peek(":")) {
                at++;
            }
            if (peek("[")) {
                at++;
                list(here);
            } else {
                value(here);
            }
            if (peek(",") || peek(";")) {
                at++;
            }
        }
    }

    private void list(String path) {
        while (!peek("]")) {
            value(path);
            if (peek(",")) {
                at++;
            } else if (!peek("]")) {
                throw malformed("expected ',' or ']' in the list " + path);
            }
        }
        at++;
    }

    /** A nested message or a scalar (adjacent strings are one value, as protobuf concatenates them). */
    private void value(String path) {
        if (at >= tokens.size()) {
            throw malformed("the text ends inside " + path);
        }
        String token = tokens.get(at++);
        if (token.equals("{") || token.equals("<")) {
            if (path.equals("dynamic_batching")) {
                dynamicBatching = true;
            }
            message(path);
            if (at >= tokens.size()) {
                throw malformed("'" + token + "' of " + path + " is never closed");
            }
            at++;
            return;
        }
        if ("{}<>[],:;".contains(token)) {
            throw malformed("expected a value for " + path + ", found '" + token + "'");
        }
        while (token.startsWith("\"") && at < tokens.size() && tokens.get(at).startsWith("\"")) {
            at++;
        }
        if (path.equals("max_batch_size")) {
            maxBatchSize = integer(path, token);
        } else if (path.equals("dynamic_batching.max_queue_delay_microseconds")) {
            maxQueueDelay = integer(path, token);
        }
    }

    private boolean peek(String token) {
        return at < tokens.size() && tokens.get(at).equals(token);
    }

    private long integer(String field, String token) {
        try {
            return Long.parseLong(token);
        } catch (NumberFormatException e) {
            throw malformed(field + " must be an integer, got " + token);
        }
    }

    private int bounded(String field, long value, int max) {
        if (value < 0 || value > max) {
            throw new IllegalArgumentException(
                    source + ": " + field + " must be an integer in [0, " + max + "], got " + value);
        }
        return (int) value;
    }

    private IllegalArgumentException malformed(String detail) {
        return new IllegalArgumentException(source + " is not a valid Triton config.pbtxt: " + detail);
    }

    /** Strings (quotes kept), punctuation, and runs of other characters; '#' comments dropped. */
    private static List<String> tokenize(String text, String source) {
        List<String> tokens = new ArrayList<>();
        int i = 0;
        while (i < text.length()) {
            char c = text.charAt(i);
            if (Character.isWhitespace(c)) {
                i++;
            } else if (c == '#') {
                while (i < text.length() && text.charAt(i) != '\n') {
                    i++;
                }
            } else if (c == '"' || c == '\'') {
                int end = i + 1;
                while (end < text.length() && text.charAt(end) != c && text.charAt(end) != '\n') {
                    end += text.charAt(end) == '\\' ? 2 : 1;
                }
                if (end >= text.length() || text.charAt(end) != c) {
                    throw new IllegalArgumentException(
                            source + " is not a valid Triton config.pbtxt: a string is never closed");
                }
                tokens.add("\"" + text.substring(i + 1, end));
                i = end + 1;
            } else if ("{}<>[],:;".indexOf(c) >= 0) {
                tokens.add(String.valueOf(c));
                i++;
            } else {
                int end = i;
                while (end < text.length()
                        && !Character.isWhitespace(text.charAt(end))
                        && "{}<>[],:;#\"'".indexOf(text.charAt(end)) < 0) {
                    end++;
                }
                tokens.add(text.substring(i, end));
                i = end;
            }
        }
        return tokens;
    }
}
