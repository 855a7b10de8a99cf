package ai.dl4jbridge.runtime.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.dl4jbridge.runtime.TinyModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --model-repository's folder rules: symbolic links out of the repository and misnamed versions are refused. */
class ModelRepositoryTest {
    @TempDir
    Path tmp;

    private Path repository() throws IOException {
        Path repo = Files.createDirectories(tmp.resolve("repo"));
        Files.copy(
                TinyModel.path(),
                Files.createDirectories(repo.resolve("digits/2")).resolve("model.onnx"));
        return repo;
    }

    private Path outside() throws IOException {
        Path elsewhere = Files.createDirectories(tmp.resolve("elsewhere/3"));
        Files.copy(TinyModel.path(), elsewhere.resolve("model.onnx"));
        return elsewhere;
    }

    private static String refusal(Path repo) {
        return assertThrows(IllegalArgumentException.class, () -> ModelRepository.scan(repo))
                .getMessage();
    }

    @Test
    void aPlainRepositoryAndLinksInsideItAreServed() throws IOException {
        Path repo = repository();
        Files.createSymbolicLink(repo.resolve("alias"), repo.resolve("digits"));
        List<ModelRepository.Entry> entries = ModelRepository.scan(repo);
        assertEquals(2, entries.size());
        assertEquals("alias", entries.get(0).name);
        assertEquals("2", entries.get(1).version);
    }

    @Test
    void linksOutOfTheRepositoryAreRefusedByName() throws IOException {
        Path repo = repository();
        Path elsewhere = outside();
        Files.createSymbolicLink(repo.resolve("stolen"), elsewhere.getParent());
        String refused = refusal(repo);
        assertTrue(refused.contains("model folder " + repo.resolve("stolen") + " is a symbolic link to"), refused);
        assertTrue(refused.contains("outside the --model-repository"), refused);

        repo = Files.createDirectories(tmp.resolve("repo2"));
        Files.createDirectories(repo.resolve("digits"));
        Files.createSymbolicLink(repo.resolve("digits/3"), elsewhere);
        refused = refusal(repo);
        assertTrue(refused.contains("version folder " + repo.resolve("digits/3") + " is a symbolic link"), refused);

        repo = Files.createDirectories(tmp.resolve("repo3"));
        Files.createSymbolicLink(
                Files.createDirectories(repo.resolve("digits/1")).resolve("model.onnx"),
                elsewhere.resolve("model.onnx"));
        refused = refusal(repo);
        assertTrue(
                refused.contains("model file " + repo.resolve("digits/1/model.onnx") + " is a symbolic link"), refused);
    }

    @Test
    void versionFoldersThatAreNotPositiveIntegersAreNamed() throws IOException {
        Path repo = repository();
        for (String bad : List.of("-2", "abc", "0", "99999999999999999999")) {
            Files.createDirectories(repo.resolve("digits").resolve(bad));
        }
        Files.createDirectories(repo.resolve("digits/.cache"));
        String refused = refusal(repo);
        assertTrue(
                refused.contains(
                        "has version folders that are not positive integers: -2, 0, 99999999999999999999," + " abc"),
                refused);
    }

    private static BatchSettings batching(Path repo) {
        return ModelRepository.scan(repo).get(0).batching;
    }

    @Test
    void tritonConfigPbtxtSetsBatchingAndConfigJsonWins() throws IOException {
        Path repo = repository();
        Path config = repo.resolve("digits/config.pbtxt");
        Files.writeString(
                config,
                "name: \"digits\"  # Triton's ModelConfig\nplatform: \"onnxruntime_onnx\"\nmax_batch_size: 8\n"
                        + "input [ { name: \"input\" data_type: TYPE_FP32 dims: [ 784 ] } ]\n"
                        + "output [ { name: \"probabilities\" data_type: TYPE_FP32 dims: [ 10 ]"
                        + " label_filename: \"labels.txt\" } ]\n"
                        + "dynamic_batching { max_queue_delay_microseconds: 300 }\n");
        assertEquals(8, batching(repo).maxRows);
        assertEquals(300, batching(repo).maxDelayMicros);

        Files.writeString(config, "max_batch_size: 8\ninstance_group [ { count: 1, kind: KIND_CPU } ]\n");
        assertEquals(0, batching(repo).maxRows, "no dynamic_batching stanza: no batching, as in Triton");

        Files.writeString(repo.resolve("digits/config.json"), "{\"max_batch_size\": 4}");
        assertEquals(4, batching(repo).maxRows, "config.json, the service's own, wins");
        Files.delete(repo.resolve("digits/config.json"));

        Files.writeString(config, "max_batch_size: 8\ndynamic_batching { max_queue_delay_microseconds: 3 \n");
        String refused = refusal(repo);
        assertTrue(refused.contains(config + " is not a valid Triton config.pbtxt"), refused);
        Files.writeString(config, "max_batch_size: 100000 dynamic_batching { }");
        refused = refusal(repo);
        assertTrue(refused.contains("max_batch_size must be an integer in [0, 65536], got 100000"), refused);
    }
}
