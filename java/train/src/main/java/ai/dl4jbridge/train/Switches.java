package ai.dl4jbridge.train;

/** dl4j-bridge's on/off switches for its training-step changes: a system property, else an environment variable. */
final class Switches {
    private Switches() {}

    /** False where the property (or, unset, the environment variable) says {@code offValue}, any case. */
    static boolean isOn(String property, String environment, String offValue) {
        String setting = System.getProperty(property, System.getenv().getOrDefault(environment, ""));
        return !offValue.equalsIgnoreCase(setting.trim());
    }
}
