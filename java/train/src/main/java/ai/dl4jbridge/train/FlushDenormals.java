package ai.dl4jbridge.train;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.NativeLibrary;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Training steps with denormal floats flushed to zero: the x86 MXCSR bits FTZ (flush to zero) and DAZ (denormals
 * are zero) on the training thread and its OpenMP team, for the length of each step. Why: about an epoch into
 * training, Adam's first moment of every weight whose gradient stays zero (dead ReLUs, pooled-away positions)
 * decays below float32's smallest normal number (1.2e-38), and every op that reads a denormal takes the CPU's slow
 * microcode path: on LeNet, Adam's update alone grew to a sixth of all CPU time and the second epoch ran 14% slower
 * than the first. TensorFlow trains with these bits set; what changes is values below 1.2e-38 becoming zero.
 *
 * <p>Why native calls: MXCSR is per thread and Java cannot set it. HotSpot resets it whenever native code calls into
 * Java but leaves it as it is on Java's calls out, so a setting made from Java (glibc's fesetenv through JNA, which
 * DL4J already brings) holds for the ND4J and oneDNN calls of the step. Their OpenMP worker threads get the same
 * setting through one parallel region of ND4J's libgomp running fesetenv. Where glibc, libgomp or JNA is missing
 * (other platforms), steps run as DL4J's. {@link TrainingStep} applies it, outermost, to every training step.
 *
 * <p>Off with {@code -Ddl4jbridge.flushDenormals=false} or {@code DL4J_BRIDGE_FLUSH_DENORMALS=false}.
 */
public final class FlushDenormals {
    static final String PROPERTY = "dl4jbridge.flushDenormals";
    static final String ENVIRONMENT = "DL4J_BRIDGE_FLUSH_DENORMALS";
    /** MXCSR bit 15 (flush to zero) and bit 6 (denormals are zero). */
    public static final int FTZ_DAZ = 0x8040;

    private static final int FENV_BYTES = 32; // glibc's x86-64 fenv_t: the x87 environment, then MXCSR
    private static final int MXCSR_OFFSET = 28;
    private static final AtomicLong FLUSHED_STEPS = new AtomicLong();
    private static final ThreadLocal<ThreadState> STATE = ThreadLocal.withInitial(ThreadState::new);
    private static final StepChange.Undo EXIT = FlushDenormals::exit;

    private FlushDenormals() {}

    /** False where the property or the environment says "false". */
    public static boolean enabled() {
        return Switches.isOn(PROPERTY, ENVIRONMENT, "false");
    }

    /** True where this platform can set the bits (x86-64 Linux: glibc and ND4J's libgomp). */
    public static boolean available() {
        return Natives.INSTANCE != null;
    }

    /** How many training steps ran with denormals flushed, in this JVM (tests read it). */
    public static long flushedSteps() {
        return FLUSHED_STEPS.get();
    }

    /** The calling thread's MXCSR register. */
    public static int mxcsr() {
        if (!available()) {
            throw new IllegalStateException("MXCSR cannot be read on this platform (x86-64 Linux only)");
        }
        return currentEnvironment().getInt(MXCSR_OFFSET);
    }

    /** Runs one training step with denormals flushed on this thread and its OpenMP team, then puts back the rest. */
    public static void during(Runnable step) {
        TrainingStep.run(List.of(TrainingStep.Change.FLUSH_DENORMALS), null, step);
    }

    /** The same around each minibatch of a Spark worker (DL4J calls pre- and postUpdate on the training thread). */
    public static TrainingHook hook() {
        return TrainingStep.hook(TrainingStep.Change.FLUSH_DENORMALS);
    }

    /** Sets FTZ and DAZ for one step on this thread and its OpenMP team; the undo puts back the rest. */
    static StepChange.Undo beginStep() {
        return enter() ? EXIT : StepChange.Undo.NOTHING;
    }

    /** The thread's two environments, kept (no allocation per step), and how deeply its steps are nested. */
    private static final class ThreadState {
        final Memory saved = new Memory(FENV_BYTES);
        final Memory flushing = new Memory(FENV_BYTES);
        int depth;
    }

    /** Sets FTZ and DAZ (the outermost step only); false where nothing was changed. */
    private static boolean enter() {
        if (!available() || !enabled()) {
            return false;
        }
        ThreadState state = STATE.get();
        if (state.depth++ > 0) {
            return true;
        }
        Natives.INSTANCE.fegetenv.invokeInt(new Object[] {state.saved});
        state.flushing.write(0, state.saved.getByteArray(0, FENV_BYTES), 0, FENV_BYTES);
        state.flushing.setInt(MXCSR_OFFSET, state.saved.getInt(MXCSR_OFFSET) | FTZ_DAZ);
        setOnThreadAndTeam(state.flushing);
        FLUSHED_STEPS.incrementAndGet();
        return true;
    }

    /** Undoes one enter() that returned true. */
    private static void exit() {
        ThreadState state = STATE.get();
        if (--state.depth == 0) {
            setOnThreadAndTeam(state.saved);
        }
    }

    private static Memory currentEnvironment() {
        Memory env = new Memory(FENV_BYTES);
        Natives.INSTANCE.fegetenv.invokeInt(new Object[] {env});
        return env;
    }

    /** fesetenv(env) here, then on every thread of this thread's OpenMP team (omp_get_max_threads() of them, the
     * size of ND4J's and oneDNN's parallel regions on this thread). */
    private static void setOnThreadAndTeam(Memory env) {
        Natives natives = Natives.INSTANCE;
        natives.fesetenv.invokeInt(new Object[] {env});
        natives.gompParallel.invokeVoid(new Object[] {natives.fesetenv, env, 0, 0});
    }

    /** glibc's fegetenv/fesetenv and libgomp's GOMP_parallel; null where any of them is missing. */
    private static final class Natives {
        static final Natives INSTANCE = load();
        final Function fegetenv;
        final Function fesetenv;
        final Function gompParallel;

        private Natives(Function fegetenv, Function fesetenv, Function gompParallel) {
            this.fegetenv = fegetenv;
            this.fesetenv = fesetenv;
            this.gompParallel = gompParallel;
        }

        private static Natives load() {
            String arch = System.getProperty("os.arch", "");
            if (!System.getProperty("os.name", "").startsWith("Linux")
                    || !(arch.equals("amd64") || arch.equals("x86_64"))) {
                return null;
            }
            try {
                // ND4J ships its own libgomp; once ND4J is loaded, the soname finds that copy, not the system's.
                Nd4j.getExecutioner();
                NativeLibrary libc = NativeLibrary.getInstance("c");
                NativeLibrary gomp = NativeLibrary.getInstance("libgomp.so.1");
                return new Natives(
                        libc.getFunction("fegetenv"), libc.getFunction("fesetenv"), gomp.getFunction("GOMP_parallel"));
            } catch (UnsatisfiedLinkError | RuntimeException e) {
                return null;
            }
        }
    }
}
