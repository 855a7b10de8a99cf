package ai.dl4jbridge.runtime.service;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongFunction;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One log line per interval at most for an event clients cause at will (a connection closed mid-body): a
 * hundred abandoned uploads must not write a hundred stack traces. Counts what it did not log and says so in
 * the next line; the exact count is in /metrics.
 */
final class QuietLog {
    private final Logger log;
    private final long intervalNanos;
    private final AtomicLong nextLineAt = new AtomicLong(Long.MIN_VALUE);
    private final AtomicLong unlogged = new AtomicLong();

    QuietLog(Logger log, long intervalMillis) {
        this.log = log;
        this.intervalNanos = intervalMillis * 1_000_000L;
    }

    /** Logs {@code message.apply(events since the last line)} if the interval has passed; counts it otherwise. */
    void event(LongFunction<String> message) {
        long now = System.nanoTime();
        long due = nextLineAt.get();
        if ((due != Long.MIN_VALUE && now - due < 0) || !nextLineAt.compareAndSet(due, now + intervalNanos)) {
            unlogged.incrementAndGet();
            return;
        }
        log.log(Level.INFO, message.apply(unlogged.getAndSet(0) + 1));
    }
}
