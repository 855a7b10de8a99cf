package ai.dl4jbridge.testcluster;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

/**
 * An HDFS (one NameNode, one DataNode) and a YARN (one ResourceManager, N NodeManagers) in this JVM, for tests: Hadoop's
 * own MiniDFSCluster and MiniYARNCluster. It writes the client configuration a real cluster's administrator would hand
 * out (core-site.xml, hdfs-site.xml, yarn-site.xml: addresses only, no class of the mini clusters) to the folder given
 * by --conf-dir, prints one line "READY conf-dir" on stdout, and runs until its stdin closes (the test that started it
 * ended, even by a crash) or it is signalled.
 *
 * <p>Run it in a scratch working directory: the mini clusters keep their data under ./target. Every server binds to the
 * loopback address (the machine's host name must resolve to it: the NodeManagers name themselves after it).
 *
 * <pre>
 * java --add-opens=java.base/java.lang=ALL-UNNAMED -cp ... ai.dl4jbridge.testcluster.YarnHdfsCluster \
 *     --conf-dir DIR [--node-managers 1] [--node-memory-mb 6144] [--node-vcores 4]
 * </pre>
 */
public final class YarnHdfsCluster {
    private YarnHdfsCluster() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> options = parse(args);
        File confDir = new File(require(options, "--conf-dir"));
        int nodeManagers = Integer.parseInt(options.getOrDefault("--node-managers", "1"));
        int nodeMemoryMb = Integer.parseInt(options.getOrDefault("--node-memory-mb", "6144"));
        int nodeVcores = Integer.parseInt(options.getOrDefault("--node-vcores", "4"));

        long started = System.nanoTime();
        Configuration conf = clusterConfiguration(nodeMemoryMb, nodeVcores);
        MiniDFSCluster hdfs = new MiniDFSCluster.Builder(conf, new File("target/hdfs"))
                .numDataNodes(1)
                .format(true)
                .build();
        hdfs.waitActive();
        conf.set("fs.defaultFS", hdfs.getFileSystem().getUri().toString());
        MiniYARNCluster yarn = new MiniYARNCluster("dl4j-bridge", nodeManagers, 1, 1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> stop(yarn, hdfs), "stop-mini-clusters"));
        yarn.init(conf);
        yarn.start();
        if (!yarn.waitForNodeManagersToConnect(TimeUnit.SECONDS.toMillis(60))) {
            throw new IllegalStateException(nodeManagers + " NodeManagers did not register within 60 s");
        }
        writeClientConfiguration(confDir, hdfs, yarn.getConfig());
        System.out.printf(
                "READY %s (HDFS %s, YARN %s, %d NodeManager(s), %.1f s)%n",
                confDir,
                hdfs.getFileSystem().getUri(),
                yarn.getConfig().get(YarnConfiguration.RM_ADDRESS),
                nodeManagers,
                (System.nanoTime() - started) / 1e9);
        System.out.flush();
        // Run until the parent closes our stdin (or dies): a crashed test leaves no cluster behind.
        while (System.in.read() >= 0) {
            // keep reading
        }
        System.exit(0);
    }

    /** The settings the mini clusters need on a small shared machine. */
    static Configuration clusterConfiguration(int nodeMemoryMb, int nodeVcores) {
        Configuration conf = new YarnConfiguration();
        conf.set("hadoop.security.authentication", "simple");
        conf.setInt("dfs.replication", 1);
        // One queue taking the whole cluster; the ApplicationMaster may use up to half of it (default 10%, which
        // is less than one Spark AM on a small node).
        conf.set(
                YarnConfiguration.RM_SCHEDULER,
                "org.apache.hadoop.yarn.server.resourcemanager.scheduler.capacity.CapacityScheduler");
        conf.set("yarn.scheduler.capacity.root.queues", "default");
        conf.set("yarn.scheduler.capacity.root.default.capacity", "100");
        conf.set("yarn.scheduler.capacity.root.default.maximum-capacity", "100");
        conf.set("yarn.scheduler.capacity.maximum-am-resource-percent", "0.5");
        conf.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, 128);
        conf.setInt(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB, nodeMemoryMb);
        conf.setInt(YarnConfiguration.NM_PMEM_MB, nodeMemoryMb);
        // MiniYARNCluster gives each NodeManager this much, whatever NM_PMEM_MB says (4096 by default).
        conf.setInt(YarnConfiguration.YARN_MINICLUSTER_NM_PMEM_MB, nodeMemoryMb);
        conf.setInt(YarnConfiguration.NM_VCORES, nodeVcores);
        // ND4J's memory is off-heap and shared machines fill their disks: no memory or disk policing.
        conf.setBoolean(YarnConfiguration.NM_PMEM_CHECK_ENABLED, false);
        conf.setBoolean(YarnConfiguration.NM_VMEM_CHECK_ENABLED, false);
        conf.setFloat(YarnConfiguration.NM_MAX_PER_DISK_UTILIZATION_PERCENTAGE, 100.0f);
        conf.setLong(YarnConfiguration.NM_MIN_PER_DISK_FREE_SPACE_MB, 0);
        // The containers (Spark's ApplicationMaster and executors) bind loopback, as everything here: Spark would
        // otherwise pick the first non-loopback interface it finds when the host name resolves to loopback. They
        // inherit SPARK_LOCAL_IP from this process's environment (the launcher sets it).
        conf.set(YarnConfiguration.NM_ENV_WHITELIST, YarnConfiguration.DEFAULT_NM_ENV_WHITELIST + ",SPARK_LOCAL_IP");
        conf.setBoolean(YarnConfiguration.TIMELINE_SERVICE_ENABLED, false);
        conf.setBoolean(YarnConfiguration.LOG_AGGREGATION_ENABLED, false);
        // Keep a finished container's files a little while, for the test to read its logs.
        conf.setInt(YarnConfiguration.DEBUG_NM_DELETE_DELAY_SEC, 60);
        return conf;
    }

    /** What a client needs: the file system, the ResourceManager's addresses. */
    static void writeClientConfiguration(File dir, MiniDFSCluster hdfs, Configuration yarnConf) throws IOException {
        Files.createDirectories(dir.toPath());
        Configuration core = new Configuration(false);
        core.set("fs.defaultFS", hdfs.getFileSystem().getUri().toString());
        core.set("hadoop.security.authentication", "simple");
        write(core, new File(dir, "core-site.xml"));

        Configuration hdfsSite = new Configuration(false);
        hdfsSite.set("dfs.replication", "1");
        write(hdfsSite, new File(dir, "hdfs-site.xml"));

        Configuration yarnSite = new Configuration(false);
        for (Map.Entry<String, String> entry : yarnConf) {
            String key = entry.getKey();
            String value = yarnConf.get(key);
            if (key.startsWith("yarn.resourcemanager.") && key.endsWith(".address") && !value.startsWith("0.0.0.0")) {
                yarnSite.set(key, value);
            }
        }
        yarnSite.set(
                YarnConfiguration.RM_HOSTNAME,
                yarnConf.getSocketAddr(YarnConfiguration.RM_ADDRESS, YarnConfiguration.DEFAULT_RM_ADDRESS, 0)
                        .getHostString());
        write(yarnSite, new File(dir, "yarn-site.xml"));
    }

    private static void write(Configuration conf, File file) throws IOException {
        // Written aside and moved: a reader never sees half a file.
        Path partial = new File(file.getPath() + ".partial").toPath();
        try (OutputStream out = new FileOutputStream(partial.toFile())) {
            conf.writeXml(out);
        }
        Files.move(partial, file.toPath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static void stop(MiniYARNCluster yarn, MiniDFSCluster hdfs) {
        try {
            yarn.stop();
        } finally {
            hdfs.shutdown();
        }
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> options = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i += 2) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("expected --name value pairs, got " + String.join(" ", args));
            }
            options.put(args[i], args[i + 1]);
        }
        return options;
    }

    private static String require(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null) {
            throw new IllegalArgumentException("missing " + name);
        }
        return value;
    }
}
