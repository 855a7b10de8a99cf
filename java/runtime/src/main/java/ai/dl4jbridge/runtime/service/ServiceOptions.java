package ai.dl4jbridge.runtime.service;

import ai.dl4jbridge.runtime.ExecutionProvider;
import ai.dl4jbridge.runtime.NanPolicy;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The service's settings: its command line (picocli: {@code --help}, {@code --version}, {@code --opt value}
 * and {@code --opt=value}) and, for an embedded server, the same settings through fluent setters. Every
 * option has a safe default except the model(s).
 */
@Command(
        name = "dl4j-bridge-service",
        mixinStandardHelpOptions = true,
        versionProvider = ServiceOptions.Version.class,
        sortOptions = false,
        usageHelpAutoWidth = true,
        description = "Serves ONNX models over HTTP (dl4j-bridge's /v1 API, Open Inference Protocol v2 REST, "
                + "TensorFlow Serving's REST predict) and gRPC (Open Inference Protocol v2).")
public final class ServiceOptions {
    static final String VERSION = builtVersion();

    @Option(
            names = "--model",
            paramLabel = "[NAME=]PATH",
            description =
                    "an ONNX model file to serve; repeat for several models (the first is the default of /v1/predict)."
                            + " NAME defaults to the model's own name")
    List<String> models = new ArrayList<>();

    @Option(
            names = "--model-repository",
            paramLabel = "DIR",
            description = "a folder with one sub-folder per model, each holding version folders (1/model.onnx, 2/...;"
                    + " the highest is served) or model.onnx, and optionally config.json with max_batch_size and"
                    + " max_queue_delay_microseconds")
    Path repository;

    @Option(names = "--host", description = "address to bind (default ${DEFAULT-VALUE}: loopback only)")
    String host = "127.0.0.1";

    @Option(names = "--port", description = "HTTP port (default ${DEFAULT-VALUE}; 0 picks a free one and prints it)")
    int port = 8080;

    @Option(
            names = "--grpc-port",
            description =
                    "gRPC port for the Open Inference Protocol (default ${DEFAULT-VALUE}: off; 0 picks a free one)")
    int grpcPort = -1;

    @Option(
            names = "--threads",
            description = "request worker threads (default: the number of cores, ${DEFAULT-VALUE})")
    int threads = Runtime.getRuntime().availableProcessors();

    @Option(names = "--io-threads", description = "network (event loop) threads (default ${DEFAULT-VALUE})")
    int ioThreads = Math.max(1, Runtime.getRuntime().availableProcessors() / 2);

    @Option(
            names = "--queue",
            description = "requests waiting for a worker; beyond it they get 503 at once (default ${DEFAULT-VALUE})")
    int queue = 256;

    @Option(
            names = "--max-connections",
            description = "open connections; beyond it new ones are closed at once (default ${DEFAULT-VALUE})")
    int maxConnections = 10_000;

    @Option(
            names = "--max-body",
            paramLabel = "BYTES",
            description = "largest request body; larger gets 413 (default ${DEFAULT-VALUE})")
    long maxBody = 16L << 20;

    @Option(
            names = "--body-memory",
            paramLabel = "BYTES",
            description = "request-body bytes all connections may hold at once; a request beyond it gets 503 with"
                    + " Retry-After before its body is read (default 0: a quarter of the smaller of the JVM's direct"
                    + " memory and heap, at least one --max-body)")
    long bodyMemory = 0;

    @Option(names = "--max-rows", description = "largest batch per request (default ${DEFAULT-VALUE})")
    int maxRows = 4096;

    @Option(
            names = "--max-header-size",
            paramLabel = "BYTES",
            description = "all request headers together; larger gets 431 (default ${DEFAULT-VALUE})")
    int maxHeaderSize = 8192;

    @Option(names = "--max-headers", description = "request header count; more gets 431 (default ${DEFAULT-VALUE})")
    int maxHeaders = 64;

    @Option(
            names = "--max-uri",
            paramLabel = "BYTES",
            description = "request line (method, URI, version); longer gets 414 (default ${DEFAULT-VALUE})")
    int maxUri = 4096;

    @Option(
            names = "--request-timeout",
            paramLabel = "SECONDS",
            description = "a request must arrive whole within this time, else 408 and close (default ${DEFAULT-VALUE})")
    int requestTimeoutSeconds = 30;

    @Option(
            names = "--idle-timeout",
            paramLabel = "SECONDS",
            description = "a kept-alive connection with no request is closed after this (default ${DEFAULT-VALUE})")
    int idleTimeoutSeconds = 60;

    @Option(
            names = "--batch-max-size",
            paramLabel = "ROWS",
            description =
                    "dynamic batching: rows per ONNX Runtime run, across requests (default ${DEFAULT-VALUE}: off)")
    int batchMaxSize = 0;

    @Option(
            names = "--batch-max-delay-us",
            paramLabel = "MICROS",
            description = "dynamic batching: how long a batch waits to fill once its first request is in (default"
                    + " ${DEFAULT-VALUE}: under load the next batch fills while one runs; a wait only delays it)")
    int batchMaxDelayMicros = 0;

    @Option(
            names = "--batch-runners",
            description = "dynamic batching: threads that run a model's batches (default ${DEFAULT-VALUE}: one batch"
                    + " at a time gathers every request that arrived meanwhile; more split them into smaller batches)")
    int batchRunners = 1;

    @Option(
            names = "--model-batch",
            paramLabel = "NAME=ROWS[,MICROS]",
            description = "per-model batching, overriding --batch-max-size / --batch-max-delay-us; repeatable")
    Map<String, String> modelBatch = new LinkedHashMap<>();

    @Option(
            names = "--intra-op-threads",
            description =
                    "ONNX Runtime threads per run (default ${DEFAULT-VALUE}: the workers already run in parallel)")
    int intraOpThreads = 1;

    @Option(
            names = "--provider",
            description =
                    "execution provider: ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}; cuda refuses to start when unavailable)")
    ExecutionProvider provider = ExecutionProvider.CPU;

    @Option(names = "--nan", description = "NaN / Inf inputs: ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}: 400)")
    NanPolicy nanPolicy = NanPolicy.REFUSE;

    @Option(
            names = "--grace",
            paramLabel = "SECONDS",
            description = "shutdown waits this long for requests in flight (default ${DEFAULT-VALUE})")
    int graceSeconds = 5;

    /** Prints the version. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {
                "dl4j-bridge service " + VERSION + " (ONNX Runtime "
                        + ai.onnxruntime.OrtEnvironment.getEnvironment().getVersion() + ", Netty "
                        + io.netty.util.Version.identify()
                                .values()
                                .iterator()
                                .next()
                                .artifactVersion() + ")"
            };
        }
    }

    /** The outcome of parsing a command line: options, or text to print and an exit code. */
    static final class Parsed {
        final ServiceOptions options;
        final String text;
        final int exitCode;

        Parsed(ServiceOptions options, String text, int exitCode) {
            this.options = options;
            this.text = text;
            this.exitCode = exitCode;
        }
    }

    static CommandLine commandLine(ServiceOptions o) {
        CommandLine cli = new CommandLine(o);
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        cli.setUnmatchedOptionsArePositionalParams(false);
        return cli;
    }

    /** Parses {@code args}; --help and --version come back as text with exit code 0, errors as text with 2. */
    static Parsed parseCommandLine(String... args) {
        ServiceOptions o = new ServiceOptions();
        CommandLine cli = commandLine(o);
        StringWriter text = new StringWriter();
        try {
            CommandLine.ParseResult result = cli.parseArgs(args);
            if (result.isUsageHelpRequested()) {
                cli.usage(new PrintWriter(text));
                return new Parsed(null, text.toString(), 0);
            }
            if (result.isVersionHelpRequested()) {
                cli.printVersionHelp(new PrintWriter(text));
                return new Parsed(null, text.toString(), 0);
            }
            o.validate();
            return new Parsed(o, null, 0);
        } catch (CommandLine.ParameterException | IllegalArgumentException e) {
            return new Parsed(null, e.getMessage() + " (see --help)", 2);
        }
    }

    /** Parses a command line; throws IllegalArgumentException with the message on any error or --help. */
    public static ServiceOptions parse(String... args) {
        Parsed parsed = parseCommandLine(args);
        if (parsed.options == null) {
            throw new IllegalArgumentException(parsed.text);
        }
        return parsed.options;
    }

    void validate() {
        if (models.isEmpty() && repository == null) {
            throw new IllegalArgumentException(
                    "no model: give --model [NAME=]PATH (repeatable) or --model-repository DIR");
        }
        range("--port", port, 0, 65535);
        range("--grpc-port", grpcPort, -1, 65535);
        range("--threads", threads, 1, 1024);
        range("--io-threads", ioThreads, 1, 64);
        range("--queue", queue, 1, 1 << 20);
        range("--max-connections", maxConnections, 1, 1 << 20);
        range("--max-body", maxBody, 1024, Integer.MAX_VALUE - 8);
        range("--body-memory", bodyMemory, 0, Long.MAX_VALUE);
        if (bodyMemory > 0 && bodyMemory < maxBody) {
            throw new IllegalArgumentException("--body-memory " + bodyMemory + " is smaller than --max-body " + maxBody
                    + ": no request of the largest size could ever be taken");
        }
        range("--max-rows", maxRows, 1, 1 << 20);
        range("--max-header-size", maxHeaderSize, 256, 1 << 20);
        range("--max-headers", maxHeaders, 4, 10_000);
        range("--max-uri", maxUri, 64, 1 << 20);
        range("--request-timeout", requestTimeoutSeconds, 1, 3600);
        range("--idle-timeout", idleTimeoutSeconds, 1, 86_400);
        range("--batch-max-size", batchMaxSize, 0, 1 << 16);
        range("--batch-max-delay-us", batchMaxDelayMicros, 0, 1_000_000);
        range("--batch-runners", batchRunners, 1, 1024);
        range("--intra-op-threads", intraOpThreads, 0, 1024);
        range("--grace", graceSeconds, 0, 3600);
        for (Map.Entry<String, String> e : modelBatch.entrySet()) {
            BatchSettings.parse(e.getKey(), e.getValue());
        }
    }

    private static void range(String flag, long value, long min, long max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(
                    "invalid value for " + flag + ": " + value + ", expected an integer in [" + min + ", " + max + "]");
        }
    }

    /** Batching for model {@code name}: its --model-batch entry, else the global settings. */
    BatchSettings batchFor(String name) {
        String own = modelBatch.get(name);
        return own != null ? BatchSettings.parse(name, own) : new BatchSettings(batchMaxSize, batchMaxDelayMicros);
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

    /** The gRPC port (-1: no gRPC server, the default; 0: an ephemeral port). */
    public ServiceOptions grpcPort(int grpcPort) {
        this.grpcPort = grpcPort;
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

    public ServiceOptions bodyMemory(long bodyMemory) {
        this.bodyMemory = bodyMemory;
        return this;
    }

    public ServiceOptions maxRows(int maxRows) {
        this.maxRows = maxRows;
        return this;
    }

    public ServiceOptions maxConnections(int maxConnections) {
        this.maxConnections = maxConnections;
        return this;
    }

    public ServiceOptions requestTimeoutSeconds(int seconds) {
        this.requestTimeoutSeconds = seconds;
        return this;
    }

    public ServiceOptions idleTimeoutSeconds(int seconds) {
        this.idleTimeoutSeconds = seconds;
        return this;
    }

    /** Dynamic batching for every model: up to {@code maxRows} rows per run, waiting up to {@code maxDelayMicros}. */
    public ServiceOptions batching(int maxRows, int maxDelayMicros) {
        this.batchMaxSize = maxRows;
        this.batchMaxDelayMicros = maxDelayMicros;
        return this;
    }

    /** Threads that run each model's batches (1 by default: see --batch-runners). */
    public ServiceOptions batchRunners(int runners) {
        this.batchRunners = runners;
        return this;
    }

    public ServiceOptions graceSeconds(int seconds) {
        this.graceSeconds = seconds;
        return this;
    }

    public ServiceOptions nanPolicy(NanPolicy policy) {
        this.nanPolicy = policy;
        return this;
    }

    /** The project's version, filled into version.properties by Maven from the parent pom's revision. */
    private static String builtVersion() {
        try (java.io.InputStream in =
                ServiceOptions.class.getResourceAsStream("/ai/dl4jbridge/runtime/version.properties")) {
            java.util.Properties properties = new java.util.Properties();
            if (in != null) {
                properties.load(in);
            }
            return properties.getProperty("version", "unknown");
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }
}
