package ai.dl4jbridge.train;

import java.io.Serializable;
import org.deeplearning4j.nn.api.Model;

/**
 * One change dl4j-bridge makes to DL4J's training step, for the length of one step: {@link TrainingStep} holds the
 * list of them and their order. A change keeps no state of its own between {@link #apply} and the {@link Undo} it
 * returns, so one instance serves every thread; it travels to Spark executors inside {@link TrainingStep#hook()}.
 */
public interface StepChange extends Serializable {
    /** Makes the change for one step of {@code net} on the calling thread (the thread that trains); returns how to
     * put things back after the step. */
    Undo apply(Model net);

    /** Puts back what one {@link #apply} changed: called once, on the same thread, after the step, whether or not
     * the step failed. */
    @FunctionalInterface
    interface Undo {
        Undo NOTHING = () -> {};

        void undo();
    }
}
