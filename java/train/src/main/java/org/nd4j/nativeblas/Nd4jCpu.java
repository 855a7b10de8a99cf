package org.nd4j.nativeblas;

/**
 * Compatibility for DL4J 1.0.0-M2.1's oneDNN layer helpers: their check (BaseMKLDNNHelper.mklDnnEnabled) looks up
 * {@code org.nd4j.nativeblas.Nd4jCpu$Environment.isUseMKLDNN()} by reflection, but nd4j-native M2.1 moved the class
 * to {@code org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu} and renamed the method isUseONEDNN(). The lookup fails,
 * and every CNN layer silently falls back to DL4J's own im2col path even on libnd4j's oneDNN build. This class
 * answers the old question with the new binding, so nothing else in DL4J or ND4J is changed.
 */
public final class Nd4jCpu {
    private Nd4jCpu() {}

    public static final class Environment {
        private static final Environment INSTANCE = new Environment();

        private Environment() {}

        public static Environment getInstance() {
            return INSTANCE;
        }

        /** libnd4j's own flag (true on M2.1's builds; only the -onednn builds have oneDNN kernels behind it). */
        public boolean isUseMKLDNN() {
            return org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu.Environment.getInstance()
                    .isUseONEDNN();
        }
    }
}
