package bench.reference;

import java.time.Duration;
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
