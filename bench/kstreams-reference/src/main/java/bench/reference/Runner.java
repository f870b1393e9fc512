package bench.reference;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;

/**
 * Runs a topology until SIGTERM or a fatal error, the same way for both Kafka Streams systems of
 * the benchmark: prints each state change (the harness reads them), exits 1 after an uncaught
 * exception so that a broken run is not mistaken for a finished one.
 */
final class Runner {
    private Runner() {}

    /** The command line of both mains: `--name value` pairs, and `--property key=value` (repeatable). */
    record Flags(Map<String, String> values, Properties extra) {}

    /** Parses the command line; null after printing help for `--help`. */
    static Flags parse(String[] args, String mainClass) {
        Map<String, String> values = new HashMap<>();
        Properties extra = new Properties();
        for (int i = 0; i < args.length; i++) {
            String flag = args[i];
            if (flag.equals("--help") || flag.equals("-h")) {
                System.out.println("see the class comment of " + mainClass + " (bench/kstreams-reference)");
                return null;
            }
            if (i + 1 >= args.length || !flag.startsWith("--")) {
                throw new IllegalArgumentException("expected --flag value, got " + flag);
            }
            String value = args[++i];
            if (flag.equals("--property")) {
                int eq = value.indexOf('=');
                extra.put(value.substring(0, eq), value.substring(eq + 1));
            } else {
                values.put(flag.substring(2), value);
            }
        }
        return new Flags(values, extra);
    }

    static void run(Topology topology, Properties props) throws InterruptedException {
        KafkaStreams streams = new KafkaStreams(topology, props);
        CountDownLatch stopped = new CountDownLatch(1);
        int[] exitCode = {0};
        streams.setStateListener((newState, oldState) -> {
            System.out.println("state " + newState);
            System.out.flush();
            if (newState == KafkaStreams.State.ERROR || newState == KafkaStreams.State.NOT_RUNNING) {
                stopped.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(error -> {
            System.err.println("fatal: " + error);
            error.printStackTrace();
            exitCode[0] = 1;
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(30));
            stopped.countDown();
        }, "shutdown"));
        streams.start();
        stopped.await();
        System.exit(exitCode[0]);
    }
}
