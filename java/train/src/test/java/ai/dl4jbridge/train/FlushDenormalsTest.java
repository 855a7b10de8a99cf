package ai.dl4jbridge.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

class FlushDenormalsTest {
    private static final int ELEMENTS = 1 << 20; // enough for ND4J to split the op over its OpenMP team

    @AfterEach
    void clearSwitch() {
        System.clearProperty(FlushDenormals.PROPERTY);
    }

    /** 1e-20 * 1e-20 for a million elements, one ND4J op: 1e-40 is a float32 denormal unless flushed to zero. */
    private static float[] denormalProducts() {
        return Nd4j.valueArrayOf(new long[] {ELEMENTS}, 1e-20f, DataType.FLOAT)
                .muli(1e-20)
                .toFloatVector();
    }

    private static int zeros(float[] values) {
        int count = 0;
        for (float v : values) {
            count += v == 0f ? 1 : 0;
        }
        return count;
    }

    @Test
    void aStepFlushesDenormalsOnEveryThreadOfTheOpAndRestoresTheRegisterAfter() {
        assertTrue(FlushDenormals.available(), "x86-64 Linux: glibc and ND4J's libgomp must be found");
        assertTrue(Nd4j.getEnvironment().maxThreads() > 1, "the op must run on more than one thread");
        int before = FlushDenormals.mxcsr();
        float[][] inside = new float[1][];
        int[] insideRegister = new int[1];
        long steps = FlushDenormals.flushedSteps();

        FlushDenormals.during(() -> {
            insideRegister[0] = FlushDenormals.mxcsr();
            inside[0] = denormalProducts();
        });

        assertEquals(FlushDenormals.FTZ_DAZ, insideRegister[0] & FlushDenormals.FTZ_DAZ);
        assertEquals(ELEMENTS, zeros(inside[0]), "every thread of the team flushed");
        assertEquals(steps + 1, FlushDenormals.flushedSteps());
        assertEquals(before & FlushDenormals.FTZ_DAZ, FlushDenormals.mxcsr() & FlushDenormals.FTZ_DAZ);
        float[] after = denormalProducts();
        assertEquals(0, zeros(after), "denormals are back once the step is over, on every thread");
        assertTrue(after[0] < Float.MIN_NORMAL && after[ELEMENTS - 1] < Float.MIN_NORMAL);
    }

    @Test
    void aNestedStepLeavesTheOuterStepFlushingAndTheEndRestoresTheRegister() {
        int before = FlushDenormals.mxcsr() & FlushDenormals.FTZ_DAZ;
        int[] afterInner = new int[1];
        FlushDenormals.during(() -> {
            FlushDenormals.during(() -> {});
            afterInner[0] = FlushDenormals.mxcsr();
        });
        assertEquals(FlushDenormals.FTZ_DAZ, afterInner[0] & FlushDenormals.FTZ_DAZ);
        assertEquals(before, FlushDenormals.mxcsr() & FlushDenormals.FTZ_DAZ);
    }

    @Test
    void theSwitchLeavesStepsAsDl4jRunsThem() {
        System.setProperty(FlushDenormals.PROPERTY, "false");
        float[][] inside = new float[1][];
        long steps = FlushDenormals.flushedSteps();

        FlushDenormals.during(() -> inside[0] = denormalProducts());

        assertEquals(0, zeros(inside[0]));
        assertEquals(steps, FlushDenormals.flushedSteps());
    }
}
