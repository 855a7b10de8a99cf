package ai.dl4jbridge.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class NdarraysTest {
    private static ByteBuffer floats(float... values) {
        ByteBuffer buffer = ByteBuffer.allocateDirect(values.length * 4).order(ByteOrder.nativeOrder());
        buffer.asFloatBuffer().put(values);
        return buffer;
    }

    @Test
    void copiesCOrderAndFOrderBuffersWithTheirElementOrder() {
        INDArray c = Ndarrays.fromBuffer(floats(1, 2, 3, 4, 5, 6), "FLOAT", new long[] {2, 3}, 'c');
        INDArray f = Ndarrays.fromBuffer(floats(1, 4, 2, 5, 3, 6), "FLOAT", new long[] {2, 3}, 'f');
        assertEquals(c, f);
        assertEquals(4f, c.getFloat(1, 0));
    }

    @Test
    void writesViewsInCOrder() {
        INDArray matrix = Nd4j.arange(6).reshape(2, 3).castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT);
        ByteBuffer out = ByteBuffer.allocateDirect(24).order(ByteOrder.nativeOrder());
        Ndarrays.copyInto(matrix.transpose(), out);
        float[] values = new float[6];
        out.asFloatBuffer().get(values);
        assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, values);
    }

    @Test
    void refusesABufferOfTheWrongSize() {
        IllegalArgumentException error = assertThrows(
                IllegalArgumentException.class,
                () -> Ndarrays.fromBuffer(floats(1, 2, 3), "FLOAT", new long[] {2, 2}, 'c'));
        assertEquals("buffer holds 12 bytes, shape and dtype need 16", error.getMessage());
    }
}
