package ai.dl4jbridge.spark;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkContext;

/**
 * Files on any Hadoop file system (file:, hdfs:, s3a:, ... whatever the classpath and configuration provide), for
 * DataSet files and their metadata: listed, read and written through Hadoop's FileSystem, never java.io.File. A path
 * without a scheme is on the default file system (fs.defaultFS: the local disk unless configured otherwise).
 */
public final class HadoopFiles {
    private HadoopFiles() {}

    /** The running SparkContext's Hadoop configuration (spark.hadoop.* settings included), else Hadoop's default. */
    public static Configuration configuration() {
        scala.Option<SparkContext> active = org.apache.spark.SparkContext$.MODULE$.getActive();
        return active.isDefined() ? active.get().hadoopConfiguration() : new Configuration();
    }

    /** The files directly in `directory` whose names start with `prefix` and end with `suffix`, as fully qualified
     * URIs in name order. FileNotFoundException if the directory does not exist. */
    public static String[] list(String directory, String prefix, String suffix) throws IOException {
        Path dir = new Path(directory);
        FileSystem fs = dir.getFileSystem(configuration());
        if (!fs.getFileStatus(dir).isDirectory()) {
            throw new FileNotFoundException(directory + " is not a directory");
        }
        List<String> found = new ArrayList<>();
        for (FileStatus status : fs.listStatus(dir)) {
            String name = status.getPath().getName();
            if (status.isFile() && name.startsWith(prefix) && name.endsWith(suffix)) {
                found.add(status.getPath().toString());
            }
        }
        String[] sorted = found.toArray(new String[0]);
        Arrays.sort(sorted);
        return sorted;
    }

    /** The file's text (UTF-8), or null where there is no such file. */
    public static String readText(String file) throws IOException {
        Path path = new Path(file);
        FileSystem fs = path.getFileSystem(configuration());
        if (!fs.exists(path)) {
            return null;
        }
        try (InputStream in = fs.open(path)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** Writes the file whole: to a hidden temporary name beside it, then renamed over it (readers never see a part). */
    public static void writeText(String file, String text) throws IOException {
        Path path = new Path(file);
        FileSystem fs = path.getFileSystem(configuration());
        Path tmp = new Path(path.getParent(), "." + path.getName() + ".tmp");
        try (OutputStream out = fs.create(tmp, true)) {
            out.write(text.getBytes(StandardCharsets.UTF_8));
        }
        if (fs.exists(path) && !fs.delete(path, false)) {
            throw new IOException("cannot replace " + file);
        }
        if (!fs.rename(tmp, path)) {
            throw new IOException("cannot rename " + tmp + " to " + file);
        }
    }

    /** Creates the directory and its parents where missing. */
    public static void mkdirs(String directory) throws IOException {
        Path dir = new Path(directory);
        if (!dir.getFileSystem(configuration()).mkdirs(dir)) {
            throw new IOException("cannot create " + directory);
        }
    }

    /** Writes through `write` to a temporary name in the file's folder, then renames it to the file. */
    static void writeWhole(FileSystem fs, Path path, Writer write) throws IOException {
        Path tmp = new Path(path.getParent(), "." + path.getName() + ".tmp");
        try (OutputStream out = fs.create(tmp, true)) {
            write.to(out);
        }
        if (!fs.rename(tmp, path)) {
            throw new IOException("cannot rename " + tmp + " to " + path);
        }
    }

    interface Writer {
        void to(OutputStream out) throws IOException;
    }
}
