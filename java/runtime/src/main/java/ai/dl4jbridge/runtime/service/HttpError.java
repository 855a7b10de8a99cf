package ai.dl4jbridge.runtime.service;

/** A request the service refuses: carries the HTTP status and a message safe to show the client. */
final class HttpError extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final int status;
    final String kind;
    /** For 405: the methods the route takes. */
    String allow = "GET";

    HttpError(int status, String kind, String message) {
        super(message, null, false, false);
        this.status = status;
        this.kind = kind;
    }

    HttpError allow(String methods) {
        this.allow = methods;
        return this;
    }
}
