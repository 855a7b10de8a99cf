package ai.dl4jbridge.spark;

import java.io.Serializable;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.datasets.iterator.IteratorDataSetIterator;
import org.deeplearning4j.datasets.iterator.IteratorMultiDataSetIterator;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.updater.MultiLayerUpdater;
import org.deeplearning4j.nn.updater.graph.ComputationGraphUpdater;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One parameter-averaging round the way dl4j-bridge runs it (SparkOptions.fastRounds): the same maths as DL4J's
 * ParameterAveragingTrainingMaster (every worker starts from the driver's parameters and updater state, trains its
 * minibatches with the same hooks, and the driver takes the mean of the workers' parameters and updater states), with
 * less fixed cost per round:
 *
 * <ul>
 *   <li>the network's configuration is broadcast once per epoch, and each round broadcasts only the parameters and
 *       the updater state as one float array (DL4J broadcasts configuration, parameters and updater state every
 *       round, serialising the configuration's object graph each time, and never frees its broadcasts);
 *   <li>the workers send back one float array each (DL4J's results carry INDArrays through ND4J's Kryo serializer,
 *       which writes them element by element, and the worker's training stats);
 *   <li>a worker keeps its network from round to round (SparkOptions.keepWorkerNetworks) and only overwrites its
 *       parameters, updater state and counters: DL4J builds a new network in every round, whose first minibatch
 *       also sets up its workspaces and oneDNN helpers again;
 *   <li>the round's broadcast is destroyed once the round is averaged.
 * </ul>
 *
 * The round is still one Spark job of one stage; the results are summed with treeAggregate at DL4J's
 * aggregationDepth. Only float networks take this path (and fits without DL4J training listeners): the caller checks
 * {@link #supports}.
 */
final class AveragingRounds {
    private AveragingRounds() {}

    /** What a round needs from its master: the switches and DL4J's settings. */
    interface Settings {
        boolean keepWorkerNetworks();

        int aggregationDepth();

        boolean saveUpdater();

        int batchSizePerWorker();

        int maxMinibatchesPerWorker();

        Collection<TrainingHook> hooks();
    }

    /** Whether a network can take this path: float parameters and updater state. */
    static boolean supports(Model net, INDArray updaterState) {
        return net.params().dataType() == DataType.FLOAT
                && (updaterState == null || updaterState.dataType() == DataType.FLOAT);
    }

    /**
     * The configuration of one epoch's worker networks, broadcast once per epoch; `generation` names the pool of
     * networks workers keep for it (a new epoch may follow a configuration change, e.g. a learning rate a callback
     * set).
     */
    static final class Blueprint implements Serializable {
        private static final long serialVersionUID = 1L;
        final String generation;
        final MultiLayerConfiguration layers;
        final ComputationGraphConfiguration graph;

        Blueprint(String generation, Model net) {
            this.generation = generation;
            this.layers =
                    net instanceof MultiLayerNetwork ? ((MultiLayerNetwork) net).getLayerWiseConfigurations() : null;
            this.graph = net instanceof ComputationGraph ? ((ComputationGraph) net).getConfiguration() : null;
        }

        /** A new worker network as DL4J's ParameterAveragingTrainingWorker builds one (a clone of the configuration,
         * its own copy of parameters and updater state). */
        Model build(RoundState state) {
            INDArray params = Nd4j.create(state.params, state.paramsShape, 'c');
            if (layers != null) {
                MultiLayerNetwork net = new MultiLayerNetwork(layers.clone());
                net.init(params, false);
                if (state.updater != null) {
                    net.setUpdater(new MultiLayerUpdater(net, Nd4j.create(state.updater, state.updaterShape, 'c')));
                }
                return net;
            }
            ComputationGraph net = new ComputationGraph(graph.clone());
            net.init(params, false);
            if (state.updater != null) {
                net.setUpdater(new ComputationGraphUpdater(net, Nd4j.create(state.updater, state.updaterShape, 'c')));
            }
            return net;
        }
    }

    /** The driver's network at the start of a round: parameters, updater state and counters. */
    static final class RoundState implements Serializable {
        private static final long serialVersionUID = 1L;
        final float[] params;
        final float[] updater;
        final long[] paramsShape;
        final long[] updaterShape;
        final int iterations;
        final int epochs;

        RoundState(Model net, INDArray updaterState) {
            this.params = net.params().toFloatVector();
            this.paramsShape = net.params().shape();
            this.updater = updaterState == null ? null : updaterState.toFloatVector();
            this.updaterShape = updaterState == null ? null : updaterState.shape();
            this.iterations = iterationCount(net);
            this.epochs = epochCount(net);
        }

        /** Overwrite a kept worker network with this state: what building a new one from it would give. */
        void applyTo(Model net) {
            INDArray own = net.params();
            own.assign(Nd4j.create(params, own.shape(), 'c'));
            INDArray view = updaterView(net);
            if (updater != null && view != null) {
                view.assign(Nd4j.create(updater, view.shape(), 'c'));
            }
            if (net instanceof MultiLayerNetwork) {
                MultiLayerConfiguration conf = ((MultiLayerNetwork) net).getLayerWiseConfigurations();
                conf.setIterationCount(iterations);
                conf.setEpochCount(epochs);
            } else {
                ComputationGraphConfiguration conf = ((ComputationGraph) net).getConfiguration();
                conf.setIterationCount(iterations);
                conf.setEpochCount(epochs);
            }
        }
    }

    /** A worker's result, or the sum of several: parameters, updater state, score, and how many were summed. */
    static final class RoundResult implements Serializable {
        private static final long serialVersionUID = 1L;
        float[] params;
        float[] updater;
        double score;
        int count;
        /** The workers' timings, summed: their tasks, getting their networks ready, their minibatches' fits. */
        long taskNanos;

        long modelNanos;
        long fitNanos;
        int minibatches;
        /** Where the result waits in {@link Handoff} (local[N]); null: this object is the result. */
        String handedOff;

        static RoundResult handedOff(String key) {
            RoundResult marker = new RoundResult();
            marker.handedOff = key;
            return marker;
        }

        /** The result itself: from the handoff where this is a marker. */
        RoundResult resolve() {
            return handedOff == null ? this : (RoundResult) Handoff.take(handedOff);
        }

        static RoundResult of(Model net, boolean saveUpdater) {
            RoundResult r = new RoundResult();
            r.params = net.params().toFloatVector();
            INDArray view = saveUpdater ? updaterView(net) : null;
            r.updater = view == null ? null : view.toFloatVector();
            r.score = net.score();
            r.count = 1;
            return r;
        }

        /** The sum of two partial results (either may be null or empty), reusing a's arrays. */
        static RoundResult add(RoundResult a, RoundResult b) {
            if (a == null || a.count == 0) {
                return b;
            }
            if (b == null || b.count == 0) {
                return a;
            }
            addInto(a.params, b.params);
            if (a.updater == null) {
                a.updater = b.updater;
            } else if (b.updater != null) {
                addInto(a.updater, b.updater);
            }
            a.score += b.score;
            a.count += b.count;
            a.taskNanos += b.taskNanos;
            a.modelNanos += b.modelNanos;
            a.fitNanos += b.fitNanos;
            a.minibatches += b.minibatches;
            return a;
        }

        private static void addInto(float[] sum, float[] other) {
            for (int i = 0; i < sum.length; i++) {
                sum[i] += other[i];
            }
        }
    }

    /** The task of one worker in one round: take a network, set it to the round's state, train, report. */
    static final class Worker<T> implements FlatMapFunction<Iterator<T>, RoundResult> {
        private static final long serialVersionUID = 1L;
        private final Broadcast<Blueprint> blueprint;
        private final Broadcast<RoundState> state;
        /** On local[N]: the round's key in {@link Handoff} (state in, results out), instead of the broadcast. */
        private final String handoff;

        private final boolean keep;
        private final boolean saveUpdater;
        private final int batchSize;
        private final int maxMinibatches;
        private final Collection<TrainingHook> hooks;

        Worker(Broadcast<Blueprint> blueprint, Broadcast<RoundState> state, String handoff, Settings settings) {
            this.blueprint = blueprint;
            this.state = state;
            this.handoff = handoff;
            this.keep = settings.keepWorkerNetworks();
            this.saveUpdater = settings.saveUpdater();
            this.batchSize = settings.batchSizePerWorker();
            this.maxMinibatches = settings.maxMinibatchesPerWorker();
            this.hooks = settings.hooks();
        }

        @Override
        public Iterator<RoundResult> call(Iterator<T> data) {
            if (!data.hasNext()) {
                return List.of(new RoundResult()).iterator(); // count 0: nothing to average
            }
            long start = System.nanoTime();
            Blueprint plan = blueprint.value();
            RoundState round = handoff != null ? (RoundState) Handoff.get(handoff + "/state") : state.value();
            Model net = keep ? WorkerNetworks.take(plan.generation) : null;
            if (net == null) {
                net = plan.build(round);
            }
            round.applyTo(net); // and the driver's counters, which a graph's configuration clone drops
            long ready = System.nanoTime();
            long[] fit = train(net, data);
            RoundResult result = RoundResult.of(net, saveUpdater);
            result.modelNanos = ready - start;
            result.fitNanos = fit[0];
            result.minibatches = (int) fit[1];
            result.taskNanos = System.nanoTime() - start;
            if (keep) { // only a network whose round ended well: one a failed or cancelled step left is dropped
                WorkerNetworks.give(plan.generation, net);
            }
            if (handoff != null) {
                String key = handoff + "/result/" + TaskContext.getPartitionId();
                Handoff.put(key, result);
                return List.of(RoundResult.handedOff(key)).iterator();
            }
            return List.of(result).iterator();
        }

        /** DL4J's worker loop: minibatches of batchSize (DL4J's iterator re-batches the RDD's objects), at most
         * maxMinibatches, each with every hook's preUpdate, fit, every hook's postUpdate. */
        @SuppressWarnings("unchecked")
        private long[] train(Model net, Iterator<T> data) {
            long[] fit = new long[2]; // nanoseconds, minibatches
            if (net instanceof MultiLayerNetwork) {
                MultiLayerNetwork mln = (MultiLayerNetwork) net;
                fitEach(new IteratorDataSetIterator((Iterator<DataSet>) data, batchSize), fit, batch -> {
                    hooks(h -> h.preUpdate(batch, net));
                    mln.fit(batch);
                    hooks(h -> h.postUpdate(batch, net));
                });
            } else {
                ComputationGraph graph = (ComputationGraph) net;
                fitEach(new IteratorMultiDataSetIterator((Iterator<MultiDataSet>) data, batchSize), fit, batch -> {
                    hooks(h -> h.preUpdate(batch, net));
                    graph.fit(batch);
                    hooks(h -> h.postUpdate(batch, net));
                });
            }
            fit[1] = Math.min(fit[1], maxMinibatches);
            return fit;
        }

        /** Each minibatch's step (hooks and fit), at most maxMinibatches, timed into fit ([nanoseconds, count]). */
        private <B> void fitEach(Iterator<B> batches, long[] fit, java.util.function.Consumer<B> step) {
            while (batches.hasNext() && fit[1]++ < maxMinibatches) {
                B batch = batches.next();
                long start = System.nanoTime();
                step.accept(batch);
                fit[0] += System.nanoTime() - start;
            }
        }

        private void hooks(java.util.function.Consumer<TrainingHook> call) {
            if (hooks != null) {
                hooks.forEach(call);
            }
        }
    }

    /**
     * The networks workers keep between rounds, per JVM (an executor, or the driver's JVM on local[N]) and per
     * generation (one fit's epoch). A task takes one (none: it builds one) and gives it back when its round is done,
     * so concurrent tasks never share a network. Taking for a new generation drops the older ones' networks.
     */
    static final class WorkerNetworks {
        private static final Map<String, Deque<Model>> POOLS = new ConcurrentHashMap<>();

        private WorkerNetworks() {}

        static Model take(String generation) {
            POOLS.keySet().removeIf(g -> !g.equals(generation));
            Deque<Model> pool = POOLS.computeIfAbsent(generation, g -> new ArrayDeque<>());
            synchronized (pool) {
                return pool.pollFirst();
            }
        }

        static void give(String generation, Model net) {
            Deque<Model> pool = POOLS.get(generation);
            if (pool != null) {
                synchronized (pool) {
                    pool.addFirst(net);
                }
            }
        }

        /** Drop the kept networks of generations starting with prefix (a fit that ended, in this JVM). */
        static void release(String prefix) {
            POOLS.keySet().removeIf(g -> g.startsWith(prefix));
        }

        static int kept() {
            return POOLS.values().stream().mapToInt(Deque::size).sum();
        }
    }

    /**
     * Pass the round's state and results through {@link Handoff} on local[N], whose executors are threads of the
     * driver's JVM (-Ddl4jbridge.spark.localHandoff=false: through a broadcast and serialized task results, as on a
     * cluster). Read every round.
     */
    static final String LOCAL_HANDOFF = "dl4jbridge.spark.localHandoff";

    /** Run one round of `net` over `split` on the driver: state out, train, sum, average into the driver's network.
     * Returns the workers' summed result (its score is the sum of their last scores), or null where every partition
     * was empty (then nothing changes). */
    static <T> RoundResult run(
            JavaSparkContext sc,
            Model net,
            INDArray updaterState,
            Broadcast<Blueprint> blueprint,
            JavaRDD<T> split,
            Settings settings,
            Timing timing) {
        boolean local = sc.isLocal() && Boolean.parseBoolean(System.getProperty(LOCAL_HANDOFF, "true"));
        String handoff = local ? "round-" + UUID.randomUUID() : null;
        timing.broadcastStart();
        RoundState start = new RoundState(net, updaterState);
        Broadcast<RoundState> state = local ? null : sc.broadcast(start);
        if (local) {
            Handoff.put(handoff + "/state", start);
        }
        timing.broadcastEnd();
        try {
            timing.aggregateStart();
            JavaRDD<RoundResult> results = split.mapPartitions(new Worker<T>(blueprint, state, handoff, settings));
            RoundResult sum = local
                    ? sumOf(results.collect())
                    : results.treeAggregate(null, RoundResult::add, RoundResult::add, settings.aggregationDepth());
            timing.aggregateEnd();
            if (sum == null || sum.count == 0) {
                return null;
            }
            timing.processStart();
            average(sum.params, sum.count);
            net.setParams(Nd4j.create(sum.params, net.params().shape(), 'c'));
            if (sum.updater != null && updaterState != null) {
                average(sum.updater, sum.count);
                updaterState.assign(Nd4j.create(sum.updater, updaterState.shape(), 'c'));
            }
            timing.processEnd();
            return sum;
        } finally {
            if (state != null) {
                state.destroy();
            }
            if (handoff != null) {
                Handoff.drop(handoff);
            }
        }
    }

    /** The sum of the workers' results in partition order (local[N]: taken from the handoff). */
    private static RoundResult sumOf(List<RoundResult> results) {
        RoundResult sum = null;
        for (RoundResult r : results) {
            sum = RoundResult.add(sum, r.resolve());
        }
        return sum;
    }

    /**
     * The round's state and the workers' results on local[N], by reference: the executors are threads of this JVM,
     * so a broadcast would serialize and compress the state only to hand this JVM the stored object, and each task
     * result would be serialized, stored in the block manager and fetched back over the loopback. Entries live for
     * one round (the driver drops them when it ends, also when it fails).
     */
    static final class Handoff {
        private static final Map<String, Object> ITEMS = new ConcurrentHashMap<>();

        private Handoff() {}

        static void put(String key, Object value) {
            ITEMS.put(key, value);
        }

        static Object get(String key) {
            Object value = ITEMS.get(key);
            if (value == null) {
                throw new IllegalStateException(
                        "no " + key + " in this JVM: the round's local handoff works on local[N] only");
            }
            return value;
        }

        static Object take(String key) {
            Object value = get(key);
            ITEMS.remove(key);
            return value;
        }

        static void drop(String round) {
            ITEMS.keySet().removeIf(k -> k.startsWith(round + "/"));
        }

        static int size() {
            return ITEMS.size();
        }
    }

    /** Where the master logs the round's phases (DL4J's training stats). */
    interface Timing {
        void broadcastStart();

        void broadcastEnd();

        void aggregateStart();

        void aggregateEnd();

        void processStart();

        void processEnd();
    }

    private static void average(float[] sum, int count) {
        for (int i = 0; i < sum.length; i++) {
            sum[i] /= count;
        }
    }

    static INDArray updaterView(Model net) {
        if (net instanceof MultiLayerNetwork) {
            org.deeplearning4j.nn.api.Updater u = ((MultiLayerNetwork) net).getUpdater();
            return u == null ? null : u.getStateViewArray();
        }
        ComputationGraphUpdater u = ((ComputationGraph) net).getUpdater();
        return u == null ? null : u.getStateViewArray();
    }

    private static int iterationCount(Model net) {
        return net instanceof MultiLayerNetwork
                ? ((MultiLayerNetwork) net).getLayerWiseConfigurations().getIterationCount()
                : ((ComputationGraph) net).getConfiguration().getIterationCount();
    }

    private static int epochCount(Model net) {
        return net instanceof MultiLayerNetwork
                ? ((MultiLayerNetwork) net).getLayerWiseConfigurations().getEpochCount()
                : ((ComputationGraph) net).getConfiguration().getEpochCount();
    }
}
