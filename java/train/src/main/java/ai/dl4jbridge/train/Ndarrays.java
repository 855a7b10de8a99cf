package ai.dl4jbridge.train;

import java.nio.ByteBuffer;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Bulk transfer between direct NIO buffers (numpy memory, handed over by JPype) and INDArrays.
 * Each direction is one native memcpy; nothing is read element by element.
 */
public final class Ndarrays {
    private Ndarrays() {}

    /** Copies {@code src} (native byte order) into a new INDArray of the given type, shape and order ('c' or 'f'). */
    public static INDArray fromBuffer(ByteBuffer src, String dtype, long[] shape, char order) {
        DataType type = DataType.valueOf(dtype);
        long length = 1;
        for (long d : shape) {
            length *= d;
        }
        long bytes = length * type.width();
        if (src.capacity() != bytes) {
            throw new IllegalArgumentException(
                    "buffer holds " + src.capacity() + " bytes, shape and dtype need " + bytes);
        }
        if (length == 0) {
            return Nd4j.create(type, shape);
        }
        INDArray out = shape.length == 0 ? Nd4j.scalar(type, 0) : Nd4j.createUninitialized(type, shape, order);
        Pointer.memcpy(out.data().addressPointer(), new BytePointer(src), bytes);
        return out;
    }

    /** Writes the array's elements in C order into {@code dst}, which must hold exactly its bytes. */
    public static void copyInto(INDArray array, ByteBuffer dst) {
        long bytes = array.length() * array.dataType().width();
        if (dst.capacity() != bytes) {
            throw new IllegalArgumentException("buffer holds " + dst.capacity() + " bytes, array needs " + bytes);
        }
        if (bytes == 0) {
            return;
        }
        INDArray contiguous = isPlainCOrder(array) ? array : array.dup('c');
        Pointer.memcpy(new BytePointer(dst), contiguous.data().addressPointer(), bytes);
    }

    /** Its memory is the array in C order. A permuted array reports order 'c', no view and a full
     *  buffer, but its strides give it away. */
    private static boolean isPlainCOrder(INDArray a) {
        return !a.isView()
                && a.ordering() == 'c'
                && a.data().length() == a.length()
                && Shape.hasDefaultStridesForShape(a);
    }
}
