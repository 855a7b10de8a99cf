package ai.dl4jbridge.modelzip;

/**
 * How deeply a JSON text nests, counted without parsing it: recursive parsers (Jackson in DL4J, Python's json)
 * overflow their stack on a configuration.json nested 100,000 deep, so such a text is refused before any parser
 * sees it. Brackets inside strings are skipped (escapes included); the text is not otherwise validated.
 */
final class JsonDepth {
    private JsonDepth() {}

    /** The deepest nesting of objects and arrays in {@code text} (0 for a scalar). */
    static int of(String text) {
        int depth = 0;
        int deepest = 0;
        boolean inString = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (inString) {
                if (c == '\\') {
                    i++;
                } else if (c == '"') {
                    inString = false;
                }
            } else if (c == '"') {
                inString = true;
            } else if (c == '{' || c == '[') {
                deepest = Math.max(deepest, ++depth);
            } else if (c == '}' || c == ']') {
                depth--;
            }
        }
        return deepest;
    }

    /** {@code text}, or a refusal naming {@code what} when it nests deeper than {@code max}. */
    static String checked(String text, int max, String source, String what) {
        if (text != null && of(text) > max) {
            throw new ModelZipException(source + ": " + what + " nests JSON deeper than " + max
                    + " levels (a DL4J configuration needs fewer than 10): refused before parsing.");
        }
        return text;
    }
}
