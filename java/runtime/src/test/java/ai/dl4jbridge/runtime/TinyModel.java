package ai.dl4jbridge.runtime;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Random;

/**
 * The tiny test model (src/test/python/make_tiny_model.py): softmax(x . W + b) with
 * W[i, j] = sin(0.37 i + 1.3 j) / 10 and b[j] = (j - 4.5) / 20. Expected outputs are computed here in
 * double precision, independently of ONNX Runtime.
 */
public final class TinyModel {
    public static final String RESOURCE = "ai/dl4jbridge/runtime/tiny.onnx";
    public static final int IN = 784;
    public static final int OUT = 10;

    private TinyModel() {}

    public static Path path() {
        try {
            return Paths.get(
                    TinyModel.class.getClassLoader().getResource(RESOURCE).toURI());
        } catch (java.net.URISyntaxException | NullPointerException e) {
            throw new AssertionError("test resource " + RESOURCE + " is missing: run make_tiny_model.py", e);
        }
    }

    public static float[][] inputs(int rows, long seed) {
        Random random = new Random(seed);
        float[][] x = new float[rows][IN];
        for (float[] row : x) {
            for (int i = 0; i < IN; i++) {
                row[i] = random.nextInt(256) / 255f;
            }
        }
        return x;
    }

    public static double[] expected(float[] x) {
        double[] logits = new double[OUT];
        for (int j = 0; j < OUT; j++) {
            float acc = 0;
            double sum = 0;
            for (int i = 0; i < IN; i++) {
                float w = (float) (Math.sin(0.37 * i + 1.3 * j) / 10);
                sum += (double) x[i] * w;
            }
            logits[j] = sum + (float) ((j - 4.5) / 20);
        }
        double max = Double.NEGATIVE_INFINITY;
        for (double v : logits) {
            max = Math.max(max, v);
        }
        double total = 0;
        for (int j = 0; j < OUT; j++) {
            logits[j] = Math.exp(logits[j] - max);
            total += logits[j];
        }
        for (int j = 0; j < OUT; j++) {
            logits[j] /= total;
        }
        return logits;
    }
}
