package ai.dl4jbridge.runtime.service;

/** Dynamic batching of one model: at most {@code maxRows} rows per run, a batch waiting at most {@code maxDelayMicros}. */
final class BatchSettings {
    final int maxRows;
    final int maxDelayMicros;

    BatchSettings(int maxRows, int maxDelayMicros) {
        this.maxRows = maxRows;
        this.maxDelayMicros = maxDelayMicros;
    }

    boolean enabled() {
        return maxRows > 1;
    }

    /** "ROWS" or "ROWS,MICROS", as --model-batch takes it. */
    static BatchSettings parse(String model, String text) {
        String[] parts = text.split(",", -1);
        try {
            int rows = Integer.parseInt(parts[0].trim());
            int delay = parts.length > 1 ? Integer.parseInt(parts[1].trim()) : 0;
            if (parts.length <= 2 && rows >= 0 && rows <= 1 << 16 && delay >= 0 && delay <= 1_000_000) {
                return new BatchSettings(rows, delay);
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException("invalid --model-batch " + model + "=" + text
                + ": expected NAME=ROWS or NAME=ROWS,MICROS (rows 0..65536, micros 0..1000000)");
    }

    @Override
    public String toString() {
        return enabled() ? "batch<=" + maxRows + "/" + maxDelayMicros + "us" : "batching off";
    }
}
