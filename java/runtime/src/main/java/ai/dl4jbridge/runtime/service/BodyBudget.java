package ai.dl4jbridge.runtime.service;

import io.netty.util.internal.PlatformDependent;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The request-body bytes all connections together may hold at once. A body is buffered whole (Netty's direct
 * memory while it arrives, then a heap copy while it is handled), so --max-connections x --max-body can be far more
 * than the JVM has: 100 half-sent 16 MB bodies took a 1 GB service down (direct buffer OutOfMemoryError). Each
 * request reserves its declared length (the whole --max-body when chunked) from this budget when its headers
 * arrive, before any body byte is read; one that does not fit is answered 503 with Retry-After at once. The
 * reservation is returned when the request is answered or its connection closes.
 */
final class BodyBudget {
    /** The default share: a quarter of the smaller of direct memory and heap (each body lives in both, in turn). */
    static final int DEFAULT_DIVISOR = 4;

    private final long limit;
    private final AtomicLong reserved = new AtomicLong();

    BodyBudget(long limit) {
        this.limit = limit;
    }

    /** --body-memory if given (> 0), else the default share, never below one largest body. */
    static long limitFor(long bodyMemoryOption, long maxBody) {
        if (bodyMemoryOption > 0) {
            return bodyMemoryOption;
        }
        return Math.max(maxBody, Math.min(directMemory(), heapMemory()) / DEFAULT_DIVISOR);
    }

    static long directMemory() {
        return PlatformDependent.maxDirectMemory();
    }

    static long heapMemory() {
        return Runtime.getRuntime().maxMemory();
    }

    boolean tryReserve(long bytes) {
        while (true) {
            long now = reserved.get();
            if (now + bytes > limit) {
                return false;
            }
            if (reserved.compareAndSet(now, now + bytes)) {
                return true;
            }
        }
    }

    void release(long bytes) {
        reserved.addAndGet(-bytes);
    }

    long limit() {
        return limit;
    }

    long reserved() {
        return reserved.get();
    }

    /** The line the service prints at start: the budget and what the connection and body limits would allow. */
    String describe(int maxConnections, long maxBody) {
        return "dl4j-bridge service memory: request bodies in flight capped at " + mib(limit)
                + " (--body-memory; direct memory " + mib(directMemory()) + ", heap " + mib(heapMemory())
                + "); --max-connections " + maxConnections + " x --max-body " + mib(maxBody) + " = "
                + mib((long) maxConnections * maxBody) + ", so beyond the cap requests get 503 with Retry-After";
    }

    private static String mib(long bytes) {
        return (bytes >> 20) + " MiB";
    }
}
