package ai.dl4jbridge.spark;

import ai.dl4jbridge.train.Networks;
import ai.dl4jbridge.train.OneDnnHelpers;
import java.io.Serializable;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/**
 * A network's loss and DL4J Evaluation over a DataFrame's minibatches, computed on the executors in one pass and
 * merged on the driver (Evaluation.merge, as DL4J's own Spark evaluation does). The driver broadcasts the
 * configuration and a copy of the parameters, and gets counts back. DL4J's SparkDl4jMultiLayer.doEvaluation is not
 * used: it reads the data through a prefetch thread that, when the data throws (a bad row), dies without telling
 * its reader, and the Spark task then waits forever; and in local mode it closes the broadcast parameters, which
 * are the driver's own array.
 */
final class FrameEvaluation {
    private FrameEvaluation() {}

    /** Loss (the example-weighted mean minibatch score, as local validation computes it) and, for class-index
     * labels, DL4J's Evaluation over numClasses classes (null otherwise). */
    static Result run(JavaSparkContext sc, Model network, JavaRDD<DataSet> data, boolean classes, int numClasses) {
        Broadcast<Snapshot> model = sc.broadcast(new Snapshot(network));
        try {
            Result empty = new Result(classes ? new Evaluation(numClasses) : null);
            return data.mapPartitions(new EvaluatePartition(model, classes, numClasses))
                    .fold(empty, Result::merge);
        } finally {
            model.destroy();
        }
    }

    /** What a result holds: summed scores, examples, and the merged Evaluation. */
    static final class Result implements Serializable {
        private static final long serialVersionUID = 1L;
        double scoreSum;
        long examples;
        Evaluation evaluation;

        Result(Evaluation evaluation) {
            this.evaluation = evaluation;
        }

        double loss() {
            return examples == 0 ? Double.NaN : scoreSum / examples;
        }

        static Result merge(Result a, Result b) {
            Result out = new Result(a.evaluation);
            out.scoreSum = a.scoreSum + b.scoreSum;
            out.examples = a.examples + b.examples;
            if (out.evaluation != null && b.evaluation != null && b.evaluation != a.evaluation) {
                out.evaluation.merge(b.evaluation);
            }
            return out;
        }
    }

    /** The network's configuration and a copy of its parameters: executors build their own network from it. */
    static final class Snapshot implements Serializable {
        private static final long serialVersionUID = 1L;
        private final String configuration;
        private final boolean graph;
        private final INDArray params;

        Snapshot(Model network) {
            this.graph = network instanceof ComputationGraph;
            this.configuration = graph
                    ? ((ComputationGraph) network).getConfiguration().toJson()
                    : ((MultiLayerNetwork) network).getLayerWiseConfigurations().toJson();
            this.params = network.params().dup();
        }

        Model network() {
            if (graph) {
                ComputationGraph net = new ComputationGraph(ComputationGraphConfiguration.fromJson(configuration));
                net.init(params, true);
                return net;
            }
            MultiLayerNetwork net = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(configuration));
            net.init(params, true);
            return net;
        }
    }

    private static final class EvaluatePartition implements FlatMapFunction<Iterator<DataSet>, Result> {
        private static final long serialVersionUID = 1L;
        private final Broadcast<Snapshot> model;
        private final boolean classes;
        private final int numClasses;

        EvaluatePartition(Broadcast<Snapshot> model, boolean classes, int numClasses) {
            this.model = model;
            this.classes = classes;
            this.numClasses = numClasses;
        }

        @Override
        public Iterator<Result> call(Iterator<DataSet> batches) {
            Result result = new Result(classes ? new Evaluation(numClasses) : null);
            if (!batches.hasNext()) {
                return List.of(result).iterator();
            }
            Model net = model.value().network();
            OneDnnHelpers.ensureInstalled(net); // oneDNN's kernels, on the channels-first layers only
            while (batches.hasNext()) {
                DataSet batch = batches.next();
                INDArray[] features = {batch.getFeatures()};
                INDArray[] labels = {batch.getLabels()};
                int n = batch.numExamples();
                result.scoreSum += Networks.score(net, features, labels) * n;
                result.examples += n;
                if (classes) {
                    result.evaluation.eval(labels[0], Networks.output(net, features)[0]);
                }
            }
            return List.of(result).iterator();
        }
    }
}
