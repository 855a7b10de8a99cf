package ai.dl4jbridge.runtime;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A model's contract and provenance. Labels, input layout and scaling come from the metadata the
 * exporter writes into the ONNX file (its {@code metadata_props}); each is empty when the file has none.
 */
public final class ModelInfo {
    private final String name;
    private final String engine;
    private final ExecutionProvider provider;
    private final String inputName;
    private final long[] inputShape;
    private final String outputName;
    private final long[] outputShape;
    private final int numClasses;
    private final List<String> labels;
    private final Map<String, String> metadata;

    /** A classifier: output [N, numClasses]. */
    public ModelInfo(
            String name,
            String engine,
            ExecutionProvider provider,
            String inputName,
            long[] inputShape,
            String outputName,
            int numClasses,
            List<String> labels,
            Map<String, String> metadata) {
        this(name, engine, provider, inputName, inputShape, outputName, new long[] {-1, numClasses}, labels, metadata);
    }

    /**
     * Any model with one input and one output.
     *
     * @param inputShape  the input's shape with -1 for the batch dimension, e.g. [-1, 3, 48, 48]
     * @param outputShape the output's shape with -1 for the batch dimension, e.g. [-1, 10] or [-1, 1, 48, 48]
     */
    public ModelInfo(
            String name,
            String engine,
            ExecutionProvider provider,
            String inputName,
            long[] inputShape,
            String outputName,
            long[] outputShape,
            List<String> labels,
            Map<String, String> metadata) {
        this.name = name;
        this.engine = engine;
        this.provider = provider;
        this.inputName = inputName;
        this.inputShape = inputShape.clone();
        this.outputName = outputName;
        this.outputShape = outputShape.clone();
        this.numClasses = product(outputShape);
        this.labels = Collections.unmodifiableList(new ArrayList<>(labels));
        this.metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }

    /** The model's name (metadata "model_name", else the ONNX graph name, else the file name). */
    public String name() {
        return name;
    }

    /** The engine and its version, e.g. "onnxruntime 1.29.0" or "deeplearning4j 1.0.0-M2.1". */
    public String engine() {
        return engine;
    }

    /** The execution provider that runs the model (the one requested: there is no silent fallback). */
    public ExecutionProvider provider() {
        return provider;
    }

    public String inputName() {
        return inputName;
    }

    /** The model's input shape with -1 for the batch dimension, e.g. [-1, 784] or [-1, 3, 48, 48]. */
    public long[] inputShape() {
        return inputShape.clone();
    }

    /** Floats per row: the product of the input shape's non-batch dimensions (C * H * W for an image). */
    public int inputSize() {
        return product(inputShape);
    }

    /** The model's output shape with -1 for the batch dimension, e.g. [-1, 10] or [-1, 1, 48, 48]. */
    public long[] outputShape() {
        return outputShape.clone();
    }

    /** Floats per output row: the product of the output shape's non-batch dimensions. */
    public int outputSize() {
        return numClasses;
    }

    /** True for an output [N, classes]: one vector per row, whose arg-max is a class. */
    public boolean isClassifier() {
        return outputShape.length == 2;
    }

    private static int product(long[] shape) {
        long size = 1;
        for (int i = 1; i < shape.length; i++) {
            size *= shape[i];
        }
        return (int) size;
    }

    public String outputName() {
        return outputName;
    }

    /** Classes of an [N, classes] output; for other outputs, the floats per output row ({@link #outputSize()}). */
    public int numClasses() {
        return numClasses;
    }

    /** Class labels in output order; empty when the model carries none. */
    public List<String> labels() {
        return labels;
    }

    /** The label of class {@code index}, or its number as text when the model has no labels. */
    public String label(int index) {
        return index >= 0 && index < labels.size() ? labels.get(index) : Integer.toString(index);
    }

    /** How a row is laid out, e.g. "NCHW [N,3,48,48]"; from metadata "input_layout". */
    public Optional<String> inputLayout() {
        return Optional.ofNullable(firstOf("input_layout", "layout"));
    }

    /** How raw pixels are scaled, e.g. "uint8 / 255"; from metadata "input_scaling". */
    public Optional<String> inputScaling() {
        return Optional.ofNullable(firstOf("input_scaling", "scaling", "input_scale"));
    }

    /** Every custom metadata property of the model file, as written. */
    public Map<String, String> metadata() {
        return metadata;
    }

    private String firstOf(String... keys) {
        for (String key : keys) {
            String value = metadata.get(key);
            if (value != null && !value.isEmpty()) {
                return value;
            }
        }
        return null;
    }

    @Override
    public String toString() {
        return "ModelInfo[name=" + name + ", engine=" + engine + ", provider=" + provider + ", input=" + inputName
                + java.util.Arrays.toString(inputShape) + ", output=" + outputName
                + java.util.Arrays.toString(outputShape) + "]";
    }
}
