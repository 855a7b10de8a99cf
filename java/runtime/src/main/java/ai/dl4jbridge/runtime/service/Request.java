package ai.dl4jbridge.runtime.service;

import java.util.Locale;
import java.util.function.Function;

/** One HTTP request as the router sees it: transport-free, the body read whole (bounded by --max-body). */
final class Request {
    final String method;
    final String path;
    final String query;
    final byte[] body;
    private final Function<String, String> headers;

    Request(String method, String uri, Function<String, String> headers, byte[] body) {
        this.method = method;
        int q = uri.indexOf('?');
        this.path = q < 0 ? uri : uri.substring(0, q);
        this.query = q < 0 ? "" : uri.substring(q + 1);
        this.headers = headers;
        this.body = body;
    }

    /** A header's first value, or null. */
    String header(String name) {
        return headers.apply(name);
    }

    /** The media type of Content-Type, lower case, without parameters; null when absent. */
    String mediaType() {
        String header = header("Content-Type");
        if (header == null) {
            return null;
        }
        int semi = header.indexOf(';');
        return (semi < 0 ? header : header.substring(0, semi)).trim().toLowerCase(Locale.ROOT);
    }

    /** A query parameter's value (no decoding: names and values here are plain tokens), or null. */
    String queryParameter(String name) {
        for (String pair : query.split("&")) {
            int eq = pair.indexOf('=');
            if (eq > 0 && pair.substring(0, eq).equals(name)) {
                return pair.substring(eq + 1);
            }
        }
        return null;
    }
}
