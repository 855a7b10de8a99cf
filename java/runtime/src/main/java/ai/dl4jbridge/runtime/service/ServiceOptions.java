package ai.dl4jbridge.runtime.service;

import ai.dl4jbridge.runtime.ExecutionProvider;
import ai.dl4jbridge.runtime.NanPolicy;

import java.nio.file.Path;
import java.util.Locale;

/** The reference service's command line. Every option has a safe default except --model. */
public final class ServiceOptions {
    static final String USAGE = String.join("\n",
            "usage: java -jar dl4j-bridge-runtime-0.1.0-service.jar --model PATH [options]",
            "  --model PATH          ONNX model file (required)",
            "  --port P              TCP port (default 8080; 0 picks a free one and prints it)",
            "  --host H              address to bind (default 127.0.0.1: loopback only)",
            "  --threads N           request worker threads (default: number of cores)",
            "  --queue N             requests waiting for a worker; beyond it they get 503 at once (default 256)",
            "  --max-body BYTES      largest request body accepted (default 16777216)",
            "  --max-rows N          largest batch per request (default 4096)",
            "  --intra-op-threads N  ONNX Runtime threads per request (default 1: the workers already run in parallel)",
            "  --provider cpu|cuda   execution provider (default cpu; cuda fails loudly when unavailable)",
            "  --nan refuse|allow    NaN / Inf inputs (default refuse: 400)",
            "  --grace SECONDS       shutdown waits this long for requests in flight (default 5)");

    Path model;
    String host = "127.0.0.1";
    int port = 8080;
    int threads = Runtime.getRuntime().availableProcessors();
    int queue = 256;
    long maxBody = 16L << 20;
    int maxRows = 4096;
    int intraOpThreads = 1;
    ExecutionProvider provider = ExecutionProvider.CPU;
    NanPolicy nanPolicy = NanPolicy.REFUSE;
    int graceSeconds = 5;

    public static ServiceOptions parse(String... args) {
        ServiceOptions o = new ServiceOptions();
        for (int i = 0; i < args.length; i++) {
            String flag = args[i];
            if (flag.equals("-h") || flag.equals("--help")) {
                throw new IllegalArgumentException(USAGE);
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("option " + flag + " needs a value\n" + USAGE);
            }
            String value = args[++i];
            switch (flag) {
                case "--model": o.model = Path.of(value); break;
                case "--host": o.host = value; break;
                case "--port": o.port = intIn(flag, value, 0, 65535); break;
                case "--threads": o.threads = intIn(flag, value, 1, 1024); break;
                case "--queue": o.queue = intIn(flag, value, 1, 1 << 20); break;
                case "--max-body": o.maxBody = longIn(flag, value, 1024, 1L << 31); break;
                case "--max-rows": o.maxRows = intIn(flag, value, 1, 1 << 20); break;
                case "--intra-op-threads": o.intraOpThreads = intIn(flag, value, 0, 1024); break;
                case "--provider": o.provider = choice(flag, value, ExecutionProvider.class); break;
                case "--nan": o.nanPolicy = choice(flag, value, NanPolicy.class); break;
                case "--grace": o.graceSeconds = intIn(flag, value, 0, 3600); break;
                default: throw new IllegalArgumentException("unknown option " + flag + "\n" + USAGE);
            }
        }
        if (o.model == null) {
            throw new IllegalArgumentException("--model PATH is required\n" + USAGE);
        }
        return o;
    }

    /** Options for an embedded server (tests, or a Java team's own main): loopback, an ephemeral port. */
    public static ServiceOptions defaults() {
        ServiceOptions o = new ServiceOptions();
        o.port = 0;
        return o;
    }

    /** The address to bind (default 127.0.0.1). */
    public ServiceOptions host(String host) {
        this.host = host;
        return this;
    }

    public ServiceOptions port(int port) {
        this.port = port;
        return this;
    }

    public ServiceOptions threads(int threads) {
        this.threads = threads;
        return this;
    }

    public ServiceOptions queue(int queue) {
        this.queue = queue;
        return this;
    }

    public ServiceOptions maxBody(long maxBody) {
        this.maxBody = maxBody;
        return this;
    }

    public ServiceOptions maxRows(int maxRows) {
        this.maxRows = maxRows;
        return this;
    }

    private static int intIn(String flag, String value, int min, int max) {
        return (int) longIn(flag, value, min, max);
    }

    private static long longIn(String flag, String value, long min, long max) {
        try {
            long v = Long.parseLong(value.trim());
            if (v >= min && v <= max) {
                return v;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException("invalid value for " + flag + ", expected an integer in [" + min + ", "
                + max + "]. Received: " + flag + "=" + value);
    }

    private static <E extends Enum<E>> E choice(String flag, String value, Class<E> type) {
        try {
            return Enum.valueOf(type, value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("invalid value for " + flag + ", expected one of "
                    + java.util.Arrays.toString(type.getEnumConstants()).toLowerCase(Locale.ROOT)
                    + ". Received: " + flag + "=" + value, e);
        }
    }
}
