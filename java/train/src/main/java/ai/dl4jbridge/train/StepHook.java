package ai.dl4jbridge.train;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * A Spark TrainingHook that does the same before and after each minibatch of a worker, whichever kind of DataSet
 * DL4J hands it (DL4J calls both on the thread that trains, around its fit of that minibatch).
 */
abstract class StepHook implements TrainingHook {
    private static final long serialVersionUID = 1L;

    abstract void before(Model model);

    abstract void after(Model model);

    @Override
    public final void preUpdate(DataSet minibatch, Model model) {
        before(model);
    }

    @Override
    public final void postUpdate(DataSet minibatch, Model model) {
        after(model);
    }

    @Override
    public final void preUpdate(MultiDataSet minibatch, Model model) {
        before(model);
    }

    @Override
    public final void postUpdate(MultiDataSet minibatch, Model model) {
        after(model);
    }
}
