package ai.dl4jbridge.runtime.service;

import java.nio.charset.StandardCharsets;
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
        this.path = utf8(q < 0 ? uri : uri.substring(0, q));
        this.query = q < 0 ? "" : uri.substring(q + 1);
        this.headers = headers;
        this.body = body;
    }

    /**
     * The request line arrives as bytes, one char each (ISO-8859-1); a path in UTF-8 (a model named "modèle")
     * is decoded as such, so that routes match it and messages show it as sent.
     */
    private static String utf8(String latin1) {
        for (int i = 0; i < latin1.length(); i++) {
            if (latin1.charAt(i) > 0x7f) {
                return new String(latin1.getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
            }
        }
        return latin1;
    }

    /** HEAD asks what GET would answer, without the body. */
    boolean isHead() {
        return "HEAD".equals(method);
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

    /**
     * A query parameter's value (no decoding: names and values here are plain tokens), or null. Given twice it is
     * refused (400): which of the two a client meant is not ours to guess.
     */
    String queryParameter(String name) {
        String value = null;
        for (String pair : query.split("&")) {
            int eq = pair.indexOf('=');
            if (eq > 0 && pair.substring(0, eq).equals(name)) {
                if (value != null) {
                    throw new HttpError(
                            400, "bad_request", "the query parameter '" + name + "' is given more than once");
                }
                value = pair.substring(eq + 1);
            }
        }
        return value;
    }
}
