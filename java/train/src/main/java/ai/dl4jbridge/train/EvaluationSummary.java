package ai.dl4jbridge.train;

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

    public EvaluationSummary(Evaluation evaluation, int numClasses) {
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
}
