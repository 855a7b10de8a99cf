package ai.dl4jbridge.ui;

import java.io.File;
import org.deeplearning4j.ui.api.UIServer;
import org.deeplearning4j.ui.model.storage.FileStatsStorage;

/**
 * DL4J's training UI in a JVM of its own: {@code --port N --stats FILE [--replay]}.
 *
 * <p>Live: stats posted by a training's {@code RemoteUIStatsStorageRouter} are stored in FILE (a
 * FileStatsStorage) and shown. Replay: FILE is shown as it is. Prints {@code listening on URL} once serving,
 * and stops when its standard input closes (the Python process that started it is gone) or on SIGTERM.
 */
public final class UiServerMain {
    private UiServerMain() {}

    public static void main(String[] args) throws Exception {
        int port = 9000;
        String stats = null;
        boolean replay = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--port":
                    port = Integer.parseInt(args[++i]);
                    break;
                case "--stats":
                    stats = args[++i];
                    break;
                case "--replay":
                    replay = true;
                    break;
                default:
                    usage("unknown argument " + args[i]);
            }
        }
        if (stats == null) {
            usage("--stats FILE is required");
        }
        File file = new File(stats);
        if (replay && !file.isFile()) {
            usage("no stats file at " + file);
        }
        System.setProperty("org.deeplearning4j.ui.port", Integer.toString(port));
        FileStatsStorage storage = new FileStatsStorage(file);
        UIServer server = UIServer.getInstance();
        if (replay) {
            server.attach(storage);
        } else {
            server.enableRemoteListener(storage, true);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> close(server, storage)));
        System.out.println("listening on http://localhost:" + server.getPort() + "/train/overview");
        System.out.flush();
        while (System.in.read() != -1) {
            // the parent keeps stdin open while it wants the UI
        }
        System.exit(0);
    }

    private static void close(UIServer server, FileStatsStorage storage) {
        try {
            server.stop();
        } catch (Exception ignored) {
            // stopping anyway
        }
        try {
            storage.close();
        } catch (Exception ignored) {
            // the file is flushed by MapDB's commit on close; nothing more to do
        }
    }

    private static void usage(String problem) {
        System.err.println("dl4j-bridge UI: " + problem + ". Usage: --port N --stats FILE [--replay]");
        System.exit(2);
    }
}
