package ai.dl4jbridge.runtime;

import java.util.Arrays;

/**
 * The output of one {@code predict} call: class probabilities [rows, classes] and the arg-max class of
 * each row. A model whose output is not [N, classes] (e.g. [N, 1, H, W] per-pixel values) gives rows of
 * {@link #numClasses()} = 1 * H * W floats in C order, shaped as {@link #rowShape()} says; its "classes"
 * are the arg-max over each flattened row. Immutable once returned; the accessors hand out the backing
 * arrays without copying.
 */
public final class Prediction {
    private final float[] probabilities;
    private final int rows;
    private final int classes;
    private final long[] rowShape;
    private final int[] argmax;

    /**
     * @param probabilities row-major [rows, classes]; kept, not copied
     */
    public Prediction(float[] probabilities, int rows, int classes) {
        this(probabilities, rows, new long[] {classes});
    }

    /**
     * @param values   row-major [rows, *rowShape] in C order; kept, not copied
     * @param rowShape the shape of one row's output, e.g. [10] or [1, 48, 48]
     */
    public Prediction(float[] values, int rows, long[] rowShape) {
        this(values, rows, sizeOf(rowShape), rowShape.clone());
    }

    private Prediction(float[] probabilities, int rows, int classes, long[] rowShape) {
        if (probabilities.length != (long) rows * classes) {
            throw new IllegalArgumentException("probabilities has " + probabilities.length
                    + " values, expected rows * classes = " + rows + " * " + classes);
        }
        this.probabilities = probabilities;
        this.rows = rows;
        this.classes = classes;
        this.rowShape = rowShape;
        this.argmax = new int[rows];
        for (int r = 0; r < rows; r++) {
            int best = 0;
            int base = r * classes;
            for (int c = 1; c < classes; c++) {
                if (probabilities[base + c] > probabilities[base + best]) {
                    best = c;
                }
            }
            argmax[r] = best;
        }
    }

    public int rows() {
        return rows;
    }

    /** Floats per row: the classes of an [N, classes] output, else the product of {@link #rowShape()}. */
    public int numClasses() {
        return classes;
    }

    /** The shape of one row's output, e.g. [10] or [1, 48, 48] (a copy). */
    public long[] rowShape() {
        return rowShape.clone();
    }

    private static int sizeOf(long[] shape) {
        long size = 1;
        for (long d : shape) {
            if (d <= 0) {
                throw new IllegalArgumentException("row shape " + Arrays.toString(shape) + " has a dimension <= 0");
            }
            size *= d;
        }
        if (size > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("row shape " + Arrays.toString(shape) + " is too large");
        }
        return (int) size;
    }

    /** Row-major [rows, classes] probabilities (the backing array: do not modify). */
    public float[] flatProbabilities() {
        return probabilities;
    }

    /** Probabilities of one row (a copy). */
    public float[] probabilities(int row) {
        checkRow(row);
        return Arrays.copyOfRange(probabilities, row * classes, (row + 1) * classes);
    }

    /** Probabilities as [rows][classes] (copies). */
    public float[][] probabilities() {
        float[][] out = new float[rows][];
        for (int r = 0; r < rows; r++) {
            out[r] = probabilities(r);
        }
        return out;
    }

    /** Arg-max class index of each row; ties go to the lowest index (like numpy.argmax). */
    public int[] classes() {
        return argmax;
    }

    public int classOf(int row) {
        checkRow(row);
        return argmax[row];
    }

    private void checkRow(int row) {
        if (row < 0 || row >= rows) {
            throw new IndexOutOfBoundsException("row=" + row + ", expected 0 <= row < " + rows);
        }
    }

    @Override
    public String toString() {
        return "Prediction[rows=" + rows + ", row shape=" + Arrays.toString(rowShape) + "]";
    }
}
