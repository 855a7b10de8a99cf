package ai.dl4jbridge.train;

/**
 * dl4j-bridge's one seed-mixing function: every seed derived from a run's seed (epoch seeds, shuffles, Spark round
 * splits, augmentation draws) goes through {@link #mix}. Exact resume depends on its values staying as they are: a
 * resumed run repeats the shuffles and draws of the run it continues only while they do (SeedsTest pins them).
 */
public final class Seeds {
    private Seeds() {}

    /** SplitMix64's finaliser over {@code a} times the golden gamma plus {@code b}: well-spread, unrelated seeds from
     * small consecutive inputs. */
    public static long mix(long a, long b) {
        long z = a * 0x9E3779B97F4A7C15L + b + 0x632BE59BD9B4E019L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
