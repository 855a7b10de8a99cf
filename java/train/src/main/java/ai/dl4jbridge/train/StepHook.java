package ai.dl4jbridge.train;

import java.util.List;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * Step changes as a Spark TrainingHook: DL4J's worker calls every hook's preUpdate, fits the minibatch, then every
 * hook's postUpdate, on the thread that trains, whichever kind of DataSet it holds. preUpdate applies the changes in
 * their order, postUpdate undoes them in reverse, as {@link TrainingStep#run} does around a local step.
 *
 * <p>DL4J calls no postUpdate when the fit throws; the changes of that step are then undone at this thread's next
 * preUpdate, before the next step's are applied.
 */
final class StepHook implements TrainingHook {
    private static final long serialVersionUID = 2L;
    private final List<StepChange> changes;
    private final transient ThreadLocal<StepChange.Undo> pending = new ThreadLocal<>();

    StepHook(List<StepChange> changes) {
        this.changes = List.copyOf(changes);
    }

    /** A deserialised hook (on a Spark executor) gets its own per-thread state. */
    private Object readResolve() {
        return new StepHook(changes);
    }

    private void before(Model model) {
        StepChange.Undo unfinished = pending.get();
        pending.remove();
        if (unfinished != null) {
            unfinished.undo(); // this thread's previous step failed: DL4J skipped its postUpdate
        }
        pending.set(TrainingStep.apply(changes, model));
    }

    private void after() {
        StepChange.Undo undo = pending.get();
        pending.remove();
        if (undo != null) {
            undo.undo();
        }
    }

    @Override
    public void preUpdate(DataSet minibatch, Model model) {
        before(model);
    }

    @Override
    public void postUpdate(DataSet minibatch, Model model) {
        after();
    }

    @Override
    public void preUpdate(MultiDataSet minibatch, Model model) {
        before(model);
    }

    @Override
    public void postUpdate(MultiDataSet minibatch, Model model) {
        after();
    }
}
