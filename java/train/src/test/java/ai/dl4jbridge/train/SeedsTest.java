package ai.dl4jbridge.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Exact resume repeats a run's shuffles and draws only while Seeds.mix keeps these values. */
class SeedsTest {
    // Computed from SplitMix64 as Trainer.mix and Augmentation.mix had it, before they became Seeds.mix.
    @ParameterizedTest(name = "mix({0}, {1})")
    @CsvSource({
        "0, 0, 0x6db6ca64564daeaa",
        "0, 1, 0x6f8aaeac2856bddb",
        "1, 0, 0x5cc60547776902ba",
        "42, 7, 0x04a29d4dbe99a2d8",
        "-1, -1, 0xee911288b2575648",
        "9223372036854775807, -9223372036854775808, 0xd4143a080f05246d",
        "123456789, 2, 0x9622b1cb8b651df3",
    })
    void mixKeepsItsValues(long a, long b, String expected) {
        assertEquals(Long.parseUnsignedLong(expected.substring(2), 16), Seeds.mix(a, b));
    }
}
