package ai.dl4jbridge.train;

import java.util.List;
import org.nd4j.evaluation.classification.ConfusionMatrix;
import org.nd4j.evaluation.classification.Evaluation;

/** DL4J's {@link Evaluation} flattened into arrays, so Python reads it in one call. */
public final class EvaluationSummary {
    public final double accuracy;
    public final double[] precision;
    public final double[] recall;
    public final double[] f1;
    /** confusion[actual][predicted] */
    public final int[][] confusion;

    public final String report;

    private final Evaluation evaluation;

    public EvaluationSummary(Evaluation evaluation, int numClasses) {
        this.evaluation = evaluation;
        accuracy = evaluation.accuracy();
        precision = new double[numClasses];
        recall = new double[numClasses];
        f1 = new double[numClasses];
        confusion = new int[numClasses][numClasses];
        ConfusionMatrix<Integer> matrix = evaluation.getConfusionMatrix();
        for (int c = 0; c < numClasses; c++) {
            precision[c] = evaluation.precision(c);
            recall[c] = evaluation.recall(c);
            f1[c] = evaluation.f1(c);
            for (int p = 0; p < numClasses; p++) {
                confusion[c][p] = matrix.getCount(c, p);
            }
        }
        report = evaluation.stats();
    }

    /** DL4J's report with class names beside the confusion matrix's indices (one name per class, in order). */
    public String namedReport(List<String> classNames) {
        if (classNames.size() != confusion.length) {
            throw new IllegalArgumentException(
                    classNames.size() + " class names for an evaluation of " + confusion.length + " classes");
        }
        evaluation.setLabelsList(classNames);
        return evaluation.stats();
    }
}
