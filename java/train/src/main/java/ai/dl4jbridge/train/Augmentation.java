package ai.dl4jbridge.train;

import java.io.Serializable;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Random image augmentation of training minibatches: crops (resized back), flips, integer shifts, rotations and
 * scaling (one inverse mapping per image, bilinear sampling, zeros outside the image), then brightness,
 * contrast, Gaussian noise and an optional clip. A pure function of (batch, seed): every random draw comes from a
 * SplittableRandom seeded by the seed, the input index and the settings' own seed; new arrays out.
 *
 * <p>Images are [n, C, H, W], [n, H, W, C], or flat C-order rows [n, C*H*W] of an NCHW image (a network built
 * with InputType.convolutionalFlat); see {@link ImageInput}. Inputs without an ImageInput pass through.
 * Serializable (settings only, no arrays) so that Spark can ship it to its executors with the training job.
 */
public final class Augmentation implements BatchTransform, Serializable {
    private static final long serialVersionUID = 1L;
    /** Coordinates this close to a whole pixel are read as that pixel (exact copies for flips, 90-degree turns). */
    private static final double SNAP = 1e-6;

    /** What to draw per image. Zero / false / 1 leave the image as it is. */
    public static final class Settings implements Serializable {
        private static final long serialVersionUID = 1L;
        /** Largest shift in pixels, drawn uniformly from [-max, max] (integers) per axis. */
        public int maxShiftY;

        public int maxShiftX;
        /** Rotation in degrees, drawn uniformly from [low, high]; positive turns counter-clockwise. */
        public double rotationLow;

        public double rotationHigh;
        /** Each applied with probability 1/2. */
        public boolean flipHorizontal;

        public boolean flipVertical;
        /** A random window of this size (0: no crop), resized back to the image size. */
        public int cropHeight;

        public int cropWidth;
        /** Zoom factor drawn uniformly from [low, high]. */
        public double scaleLow = 1.0;

        public double scaleHigh = 1.0;
        /** Added offset drawn from [-brightness, brightness]; contrast factor from [1 - contrast, 1 + contrast]. */
        public double brightness;

        public double contrast;
        /** Standard deviation of added Gaussian noise. */
        public double noise;
        /** Clip the result to [clipLow, clipHigh] when clip is set. */
        public boolean clip;

        public double clipLow;
        public double clipHigh = 1.0;
        /** Mixed into every batch's seed. */
        public long seed;

        boolean geometric() {
            return maxShiftY != 0
                    || maxShiftX != 0
                    || rotationLow != 0
                    || rotationHigh != 0
                    || flipHorizontal
                    || flipVertical
                    || cropHeight != 0
                    || cropWidth != 0
                    || scaleLow != 1.0
                    || scaleHigh != 1.0;
        }

        void check() {
            require(maxShiftY >= 0 && maxShiftX >= 0, "shift must be >= 0");
            require(
                    rotationLow <= rotationHigh && Double.isFinite(rotationLow) && Double.isFinite(rotationHigh),
                    "rotation must be a finite range low <= high");
            require(
                    cropHeight >= 0 && cropWidth >= 0 && (cropHeight == 0) == (cropWidth == 0),
                    "crop must be both sizes > 0, or none");
            require(
                    scaleLow > 0 && scaleLow <= scaleHigh && Double.isFinite(scaleHigh),
                    "scale must be a finite range 0 < low <= high");
            require(brightness >= 0 && Double.isFinite(brightness), "brightness must be >= 0");
            require(contrast >= 0 && contrast < 1, "contrast must be in [0, 1)");
            require(noise >= 0 && Double.isFinite(noise), "noise must be >= 0");
            require(!clip || clipLow < clipHigh, "clip must be a range low < high");
        }
    }

    /** How one network input holds its images. channels/height/width of 0 are read from a 4-d array's shape. */
    public static final class ImageInput implements Serializable {
        private static final long serialVersionUID = 1L;
        public boolean channelsLast;
        public boolean flat;
        public int channels;
        public int height;
        public int width;

        public static ImageInput nchw() {
            return new ImageInput();
        }

        public static ImageInput nhwc() {
            ImageInput input = new ImageInput();
            input.channelsLast = true;
            return input;
        }

        /** Flat C-order rows of a (channels, height, width) image. */
        public static ImageInput flatRows(int channels, int height, int width) {
            ImageInput input = new ImageInput();
            input.flat = true;
            input.channels = channels;
            input.height = height;
            input.width = width;
            return input;
        }
    }

    private final Settings settings;
    private final ImageInput[] inputs;

    /** inputs: one entry per network input, null for an input to leave untouched. */
    public Augmentation(Settings settings, ImageInput... inputs) {
        settings.check();
        this.settings = settings;
        this.inputs = inputs.clone();
    }

    @Override
    public INDArray[] apply(INDArray[] features, long seed) {
        if (features.length != inputs.length) {
            throw new IllegalArgumentException("Augmentation was set up for " + inputs.length
                    + " network input(s), received " + features.length + " array(s)");
        }
        INDArray[] out = new INDArray[features.length];
        for (int i = 0; i < features.length; i++) {
            out[i] = inputs[i] == null ? features[i] : apply(features[i], inputs[i], Seeds.mix(seed, i));
        }
        return out;
    }

    /** One input's batch, augmented with draws from the seed. */
    public INDArray apply(INDArray batch, ImageInput layout, long seed) {
        Shape shape = Shape.of(batch, layout);
        if (shape.height < settings.cropHeight || shape.width < settings.cropWidth) {
            throw new IllegalArgumentException("crop " + settings.cropHeight + "x" + settings.cropWidth
                    + " is larger than the images, " + shape.height + "x" + shape.width);
        }
        float[] in = batch.dup('c').data().asFloat();
        float[] out = new float[in.length];
        SplittableRandom random = new SplittableRandom(Seeds.mix(seed, settings.seed));
        for (int image = 0; image < shape.n; image++) {
            augmentImage(in, out, image * shape.imageSize, shape, random);
        }
        INDArray result = Nd4j.create(out, batch.shape(), 'c');
        return batch.dataType() == DataType.FLOAT ? result : result.castTo(batch.dataType());
    }

    private void augmentImage(float[] in, float[] out, int offset, Shape shape, SplittableRandom random) {
        if (settings.geometric()) {
            Mapping mapping = Mapping.draw(settings, shape, random);
            for (int y = 0; y < shape.height; y++) {
                for (int x = 0; x < shape.width; x++) {
                    mapping.sample(in, out, offset, shape, y, x);
                }
            }
        } else {
            System.arraycopy(in, offset, out, offset, shape.imageSize);
        }
        photometric(out, offset, shape, random);
    }

    private void photometric(float[] out, int offset, Shape shape, SplittableRandom random) {
        double shift = settings.brightness > 0 ? uniform(random, -settings.brightness, settings.brightness) : 0;
        double factor = settings.contrast > 0 ? uniform(random, 1 - settings.contrast, 1 + settings.contrast) : 1;
        if (factor != 1) {
            double[] means = shape.channelMeans(out, offset);
            for (int k = 0; k < shape.imageSize; k++) {
                double mean = means[shape.channelOf(k)];
                out[offset + k] = (float) ((out[offset + k] - mean) * factor + mean);
            }
        }
        // channel, row, column order whatever the layout: NCHW and NHWC draw the same noise per pixel
        for (int c = 0; c < shape.channels; c++) {
            for (int y = 0; y < shape.height; y++) {
                for (int x = 0; x < shape.width; x++) {
                    int k = offset + shape.index(c, y, x);
                    double v = out[k] + shift;
                    if (settings.noise > 0) {
                        v += settings.noise * gaussian(random);
                    }
                    if (settings.clip) {
                        v = Math.min(settings.clipHigh, Math.max(settings.clipLow, v));
                    }
                    out[k] = (float) v;
                }
            }
        }
    }

    /** A standard normal draw (Box-Muller; the build targets a Java without SplittableRandom.nextGaussian). */
    static double gaussian(SplittableRandom random) {
        double u = 1.0 - random.nextDouble(); // (0, 1]: log(u) is finite
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.nextDouble());
    }

    static double uniform(SplittableRandom random, double low, double high) {
        return low == high ? low : low + (high - low) * random.nextDouble();
    }

    private static void require(boolean condition, String message) {
        if (!condition) {
            throw new IllegalArgumentException(message);
        }
    }

    /** A batch's layout: n images of channels x height x width, channels first or last. */
    static final class Shape {
        final int n;
        final int channels;
        final int height;
        final int width;
        final boolean channelsLast;
        final int imageSize;

        Shape(int n, int channels, int height, int width, boolean channelsLast) {
            this.n = n;
            this.channels = channels;
            this.height = height;
            this.width = width;
            this.channelsLast = channelsLast;
            this.imageSize = channels * height * width;
        }

        static Shape of(INDArray batch, ImageInput layout) {
            long[] s = batch.shape();
            if (layout.flat) {
                long width = (long) layout.channels * layout.height * layout.width;
                require(
                        s.length == 2 && s[1] == width,
                        "expected flat image rows [n, " + width + "] ("
                                + layout.channels + "x" + layout.height + "x" + layout.width + "), received "
                                + java.util.Arrays.toString(s));
                return new Shape((int) s[0], layout.channels, layout.height, layout.width, false);
            }
            String order = layout.channelsLast ? "[n, H, W, C]" : "[n, C, H, W]";
            require(
                    s.length == 4,
                    "expected a rank-4 batch of images " + order + ", received rank " + s.length + " "
                            + java.util.Arrays.toString(s));
            int c = (int) (layout.channelsLast ? s[3] : s[1]);
            int h = (int) (layout.channelsLast ? s[1] : s[2]);
            int w = (int) (layout.channelsLast ? s[2] : s[3]);
            require(
                    layout.channels == 0 || layout.channels == c,
                    "expected " + layout.channels + " channels " + order + ", received "
                            + java.util.Arrays.toString(s));
            return new Shape((int) s[0], c, h, w, layout.channelsLast);
        }

        int index(int c, int y, int x) {
            return channelsLast ? (y * width + x) * channels + c : (c * height + y) * width + x;
        }

        int channelOf(int k) {
            return channelsLast ? k % channels : k / (height * width);
        }

        double[] channelMeans(float[] data, int offset) {
            double[] sums = new double[channels];
            for (int k = 0; k < imageSize; k++) {
                sums[channelOf(k)] += data[offset + k];
            }
            for (int c = 0; c < channels; c++) {
                sums[c] /= (double) height * width;
            }
            return sums;
        }
    }

    /** One image's inverse mapping: output pixel -> source coordinates. */
    static final class Mapping {
        double cropY;
        double cropX;
        double cropScaleY = 1;
        double cropScaleX = 1;
        boolean flipH;
        boolean flipV;
        int shiftY;
        int shiftX;
        double cos = 1;
        double sin;
        double zoom = 1;

        static Mapping draw(Settings s, Shape shape, SplittableRandom random) {
            Mapping m = new Mapping();
            if (s.cropHeight > 0) {
                m.cropY = random.nextInt(shape.height - s.cropHeight + 1);
                m.cropX = random.nextInt(shape.width - s.cropWidth + 1);
                m.cropScaleY = (double) s.cropHeight / shape.height;
                m.cropScaleX = (double) s.cropWidth / shape.width;
            }
            m.flipH = s.flipHorizontal && random.nextBoolean();
            m.flipV = s.flipVertical && random.nextBoolean();
            m.shiftY = s.maxShiftY > 0 ? random.nextInt(-s.maxShiftY, s.maxShiftY + 1) : 0;
            m.shiftX = s.maxShiftX > 0 ? random.nextInt(-s.maxShiftX, s.maxShiftX + 1) : 0;
            double radians = Math.toRadians(uniform(random, s.rotationLow, s.rotationHigh));
            m.cos = Math.cos(radians);
            m.sin = Math.sin(radians);
            m.zoom = uniform(random, s.scaleLow, s.scaleHigh);
            return m;
        }

        void sample(float[] in, float[] out, int offset, Shape shape, int y, int x) {
            double centerY = (shape.height - 1) / 2.0;
            double centerX = (shape.width - 1) / 2.0;
            // undo the shift, then the rotation and zoom about the centre; y points down, so a counter-clockwise
            // turn on screen takes (dx, dy) to (dx cos + dy sin, dy cos - dx sin), inverted here
            double dy = y - shiftY - centerY;
            double dx = x - shiftX - centerX;
            double sy = (sin * dx + cos * dy) / zoom + centerY;
            double sx = (cos * dx - sin * dy) / zoom + centerX;
            if (flipV) {
                sy = shape.height - 1 - sy;
            }
            if (flipH) {
                sx = shape.width - 1 - sx;
            }
            sy = cropY + window(sy, cropScaleY, shape.height);
            sx = cropX + window(sx, cropScaleX, shape.width);
            for (int c = 0; c < shape.channels; c++) {
                out[offset + shape.index(c, y, x)] = (float) bilinear(in, offset, shape, c, snap(sy), snap(sx));
            }
        }

        /** A coordinate of the resized crop in the crop window's own pixels. Inside the image it is clamped to
         * the window's edge pixels (a resize repeats its edges), outside it stays outside (zeros fill). */
        private static double window(double v, double cropScale, int size) {
            if (cropScale == 1) {
                return v;
            }
            double w = (v + 0.5) * cropScale - 0.5;
            double last = size * cropScale - 1;
            return v >= 0 && v <= size - 1 ? Math.min(last, Math.max(0, w)) : w;
        }

        private static double snap(double v) {
            double r = Math.rint(v);
            return Math.abs(v - r) < SNAP ? r : v;
        }

        private static double bilinear(float[] in, int offset, Shape shape, int c, double y, double x) {
            int y0 = (int) Math.floor(y);
            int x0 = (int) Math.floor(x);
            double fy = y - y0;
            double fx = x - x0;
            double top = pixel(in, offset, shape, c, y0, x0) * (1 - fx)
                    + (fx > 0 ? pixel(in, offset, shape, c, y0, x0 + 1) * fx : 0);
            if (fy == 0) {
                return top;
            }
            double bottom = pixel(in, offset, shape, c, y0 + 1, x0) * (1 - fx)
                    + (fx > 0 ? pixel(in, offset, shape, c, y0 + 1, x0 + 1) * fx : 0);
            return top * (1 - fy) + bottom * fy;
        }

        private static double pixel(float[] in, int offset, Shape shape, int c, int y, int x) {
            if (y < 0 || y >= shape.height || x < 0 || x >= shape.width) {
                return 0; // zeros fill what comes from outside the image
            }
            return in[offset + shape.index(c, y, x)];
        }
    }
}
