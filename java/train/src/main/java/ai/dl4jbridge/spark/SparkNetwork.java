package ai.dl4jbridge.spark;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.api.TrainingMaster;
import org.deeplearning4j.spark.api.stats.SparkTrainingStats;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * DL4J's two Spark wrappers (SparkDl4jMultiLayer, SparkComputationGraph) behind one face. They share a
 * TrainingMaster but no interface; everything else in {@link SparkTrainer} is kind-independent.
 */
abstract class SparkNetwork {
    abstract void fit(JavaRDD<DataSet> data);

    abstract void fitMultiDataSet(JavaRDD<MultiDataSet> data);

    abstract void fitPaths(JavaRDD<String> paths);

    abstract Model trained();

    abstract double score();

    abstract SparkTrainingStats stats();

    /** The DL4J wrapper itself: where workers' listeners (DL4J's training UI) are set. */
    abstract org.deeplearning4j.spark.impl.SparkListenable listenable();

    static SparkNetwork of(JavaSparkContext sc, Model net, TrainingMaster<?, ?> master) {
        if (net instanceof MultiLayerNetwork) {
            return new MultiLayer(new SparkDl4jMultiLayer(sc, (MultiLayerNetwork) net, master));
        }
        if (net instanceof ComputationGraph) {
            return new Graph(new SparkComputationGraph(sc, (ComputationGraph) net, master));
        }
        throw new IllegalArgumentException("expected a MultiLayerNetwork or a ComputationGraph, received "
                + (net == null ? "null" : net.getClass().getName()));
    }

    private static final class MultiLayer extends SparkNetwork {
        private final SparkDl4jMultiLayer spark;

        MultiLayer(SparkDl4jMultiLayer spark) {
            this.spark = spark;
        }

        @Override
        void fit(JavaRDD<DataSet> data) {
            spark.fit(data);
        }

        @Override
        void fitMultiDataSet(JavaRDD<MultiDataSet> data) {
            throw new IllegalArgumentException(
                    "a MultiLayerNetwork has one input and one output: train it on DataSets");
        }

        @Override
        void fitPaths(JavaRDD<String> paths) {
            spark.fitPaths(paths);
        }

        @Override
        Model trained() {
            return spark.getNetwork();
        }

        @Override
        double score() {
            return spark.getScore();
        }

        @Override
        SparkTrainingStats stats() {
            return spark.getSparkTrainingStats();
        }

        @Override
        org.deeplearning4j.spark.impl.SparkListenable listenable() {
            return spark;
        }
    }

    private static final class Graph extends SparkNetwork {
        private final SparkComputationGraph spark;

        Graph(SparkComputationGraph spark) {
            this.spark = spark;
        }

        @Override
        void fit(JavaRDD<DataSet> data) {
            spark.fit(data);
        }

        @Override
        void fitMultiDataSet(JavaRDD<MultiDataSet> data) {
            spark.fitMultiDataSet(data);
        }

        @Override
        void fitPaths(JavaRDD<String> paths) {
            spark.fitPaths(paths);
        }

        @Override
        Model trained() {
            return spark.getNetwork();
        }

        @Override
        double score() {
            return spark.getScore();
        }

        @Override
        SparkTrainingStats stats() {
            return spark.getSparkTrainingStats();
        }

        @Override
        org.deeplearning4j.spark.impl.SparkListenable listenable() {
            return spark;
        }
    }
}
