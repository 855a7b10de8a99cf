package ai.dl4jbridge.runtime.service;

import java.util.LinkedHashMap;
import java.util.Map;

/** An answer: status, content type, body, extra headers, and whether the connection closes after it. */
final class Reply {
    static final String JSON = "application/json";
    static final String BINARY = "application/octet-stream";

    final int status;
    final String contentType;
    final byte[] body;
    final Map<String, String> headers = new LinkedHashMap<>();
    /** The route template, for the metrics' route label (never the raw path). */
    String route = "other";

    boolean close;

    Reply(int status, String contentType, byte[] body) {
        this.status = status;
        this.contentType = contentType;
        this.body = body;
    }

    static Reply json(int status, byte[] body) {
        return new Reply(status, JSON, body);
    }

    static Reply error(int status, String message) {
        return json(status, JsonCodec.object("error", message));
    }

    Reply header(String name, String value) {
        headers.put(name, value);
        return this;
    }
}
