package ai.dl4jbridge.train;

import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.indexer.DoubleIndexer;
import org.bytedeco.javacpp.indexer.FloatIndexer;
import org.bytedeco.javacpp.indexer.Indexer;
import org.bytedeco.javacpp.indexer.IntIndexer;
import org.bytedeco.javacpp.indexer.LongIndexer;
import org.nd4j.linalg.api.buffer.DataBuffer;
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

    /** Holds each wrapped buffer's owner until the INDArray's data buffer is unreachable, then drops it. */
    private static final Cleaner KEEP_ALIVE = Cleaner.create();

    /**
     * Wraps {@code memory} (numpy's, via JPype) as an INDArray without copying: ND4J reads and writes
     * numpy's memory, and never frees it (it did not allocate it). JPype's direct buffer does not keep the numpy
     * array alive, so the caller passes {@code owner} (a JPype proxy holding the array): it stays reachable until
     * the INDArray's data buffer is collected. Only the types ND4J's CPU backend can wrap: FLOAT, DOUBLE, INT,
     * LONG.
     */
    public static INDArray wrapBuffer(ByteBuffer memory, String dtype, long[] shape, char order, Runnable owner) {
        DataType type = DataType.valueOf(dtype);
        long length = lengthOf(shape);
        if (memory.capacity() != length * type.width()) {
            throw new IllegalArgumentException(
                    "buffer holds " + memory.capacity() + " bytes, shape and dtype need " + length * type.width());
        }
        if (length == 0 || shape.length == 0) {
            throw new IllegalArgumentException("empty and 0-d arrays are copied, not wrapped");
        }
        ByteBuffer in = memory.order(ByteOrder.nativeOrder());
        Pointer pointer;
        Indexer indexer;
        switch (type) {
            case FLOAT:
                FloatPointer floats = new FloatPointer(in.asFloatBuffer());
                pointer = floats;
                indexer = FloatIndexer.create(floats);
                break;
            case DOUBLE:
                DoublePointer doubles = new DoublePointer(in.asDoubleBuffer());
                pointer = doubles;
                indexer = DoubleIndexer.create(doubles);
                break;
            case INT:
                IntPointer ints = new IntPointer(in.asIntBuffer());
                pointer = ints;
                indexer = IntIndexer.create(ints);
                break;
            case LONG:
                LongPointer longs = new LongPointer(in.asLongBuffer());
                pointer = longs;
                indexer = LongIndexer.create(longs);
                break;
            default:
                throw new IllegalArgumentException(type + " arrays are copied, not wrapped");
        }
        DataBuffer data = Nd4j.createBuffer(pointer, type, length, indexer);
        KEEP_ALIVE.register(data, owner);
        return Nd4j.create(data, shape, Nd4j.getStrides(shape, order), 0, order);
    }

    private static long lengthOf(long[] shape) {
        long length = 1;
        for (long d : shape) {
            length *= d;
        }
        return length;
    }

    /** Copies {@code src} (native byte order) into a new INDArray of the given type, shape and order ('c' or 'f'). */
    public static INDArray fromBuffer(ByteBuffer src, String dtype, long[] shape, char order) {
        DataType type = DataType.valueOf(dtype);
        long length = lengthOf(shape);
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
