package ai.dl4jbridge.runtime.service;

import ai.dl4jbridge.runtime.OnnxPredictor;
import ai.dl4jbridge.runtime.Predictor;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The models a command line names: repeatable {@code --model [NAME=]PATH}, and/or a Triton-style
 * {@code --model-repository DIR} (DIR/NAME/VERSION/model.onnx, the highest numeric VERSION served, or
 * DIR/NAME/model.onnx as version 1; DIR/NAME/config.json may set max_batch_size and
 * max_queue_delay_microseconds, and without it Triton's DIR/NAME/config.pbtxt does: max_batch_size, batching
 * requests together only with a dynamic_batching stanza, as Triton does; see TritonConfig).
 *
 * <p>Confined: a model folder, version folder, model.onnx, config.json or config.pbtxt that resolves through a symbolic link to
 * somewhere outside DIR is refused by name (links inside DIR are followed); so is a version folder whose name is not
 * a positive integer.
 */
final class ModelRepository {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");
    private static final Pattern VERSION = Pattern.compile("[1-9][0-9]{0,17}");
    private static final ObjectMapper JSON = new ObjectMapper();

    private ModelRepository() {}

    /** Loads every model; on any failure closes the ones loaded and throws with a one-line message. */
    static List<ServedModel> load(ServiceOptions options) {
        Map<String, ServedModel> models = new LinkedHashMap<>();
        try {
            for (String spec : options.models) {
                int eq = spec.indexOf('=');
                String name = eq > 0 ? spec.substring(0, eq) : null;
                Path path = Path.of(eq > 0 ? spec.substring(eq + 1) : spec);
                add(models, name, "1", path, null, options);
            }
            if (options.repository != null) {
                for (Entry e : scan(options.repository)) {
                    add(models, e.name, e.version, e.path, e.batching, options);
                }
            }
        } catch (RuntimeException e) {
            models.values().forEach(ServedModel::close);
            throw e;
        }
        return new ArrayList<>(models.values());
    }

    private static void add(
            Map<String, ServedModel> models,
            String name,
            String version,
            Path path,
            BatchSettings batching,
            ServiceOptions options) {
        if (name != null) {
            checkName(name, path);
        }
        if (name != null && models.containsKey(name)) {
            throw new IllegalArgumentException("model name '" + name + "' is given twice (" + path + ")");
        }
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException("model file " + path + " does not exist or is not a file");
        }
        Predictor predictor = OnnxPredictor.builder()
                .setModel(path)
                .optExecutionProvider(options.provider)
                .optNanPolicy(options.nanPolicy)
                .optIntraOpThreads(options.intraOpThreads)
                .build();
        String served = name != null ? name : predictor.info().name();
        if (!NAME.matcher(served).matches() || models.containsKey(served)) {
            predictor.close();
            throw new IllegalArgumentException(
                    models.containsKey(served)
                            ? "two models are named '" + served + "'; name them: --model NAME=" + path
                            : "model " + path + " is named '" + served
                                    + "', which cannot be a URL path segment; name it: --model NAME=" + path);
        }
        BatchSettings settings =
                options.modelBatch.containsKey(served) || batching == null ? options.batchFor(served) : batching;
        models.put(served, new ServedModel(served, version, predictor, settings, options.nanPolicy));
    }

    private static void checkName(String name, Path path) {
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("model name '" + name + "' (for " + path + ") must be 1-64 of"
                    + " A-Z a-z 0-9 _ . - starting with a letter or digit");
        }
    }

    static final class Entry {
        final String name;
        final String version;
        final Path path;
        final BatchSettings batching;

        Entry(String name, String version, Path path, BatchSettings batching) {
            this.name = name;
            this.version = version;
            this.path = path;
            this.batching = batching;
        }
    }

    static List<Entry> scan(Path root) {
        if (!Files.isDirectory(root)) {
            throw new IllegalArgumentException("--model-repository " + root + " is not a folder");
        }
        List<Entry> entries = new ArrayList<>();
        try {
            Path home = root.toRealPath();
            try (Stream<Path> dirs = Files.list(root)) {
                for (Path dir : (Iterable<Path>) dirs.filter(Files::isDirectory).sorted()::iterator) {
                    String name = dir.getFileName().toString();
                    if (name.startsWith(".")) {
                        continue;
                    }
                    checkName(name, dir);
                    confined(dir, home, "model folder");
                    String version = versionOf(dir, home);
                    Path file = confined(modelFile(dir, version), home, "model file");
                    entries.add(new Entry(name, version, file, config(dir, home)));
                }
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read --model-repository " + root + ": " + e.getMessage(), e);
        }
        if (entries.isEmpty()) {
            throw new IllegalArgumentException(
                    "--model-repository " + root + " has no model folders (expected NAME/1/model.onnx)");
        }
        return entries;
    }

    /** {@code path}, unless it resolves (through symbolic links) outside the repository: then a refusal naming it. */
    private static Path confined(Path path, Path home, String what) throws IOException {
        Path real = path.toRealPath();
        if (!real.startsWith(home)) {
            throw new IllegalArgumentException(what + " " + path + " is a symbolic link to " + real
                    + ", outside the --model-repository " + home + ": refused (copy it into the repository)");
        }
        return path;
    }

    /**
     * The highest VERSION folder holding a model.onnx ("1" when none). Every folder but hidden ones must be named
     * by a positive integer (at most 18 digits): the others are refused by name, never silently skipped.
     */
    private static String versionOf(Path dir, Path home) throws IOException {
        long best = -1;
        List<String> misnamed = new ArrayList<>();
        try (Stream<Path> children = Files.list(dir)) {
            for (Path child : (Iterable<Path>) children.sorted()::iterator) {
                String v = child.getFileName().toString();
                if (!Files.isDirectory(child) || v.startsWith(".")) {
                    continue;
                }
                if (!VERSION.matcher(v).matches()) {
                    misnamed.add(v);
                    continue;
                }
                confined(child, home, "version folder");
                if (Files.isRegularFile(child.resolve("model.onnx"))) {
                    best = Math.max(best, Long.parseLong(v));
                }
            }
        }
        if (!misnamed.isEmpty()) {
            throw new IllegalArgumentException("model folder " + dir + " has version folders that are not positive"
                    + " integers: " + String.join(", ", misnamed) + " (versions are named 1, 2, 3, ..., at most 18"
                    + " digits)");
        }
        return best >= 0 ? Long.toString(best) : "1";
    }

    private static Path modelFile(Path dir, String version) {
        Path versioned = dir.resolve(version).resolve("model.onnx");
        if (Files.isRegularFile(versioned)) {
            return versioned;
        }
        Path flat = dir.resolve("model.onnx");
        if (Files.isRegularFile(flat)) {
            return flat;
        }
        throw new IllegalArgumentException("model folder " + dir + " has no VERSION/model.onnx nor model.onnx");
    }

    private static BatchSettings config(Path dir, Path home) {
        Path file = dir.resolve("config.json");
        if (!Files.isRegularFile(file)) {
            return tritonConfig(dir, home);
        }
        try {
            confined(file, home, "config file");
            JsonNode config = JSON.readTree(file.toFile());
            if (config == null || !config.isObject()) {
                throw new IllegalArgumentException(file + " must hold a JSON object");
            }
            int rows = intField(config, "max_batch_size", 0, 1 << 16, file);
            int delay = intField(config, "max_queue_delay_microseconds", 200, 1_000_000, file);
            return new BatchSettings(rows, delay);
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    file + " is not valid JSON: "
                            + (e instanceof com.fasterxml.jackson.core.JsonProcessingException
                                    ? ((com.fasterxml.jackson.core.JsonProcessingException) e).getOriginalMessage()
                                    : e.getMessage()),
                    e);
        }
    }

    /** Triton's DIR/NAME/config.pbtxt (bridge.export_triton writes one), when there is no config.json. */
    private static BatchSettings tritonConfig(Path dir, Path home) {
        Path file = dir.resolve("config.pbtxt");
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            confined(file, home, "config file");
            return TritonConfig.batching(Files.readString(file), file.toString());
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static int intField(JsonNode config, String field, int fallback, int max, Path file) {
        JsonNode v = config.get(field);
        if (v == null) {
            return fallback;
        }
        if (!v.canConvertToInt() || !v.isIntegralNumber() || v.asInt() < 0 || v.asInt() > max) {
            throw new IllegalArgumentException(
                    file + ": \"" + field + "\" must be an integer in [0, " + max + "], got " + v);
        }
        return v.asInt();
    }
}
