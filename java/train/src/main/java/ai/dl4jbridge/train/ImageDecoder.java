package ai.dl4jbridge.train;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.Iterator;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * The JVM twin of the Python image decoder (bridge/data/images.py, which bridge.data.load_image_folder and
 * `dl4j-bridge predict` use), for images decoded on Spark executors: the same pixels, bit for bit. An image becomes
 * float32 (height, width, channels) in [0, 1] (pixel / 255): converted to grey (ITU-R 601-2 luma, as Pillow's
 * convert("L")) or RGB, then resized with Pillow's bilinear resampling (its antialiasing filter, fixed-point
 * coefficients and two passes, horizontal first) when a size is given.
 *
 * <p>Java's ImageIO reads PNG, JPEG, BMP, GIF and TIFF; 8-bit samples (and palettes, and 1-, 2- or 4-bit greys) are
 * decoded, other depths and formats are refused with a message naming the image.
 */
public final class ImageDecoder {
    /** A decompression bomb is refused before its pixels are decoded (Python: MAX_IMAGE_PIXELS). */
    public static final long MAX_PIXELS = 50_000_000L;

    private static final int PRECISION_BITS = 32 - 8 - 2;

    static {
        ImageIO.setUseCache(false); // decode in memory, never through temporary files
    }

    private ImageDecoder() {}

    /**
     * One encoded image as float32 [height * width * channels] (rows, then columns, then channels), in [0, 1].
     * height, width: the size to resize to, or 0 for the image's own. name: how messages name the image.
     */
    public static float[] decode(byte[] encoded, int channels, int height, int width, String name) {
        if (channels != 1 && channels != 3) {
            throw new IllegalArgumentException(
                    "images decode to 1 (grey) or 3 (RGB) channels; " + channels + " were asked for (" + name + ")");
        }
        BufferedImage image = read(encoded, name);
        int w = image.getWidth();
        int h = image.getHeight();
        int[] pixels = channels == 1 ? grey(image, name) : rgb(image, name);
        if (height > 0 && width > 0 && (height != h || width != w)) {
            pixels = resize(pixels, w, h, channels, width, height);
        }
        float[] out = new float[pixels.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) pixels[i] / 255.0f;
        }
        return out;
    }

    private static BufferedImage read(byte[] encoded, String name) {
        try (ImageInputStream input = ImageIO.createImageInputStream(new ByteArrayInputStream(encoded))) {
            Iterator<ImageReader> readers = input == null ? null : ImageIO.getImageReaders(input);
            if (readers == null || !readers.hasNext()) {
                throw new IllegalArgumentException(name + ": cannot be read as an image (not a format Java's ImageIO"
                        + " reads on executors: PNG, JPEG, BMP, GIF, TIFF)");
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(input, true, true);
                long pixels = (long) reader.getWidth(0) * reader.getHeight(0);
                if (pixels > MAX_PIXELS) {
                    throw new IllegalArgumentException(name + ": cannot be read as an image (" + pixels
                            + " pixels, more than the " + MAX_PIXELS + " allowed: a decompression bomb?)");
                }
                return reader.read(0);
            } finally {
                reader.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof IllegalArgumentException
                    && String.valueOf(e.getMessage()).startsWith(name)) {
                throw (IllegalArgumentException) e;
            }
            throw new IllegalArgumentException(name + ": cannot be read as an image (" + e + ")");
        }
    }

    /** Interleaved 8-bit RGB, as Pillow's convert("RGB"): palettes looked up, grey repeated, alpha dropped. */
    static int[] rgb(BufferedImage image, String name) {
        int w = image.getWidth();
        int h = image.getHeight();
        int[] out = new int[w * h * 3];
        Sampler sampler = sampler(image, name);
        for (int y = 0, i = 0; y < h; y++) {
            for (int x = 0; x < w; x++, i += 3) {
                sampler.rgb(x, y, out, i);
            }
        }
        return out;
    }

    /** 8-bit grey, as Pillow's convert("L"): a grey image as it is, colours by (299 R + 587 G + 114 B) / 1000 in
     * Pillow's fixed point. */
    static int[] grey(BufferedImage image, String name) {
        int w = image.getWidth();
        int h = image.getHeight();
        int[] out = new int[w * h];
        int[] pixel = new int[3];
        Sampler sampler = sampler(image, name);
        for (int y = 0, i = 0; y < h; y++) {
            for (int x = 0; x < w; x++, i++) {
                if (sampler.grey) {
                    out[i] = sampler.raster.getSample(x, y, 0);
                } else {
                    sampler.rgb(x, y, pixel, 0);
                    out[i] = (pixel[0] * 19595 + pixel[1] * 38470 + pixel[2] * 7471 + 0x8000) >> 16;
                }
            }
        }
        return out;
    }

    /** Reads raw samples (never ImageIO's colour-managed getRGB, which changes grey values). */
    private static final class Sampler {
        final Raster raster;
        final IndexColorModel palette;
        final boolean grey;

        Sampler(Raster raster, IndexColorModel palette, boolean grey) {
            this.raster = raster;
            this.palette = palette;
            this.grey = grey;
        }

        void rgb(int x, int y, int[] into, int at) {
            if (palette != null) {
                int index = raster.getSample(x, y, 0);
                into[at] = palette.getRed(index);
                into[at + 1] = palette.getGreen(index);
                into[at + 2] = palette.getBlue(index);
            } else if (grey) {
                Arrays.fill(into, at, at + 3, raster.getSample(x, y, 0));
            } else {
                for (int b = 0; b < 3; b++) {
                    into[at + b] = raster.getSample(x, y, b);
                }
            }
        }
    }

    private static Sampler sampler(BufferedImage image, String name) {
        ColorModel model = image.getColorModel();
        Raster raster = image.getRaster();
        if (model instanceof IndexColorModel) {
            return new Sampler(raster, (IndexColorModel) model, false);
        }
        int colours = model.getNumColorComponents();
        boolean grey = colours == 1 || model.getColorSpace().getType() == ColorSpace.TYPE_GRAY;
        if ((colours != 1 && colours != 3) || model.getColorSpace().getType() == ColorSpace.TYPE_CMYK) {
            throw new IllegalArgumentException(name + ": cannot be read as an image (" + colours
                    + " colour components; grey, RGB and palette images are decoded on executors)");
        }
        for (int size : model.getComponentSize()) {
            if (size != 8) {
                throw new IllegalArgumentException(name + ": cannot be read as an image (" + size
                        + "-bit samples; 8-bit and palette images are decoded on executors: convert it to 8 bits)");
            }
        }
        return new Sampler(raster, null, grey);
    }

    /**
     * Pillow's bilinear resize on 8-bit interleaved pixels (its ImagingResampleInner, Pillow 13): two separable
     * passes, each skipped where its side keeps its size. Horizontal first (over just the rows the vertical pass
     * reads), unless the height shrinks by more than twice what the width shrinks: then vertical first. The 8-bit
     * intermediate image rounds differently in the two orders, so the order is Pillow's exactly.
     */
    static int[] resize(int[] pixels, int w, int h, int channels, int width, int height) {
        boolean horizontalFirst = !(h - height > 0 && h - height > (w - width) * 2);
        if (!horizontalFirst) {
            int[] shorter = vertical(pixels, w, h, channels, height, new Coefficients(h, height), 0);
            return width == w
                    ? shorter
                    : horizontal(shorter, w, channels, width, new Coefficients(w, width), 0, height);
        }
        Coefficients vertical = new Coefficients(h, height);
        int first = vertical.bounds[0];
        int last = vertical.bounds[2 * (height - 1)] + vertical.bounds[2 * (height - 1) + 1];
        int[] in = pixels;
        int inWidth = w;
        int offset = 0;
        if (width != w) {
            in = horizontal(pixels, w, channels, width, new Coefficients(w, width), first, last - first);
            inWidth = width;
            offset = first;
        }
        return height == h ? in : vertical(in, inWidth, h, channels, height, vertical, offset);
    }

    /** Pillow's horizontal 8-bit pass over `rows` rows of the input from row `first`. */
    private static int[] horizontal(
            int[] in, int w, int channels, int width, Coefficients coefficients, int first, int rows) {
        int[] out = new int[rows * width * channels];
        for (int yy = 0; yy < rows; yy++) {
            for (int xx = 0; xx < width; xx++) {
                int xmin = coefficients.bounds[2 * xx];
                int xmax = coefficients.bounds[2 * xx + 1];
                for (int c = 0; c < channels; c++) {
                    int ss = 1 << (PRECISION_BITS - 1);
                    for (int x = 0; x < xmax; x++) {
                        ss += in[((yy + first) * w + x + xmin) * channels + c]
                                * coefficients.weights[xx * coefficients.size + x];
                    }
                    out[(yy * width + xx) * channels + c] = clip8(ss);
                }
            }
        }
        return out;
    }

    /** Pillow's vertical 8-bit pass; the input's rows start at source row `offset`. */
    private static int[] vertical(
            int[] in, int w, int h, int channels, int height, Coefficients coefficients, int offset) {
        int[] out = new int[height * w * channels];
        for (int yy = 0; yy < height; yy++) {
            int ymin = coefficients.bounds[2 * yy] - offset;
            int ymax = coefficients.bounds[2 * yy + 1];
            for (int xx = 0; xx < w; xx++) {
                for (int c = 0; c < channels; c++) {
                    int ss = 1 << (PRECISION_BITS - 1);
                    for (int y = 0; y < ymax; y++) {
                        ss += in[((y + ymin) * w + xx) * channels + c]
                                * coefficients.weights[yy * coefficients.size + y];
                    }
                    out[(yy * w + xx) * channels + c] = clip8(ss);
                }
            }
        }
        return out;
    }

    private static int clip8(int value) {
        int v = value >> PRECISION_BITS;
        return v < 0 ? 0 : Math.min(v, 255);
    }

    /** Pillow's precompute_coeffs and normalize_coeffs_8bpc for the bilinear filter (support 1), box (0, inSize). */
    private static final class Coefficients {
        final int size;
        final int[] bounds;
        final int[] weights;

        Coefficients(int inSize, int outSize) {
            double scale = (double) ((float) inSize - 0f) / outSize;
            double filterScale = Math.max(scale, 1.0);
            double support = filterScale;
            size = (int) Math.ceil(support) * 2 + 1;
            bounds = new int[outSize * 2];
            weights = new int[outSize * size];
            double[] k = new double[size];
            for (int xx = 0; xx < outSize; xx++) {
                double center = 0f + (xx + 0.5) * scale;
                double ww = 0.0;
                double ss = 1.0 / filterScale;
                int xmin = Math.max(0, (int) (center - support + 0.5));
                int xmax = Math.min(inSize, (int) (center + support + 0.5)) - xmin;
                Arrays.fill(k, 0.0);
                for (int x = 0; x < xmax; x++) {
                    double w = bilinear((x + xmin - center + 0.5) * ss);
                    k[x] = w;
                    ww += w;
                }
                for (int x = 0; x < size; x++) {
                    double v = x < xmax && ww != 0.0 ? k[x] / ww : k[x];
                    weights[xx * size + x] =
                            v < 0 ? (int) (-0.5 + v * (1 << PRECISION_BITS)) : (int) (0.5 + v * (1 << PRECISION_BITS));
                }
                bounds[2 * xx] = xmin;
                bounds[2 * xx + 1] = xmax;
            }
        }

        private static double bilinear(double x) {
            double a = x < 0.0 ? -x : x;
            return a < 1.0 ? 1.0 - a : 0.0;
        }
    }
}
