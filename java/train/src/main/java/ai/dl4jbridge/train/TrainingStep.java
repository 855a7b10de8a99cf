package ai.dl4jbridge.train;

import java.util.List;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.spark.api.TrainingHook;

/**
 * dl4j-bridge's training step: DL4J's fit of one minibatch with dl4j-bridge's step changes around it. The list of
 * changes and their order live here only ({@link Change}): local training ({@link Networks#fitBatch}, which
 * {@link Trainer} calls) and Spark workers ({@link #hook()}, which the Spark trainer installs) apply the same list,
 * so a change added here changes both. Each change has its own switch, read at every step (see its class).
 *
 * <p>Before the fit the changes are applied first to last; after it (also when it fails) they are undone last to
 * first, so each one's undo sees the step as the changes applied before it left it. Why this order:
 *
 * <ol>
 *   <li>{@link FlushDenormals} first, undone last: FTZ/DAZ are set on the thread and its OpenMP team around
 *       everything of the step that computes, the fit and whatever any later change does before or after it. On a
 *       Spark worker the OpenMP team must already have its size: the Spark trainer's thread cap (WorkerThreads) is an
 *       earlier hook than this list's.
 *   <li>{@link OneDnnHelpers}, once per network: DL4J's oneDNN helpers are put on channels-first layers (and dropped
 *       from channels-last ones) before {@link InputConvGradients} looks at which layers have one, so its helper
 *       replaces one on a channels-first convolution only, and install counts only the layers it runs on.
 *   <li>{@link InputConvGradients}: its helper installed (once per network) and the thread marked as in a training
 *       step before the fit's backprop reads the mark; the mark is put back to what it was after the fit, so a
 *       backprop outside a step gets DL4J's input gradient.
 *   <li>{@link BatchNormTraining}, once per network: its helper replaces the oneDNN helper {@link OneDnnHelpers}
 *       put on each channels-first batch norm (so after it); it reads its switch at every forward and backprop.
 *   <li>{@link ReluLayers}, once per network: plain-ReLU ActivationLayer objects replaced by its subclass before
 *       {@link ForwardCache} sets the step's cache mode on the network's layers (the new ones included).
 *   <li>{@link ForwardCache}: the cache mode set for the step; undone after the fit's backprop, which reads the cached
 *       forward outputs, and that undo drops them.
 *   <li>{@link ReluGradients} last, undone first: DL4J's ReLU configurations are swapped only while the fit runs, and
 *       are DL4J's own again before any other undo sees the network.
 * </ol>
 *
 * <p>ForwardCache and ReluGradients do not depend on each other; the one-time preparations (2, 3, 4, 5) do no computing, and
 * sit inside FlushDenormals only so that "outermost" stays the whole rule for it. Data preparation (augmentation)
 * is not a step change: locally the batch loader runs it before the step, on Spark an earlier hook.
 */
public final class TrainingStep {
    private TrainingStep() {}

    /** The step changes, in the order they are applied. Each delegates to its class, which holds its switch. */
    enum Change implements StepChange {
        FLUSH_DENORMALS {
            @Override
            public Undo apply(Model net) {
                return FlushDenormals.beginStep();
            }
        },
        ONEDNN_HELPERS {
            @Override
            public Undo apply(Model net) {
                OneDnnHelpers.ensureInstalled(net);
                return Undo.NOTHING;
            }
        },
        INPUT_CONV_GRADIENTS {
            @Override
            public Undo apply(Model net) {
                return InputConvGradients.beginStep(net);
            }
        },
        BATCH_NORM_TRAINING {
            @Override
            public Undo apply(Model net) {
                BatchNormTraining.ensureInstalled(net);
                return Undo.NOTHING;
            }
        },
        RELU_LAYERS {
            @Override
            public Undo apply(Model net) {
                ReluLayers.ensureInstalled(net);
                return Undo.NOTHING;
            }
        },
        FORWARD_CACHE {
            @Override
            public Undo apply(Model net) {
                return ForwardCache.beginStep(net);
            }
        },
        RELU_GRADIENTS {
            @Override
            public Undo apply(Model net) {
                return ReluGradients.beginStep(net);
            }
        };
    }

    private static final List<StepChange> CHANGES = List.of(Change.values());

    /** The step changes, in the order they are applied before the fit (undone in reverse after it). */
    public static List<StepChange> changes() {
        return CHANGES;
    }

    /** Runs one training step of {@code net} ({@code fit}: DL4J's fit of one minibatch) with every step change. */
    public static void run(Model net, Runnable fit) {
        run(CHANGES, net, fit);
    }

    /** A Spark TrainingHook that applies every step change around each minibatch of a worker. */
    public static TrainingHook hook() {
        return new StepHook(CHANGES);
    }

    /** A Spark TrainingHook with one change alone (each change class's {@code hook()}). */
    static TrainingHook hook(Change change) {
        return new StepHook(List.of(change));
    }

    /** Runs {@code step} with the given changes applied around it. */
    static void run(List<? extends StepChange> changes, Model net, Runnable step) {
        StepChange.Undo undo = apply(changes, net);
        try {
            step.run();
        } catch (RuntimeException | Error failure) {
            undoAfter(failure, undo);
            throw failure;
        }
        undo.undo();
    }

    /**
     * Applies the changes in order; returns the undo of all of them, in reverse order. Where one of them fails to
     * apply, those already applied are undone before the failure propagates. Every undo runs even where an earlier
     * one throws; the first failure propagates, the others suppressed in it.
     */
    static StepChange.Undo apply(List<? extends StepChange> changes, Model net) {
        StepChange.Undo[] undos = new StepChange.Undo[changes.size()];
        int applied = 0;
        try {
            for (; applied < undos.length; applied++) {
                undos[applied] = changes.get(applied).apply(net);
            }
        } catch (RuntimeException | Error failure) {
            int count = applied;
            undoAfter(failure, () -> undoInReverse(undos, count));
            throw failure;
        }
        return () -> undoInReverse(undos, undos.length);
    }

    private static void undoInReverse(StepChange.Undo[] undos, int count) {
        Throwable first = null;
        for (int i = count - 1; i >= 0; i--) {
            try {
                undos[i].undo();
            } catch (RuntimeException | Error e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first instanceof RuntimeException) {
            throw (RuntimeException) first;
        }
        if (first != null) {
            throw (Error) first;
        }
    }

    /** Undoes after a failure, keeping the failure the one that propagates. */
    private static void undoAfter(Throwable failure, StepChange.Undo undo) {
        try {
            undo.undo();
        } catch (RuntimeException | Error e) {
            failure.addSuppressed(e);
        }
    }
}
