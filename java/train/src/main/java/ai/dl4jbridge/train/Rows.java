package ai.dl4jbridge.train;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** Row (dimension 0) selection for arrays of any rank: [n, F], [n, C, H, W], [n, H, W, C], ... */
public final class Rows {
    private Rows() {}

    /**
     * The given rows, gathered into a new array. Nd4j.pullRows only handles 2-d arrays, so higher ranks are
     * viewed as [n, rest] (free for the C-ordered arrays that arrive from numpy), pulled, and reshaped back.
     */
    public static INDArray pull(INDArray source, int[] rows) {
        if (source.rank() == 2) {
            return Nd4j.pullRows(source, 1, rows);
        }
        long[] shape = source.shape();
        INDArray flat = source.reshape('c', shape[0], source.length() / Math.max(1, shape[0]));
        long[] pulledShape = shape.clone();
        pulledShape[0] = rows.length;
        return Nd4j.pullRows(flat, 1, rows).reshape('c', pulledShape);
    }

    /** Rows from..to-1 as a view. */
    public static INDArray range(INDArray source, long from, long to) {
        INDArrayIndex[] index = new INDArrayIndex[source.rank()];
        Arrays.fill(index, NDArrayIndex.all());
        index[0] = NDArrayIndex.interval(from, to);
        return source.get(index);
    }

    public static INDArray[] pull(INDArray[] sources, int[] rows) {
        INDArray[] out = new INDArray[sources.length];
        for (int i = 0; i < sources.length; i++) {
            out[i] = pull(sources[i], rows);
        }
        return out;
    }

    public static INDArray[] range(INDArray[] sources, long from, long to) {
        INDArray[] out = new INDArray[sources.length];
        for (int i = 0; i < sources.length; i++) {
            out[i] = range(sources[i], from, to);
        }
        return out;
    }
}
