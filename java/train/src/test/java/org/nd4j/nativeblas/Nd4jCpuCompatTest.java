package org.nd4j.nativeblas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.deeplearning4j.nn.layers.mkldnn.BaseMKLDNNHelper;
import org.junit.jupiter.api.Test;

class Nd4jCpuCompatTest {
    @Test
    void answersDl4jsOneDnnCheckWithNd4jsOwnFlag() {
        boolean binding = org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu.Environment.getInstance()
                .isUseONEDNN();
        assertEquals(binding, Nd4jCpu.Environment.getInstance().isUseMKLDNN());
        // Without this class DL4J's reflective lookup fails and the check is false whatever libnd4j offers.
        assertEquals(binding, BaseMKLDNNHelper.mklDnnEnabled());
        assertTrue(binding, "nd4j-native M2.1 reports oneDNN use; if a release changes that, revisit this class");
    }
}
