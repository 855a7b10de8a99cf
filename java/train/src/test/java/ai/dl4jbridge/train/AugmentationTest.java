package ai.dl4jbridge.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Augmentation as the training loop calls it: through BatchTransform, a pure function of batch and seed. */
class AugmentationTest {
    private static INDArray[] batch(long... shape) {
        return new INDArray[] {Nd4j.rand(DataType.FLOAT, shape)};
    }

    private static Augmentation.Settings everything() {
        Augmentation.Settings s = new Augmentation.Settings();
        s.maxShiftY = 2;
        s.maxShiftX = 2;
        s.rotationLow = -15;
        s.rotationHigh = 15;
        s.flipHorizontal = true;
        s.scaleLow = 0.9;
        s.scaleHigh = 1.1;
        s.noise = 0.05;
        return s;
    }

    @Test
    void sameSeedSameBatchOtherSeedOtherBatchInputUntouched() {
        BatchTransform transform = new Augmentation(everything(), Augmentation.ImageInput.nchw());
        INDArray[] in = batch(8, 3, 10, 10);
        INDArray copy = in[0].dup();
        INDArray first = transform.apply(in, 5)[0];
        assertEquals(first, transform.apply(in, 5)[0]);
        assertFalse(first.equalsWithEps(transform.apply(in, 6)[0], 1e-3));
        assertEquals(copy, in[0]);
        assertNotSame(in[0], first);
        assertArrayEquals(in[0].shape(), first.shape());
    }

    @Test
    void flatRowsOfAnImageAreAugmentedAsTheImage() {
        Augmentation.Settings s = new Augmentation.Settings();
        s.flipVertical = true;
        s.rotationLow = 180;
        s.rotationHigh = 180; // a vertical flip then half a turn is a horizontal flip: every image one way or the other
        INDArray images = Nd4j.rand(DataType.FLOAT, 4, 1, 5, 5);
        INDArray flat = new Augmentation(s, Augmentation.ImageInput.flatRows(1, 5, 5))
                .apply(new INDArray[] {images.reshape('c', 4, 25)}, 1)[0];
        INDArray shaped = new Augmentation(s, Augmentation.ImageInput.nchw()).apply(new INDArray[] {images}, 1)[0];
        assertEquals(shaped.reshape('c', 4, 25), flat);
    }

    @Test
    void inputsWithoutImageLayoutPassThroughAndWrongRanksAreRefused() {
        Augmentation augmentation = new Augmentation(everything(), Augmentation.ImageInput.nchw(), null);
        INDArray table = Nd4j.rand(DataType.FLOAT, 2, 7);
        INDArray[] out = augmentation.apply(new INDArray[] {Nd4j.rand(DataType.FLOAT, 2, 1, 6, 6), table}, 3);
        assertTrue(out[1] == table);
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> augmentation.apply(new INDArray[] {table, table}, 3));
        assertTrue(error.getMessage().contains("rank-4"), error.getMessage());
        assertThrows(IllegalArgumentException.class, () -> augmentation.apply(new INDArray[] {table}, 3));
    }

    @Test
    void badSettingsAreRefused() {
        Augmentation.Settings s = new Augmentation.Settings();
        s.scaleLow = 0;
        assertThrows(IllegalArgumentException.class, () -> new Augmentation(s, Augmentation.ImageInput.nchw()));
    }
}
