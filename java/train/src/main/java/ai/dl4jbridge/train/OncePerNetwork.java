package ai.dl4jbridge.train;

import java.util.Collections;
import java.util.Set;
import java.util.WeakHashMap;
import org.deeplearning4j.nn.api.Model;

/** Which networks a one-time preparation has seen: a weak set, so it keeps no network alive. */
final class OncePerNetwork {
    private final Set<Model> seen = Collections.synchronizedSet(Collections.newSetFromMap(new WeakHashMap<>()));

    /** True the first time this network object is asked about, false after. */
    boolean firstTime(Model net) {
        return seen.add(net);
    }
}
