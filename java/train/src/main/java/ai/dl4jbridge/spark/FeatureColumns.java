package ai.dl4jbridge.spark;

import ai.dl4jbridge.runtime.ModelInfo;
import java.util.Arrays;
import org.apache.spark.ml.attribute.AttributeGroup;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * The driver's checks of a features column before any job runs: it exists, its type is one scoring reads
 * (array&lt;float|double&gt;, nested as the model's input or flat, or an ML Vector), and its width, where the schema
 * states it (ML attribute metadata of a Vector, or {@link OnnxScoring#SHAPE_METADATA}), is the model's.
 */
final class FeatureColumns {
    private FeatureColumns() {}

    static void check(StructType schema, String column, ModelInfo info) {
        long[] rowShape = OnnxScoring.rowShape(info);
        long size = Arrays.stream(rowShape).reduce(1, (a, b) -> a * b);
        String[] names = schema.fieldNames();
        int index = Arrays.asList(names).indexOf(column);
        if (index < 0) {
            throw new IllegalArgumentException("the DataFrame has no column '" + column + "'; its columns are "
                    + Arrays.toString(names) + ". Name the features column (features=...)");
        }
        StructField field = schema.fields()[index];
        String wanted = "expected array<float> or array<double> of " + size + " values per row"
                + (rowShape.length > 1 ? ", arrays nested as " + Arrays.toString(rowShape) : "")
                + ", or an ML Vector (model '" + info.name() + "', input " + Arrays.toString(info.inputShape()) + ")";
        if (field.dataType().equals(SQLDataTypes.VectorType())) {
            int width = AttributeGroup.fromStructField(field).size();
            if (width >= 0 && width != size) {
                throw new IllegalArgumentException(
                        "column '" + column + "' holds ML Vectors of " + width + " values (its metadata); " + wanted);
            }
            return;
        }
        DataType type = field.dataType();
        int depth = 0;
        while (type instanceof ArrayType) {
            type = ((ArrayType) type).elementType();
            depth++;
        }
        if (depth == 0 || !(type.equals(DataTypes.FloatType) || type.equals(DataTypes.DoubleType))) {
            throw new IllegalArgumentException(
                    "column '" + column + "' is " + field.dataType().simpleString() + "; " + wanted);
        }
        if (depth > 1 && rowShape.length > 1 && depth != rowShape.length) {
            throw new IllegalArgumentException("column '" + column + "' is "
                    + field.dataType().simpleString() + " (" + depth + " levels of arrays); " + wanted);
        }
        if (field.metadata().contains(OnnxScoring.SHAPE_METADATA)) {
            long[] declared = field.metadata().getLongArray(OnnxScoring.SHAPE_METADATA);
            long width = Arrays.stream(declared).reduce(1, (a, b) -> a * b);
            boolean fits = depth == 1 || rowShape.length == 1 ? width == size : Arrays.equals(declared, rowShape);
            if (!fits) {
                throw new IllegalArgumentException("column '" + column + "' holds rows of shape "
                        + Arrays.toString(declared) + " (its metadata); " + wanted
                        + FeatureValues.hint(rowShape, declared));
            }
        }
    }
}
