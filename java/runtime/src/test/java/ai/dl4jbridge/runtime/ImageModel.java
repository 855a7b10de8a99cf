package ai.dl4jbridge.runtime;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Random;

/**
 * The image-shaped test model (src/test/python/make_tiny_model.py): input [N, 3, 8, 8] NCHW, output
 * [N, 1, 8, 8] with out[n, 0, h, w] = sigmoid(sum_c wc[c] x[n, c, h, w] + 0.1), wc = (0.5, -0.25, 1.0).
 * Expected outputs are computed here in double precision, independently of ONNX Runtime.
 */
public final class ImageModel {
    public static final String RESOURCE = "ai/dl4jbridge/runtime/image.onnx";
    public static final int C = 3;
    public static final int H = 8;
    public static final int W = 8;
    public static final int IN = C * H * W;
    public static final int OUT = H * W;
    private static final double[] WC = {0.5, -0.25, 1.0};

    private ImageModel() {}

    public static Path resource(String name) {
        try {
            return Paths.get(ImageModel.class
                    .getClassLoader()
                    .getResource("ai/dl4jbridge/runtime/" + name)
                    .toURI());
        } catch (java.net.URISyntaxException | NullPointerException e) {
            throw new AssertionError("test resource " + name + " is missing: run make_tiny_model.py", e);
        }
    }

    public static Path path() {
        return resource("image.onnx");
    }

    /** n images, NCHW, C order, flattened: [n * 192]. */
    public static float[] images(int n, long seed) {
        Random random = new Random(seed);
        float[] x = new float[n * IN];
        for (int i = 0; i < x.length; i++) {
            x[i] = random.nextFloat() * 2 - 1;
        }
        return x;
    }

    /** The same images channels-last: [n, 8, 8, 3]. */
    public static float[] toNhwc(float[] nchw, int n) {
        float[] out = new float[nchw.length];
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < C; c++) {
                for (int h = 0; h < H; h++) {
                    for (int w = 0; w < W; w++) {
                        out[i * IN + (h * W + w) * C + c] = nchw[i * IN + (c * H + h) * W + w];
                    }
                }
            }
        }
        return out;
    }

    /** Expected output [n, 1, 8, 8], flattened. */
    public static double[] expected(float[] nchw, int n) {
        double[] out = new double[n * OUT];
        for (int i = 0; i < n; i++) {
            for (int p = 0; p < OUT; p++) {
                double logit = 0.1;
                for (int c = 0; c < C; c++) {
                    logit += WC[c] * nchw[i * IN + c * OUT + p];
                }
                out[i * OUT + p] = 1 / (1 + Math.exp(-logit));
            }
        }
        return out;
    }
}
