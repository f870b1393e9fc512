package bench.reference;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;

/**
 * Kafka Streams as a user would write the tracker's job to be correct and fast — the peer the
 * benchmark's ratios are stated against (bench/compare.sh system {@code kstreams-tuned}); the
 * article's topology stays in {@link Reference}.
 *
 * <p>Why not the DSL: the article's KTable-KTable join emits on every update of either side, and
 * its aggregate counts a duplicate response as a part. Keying parts by part number fixes the count,
 * but the join still re-emits SENT for every later duplicate or message update, and suppressing
 * that needs a second store of "already emitted" ids. One processor over both inputs with one
 * persistent store (RocksDB, changelog-backed) does it all with one read and one write per record:
 *
 * <pre>
 * sent-messages ──┐
 *                 ├── processor (store "progress": id → open message + parts, or terminal marker) ── output
 * submit-responses┘
 * </pre>
 *
 * <p>Semantics, as sms-tracker's (README "Semantics") where Kafka Streams expresses them: a message
 * is SENT once its WholeMessage (latest value) and a successful response (commandStatus 0) for
 * every part 1..totalParts have arrived, in any order; the first response of a part wins, later
 * ones change nothing; exactly one status per message; updates after it are ignored; the first
 * response fixes totalParts; a retryable commandStatus (0x08, 0x14, 0x58, 0x64) leaves the part
 * open, any other fails the message (FAILED, once); a tombstone before the status cancels it.
 * The output is the WholeMessage with every field kept in order and status, statusDescription,
 * parts and statusUpdatedAt set, as the tracker writes it. Not expressed: timeouts (EXPIRED,
 * orphans), purging terminal markers after a retention period (state grows by one marker per
 * message), dead letters (an unreadable record is skipped and counted in the log), timestamp-order
 * between the two inputs beyond Kafka Streams' own (max.task.idle.ms).
 *
 * <p>Flags as {@link Reference}'s, plus --cache true|false (record cache on the store, default
 * false: with it the run took more CPU and much more memory; its size is
 * statestore.cache.max.bytes, via --property). Defaults set here: exactly_once_v2, one stream
 * thread per core, topology.optimization=all, producer lz4, batch.size 262144 (the default 16384
 * cost more CPU), linger.ms 5 (the tracker's), max.poll.records 5000, commit.interval.ms
 * 100 (the tracker's, so both have the same latency floor); each can be overridden with --property
 * k=v. docs/BENCHMARKS.md gives the measurements behind each choice.
 */
public final class Tuned {
    static final String STORE = "progress";
    private static final ObjectMapper MAPPER =
            new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    private static final ObjectReader PARTS = MAPPER.readerFor(MessagePart.class);
    private static final Set<Integer> RETRYABLE = Set.of(0x08, 0x14, 0x58, 0x64);
    private static final DateTimeFormatter RFC3339_MILLIS =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    private Tuned() {}

    public static Topology topology(String sentTopic, String responsesTopic, String outputTopic, boolean cache) {
        StoreBuilder<KeyValueStore<String, byte[]>> store =
                Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(STORE), Serdes.String(), Serdes.ByteArray());
        if (cache) {
            store = store.withCachingEnabled();
        }
        Topology topology = new Topology();
        topology.addSource("sent-messages", Serdes.String().deserializer(), Serdes.ByteArray().deserializer(), sentTopic);
        topology.addSource("submit-responses", Serdes.String().deserializer(), Serdes.ByteArray().deserializer(),
                responsesTopic);
        topology.addProcessor("messages", () -> new Tracker(true), "sent-messages");
        topology.addProcessor("responses", () -> new Tracker(false), "submit-responses");
        // One store shared by both processors puts both inputs into one sub-topology: task p gets
        // partition p of both topics (they must be co-partitioned, as for the tracker).
        topology.addStateStore(store, "messages", "responses");
        topology.addSink("statuses", outputTopic, Serdes.String().serializer(), Serdes.ByteArray().serializer(),
                "messages", "responses");
        return topology;
    }

    /** Applies one input record to the message's progress; forwards its status once decided. */
    static final class Tracker implements Processor<String, byte[], String, byte[]> {
        private final boolean messages;
        private ProcessorContext<String, byte[]> context;
        private KeyValueStore<String, byte[]> store;
        private long skipped;

        Tracker(boolean messages) {
            this.messages = messages;
        }

        @Override
        public void init(ProcessorContext<String, byte[]> context) {
            this.context = context;
            this.store = context.getStateStore(STORE);
        }

        @Override
        public void process(Record<String, byte[]> record) {
            String id = record.key();
            if (id == null || id.isEmpty()) {
                skip("null key");
                return;
            }
            byte[] stored = store.get(id);
            Progress progress = stored == null ? new Progress() : Progress.decode(stored);
            if (progress.closed()) {
                return; // a duplicate, an update or a tombstone after the status: nothing changes
            }
            if (messages) {
                if (record.value() == null) {
                    store.put(id, Progress.closed(Progress.CANCELLED, record.timestamp()).encode());
                    return;
                }
                progress.message = record.value();
            } else if (!applyPart(progress, record.value())) {
                return;
            }
            decide(id, progress, record);
        }

        /** Records a part's response; false if it changes nothing (duplicate, invalid). */
        private boolean applyPart(Progress progress, byte[] value) {
            MessagePart part;
            try {
                part = value == null ? null : PARTS.readValue(value);
            } catch (IOException e) {
                part = null;
            }
            if (part == null || part.commandStatus == null || part.totalParts < 1 || part.totalParts > 255
                    || part.partNumber < 1 || part.partNumber > part.totalParts) {
                skip("invalid response");
                return false;
            }
            if (progress.partStates.length == 0) {
                progress.fixPartCount(part.totalParts);
            } else if (progress.partStates.length != part.totalParts) {
                skip("totalParts differs from the first response's");
                return false;
            }
            int i = part.partNumber - 1;
            byte state = progress.partStates[i];
            if (state == Progress.ACCEPTED || state == Progress.REJECTED) {
                return false; // the first decisive answer wins
            }
            int status = part.commandStatus;
            if (status == 0 && part.supplierMessageId != null && !part.supplierMessageId.isEmpty()) {
                progress.partStates[i] = Progress.ACCEPTED;
                progress.supplierIds[i] = part.supplierMessageId;
            } else {
                progress.partStates[i] = RETRYABLE.contains(status) ? Progress.RETRYING : Progress.REJECTED;
            }
            progress.commandStatuses[i] = status;
            return true;
        }

        /** FAILED once a part is rejected, SENT once all are accepted (message known); else stores. */
        private void decide(String id, Progress progress, Record<String, byte[]> record) {
            int total = progress.partStates.length;
            if (progress.message == null || total == 0) {
                store.put(id, progress.encode());
                return;
            }
            String status = null;
            String description = null;
            int accepted = 0;
            for (int i = 0; i < total && status == null; i++) {
                if (progress.partStates[i] == Progress.REJECTED) {
                    status = "FAILED";
                    description = String.format("Part %d/%d rejected: command_status 0x%08X", i + 1, total,
                            progress.commandStatuses[i]);
                } else if (progress.partStates[i] == Progress.ACCEPTED) {
                    accepted++;
                }
            }
            if (status == null && accepted == total) {
                status = "SENT";
                description = "Sent successfully";
            }
            if (status == null) {
                store.put(id, progress.encode());
                return;
            }
            byte[] output = render(id, progress, status, description);
            store.put(id, Progress.closed(status.equals("SENT") ? Progress.SENT : Progress.FAILED, record.timestamp())
                    .encode());
            context.forward(record.withValue(output));
        }

        private void skip(String why) {
            if (skipped++ % 10_000 == 0) {
                System.err.println("skipped " + skipped + " record(s), latest: " + why);
            }
        }
    }

    /** The WholeMessage, fields kept in order, with the status fields set (as the tracker's output). */
    static byte[] render(String id, Progress progress, String status, String description) {
        ObjectNode out;
        try {
            out = (ObjectNode) MAPPER.readTree(progress.message);
        } catch (IOException | ClassCastException e) {
            out = MAPPER.createObjectNode().put("id", id);
        }
        out.put("status", status);
        out.put("statusDescription", description);
        ArrayNode parts = out.putArray("parts");
        for (int i = 0; i < progress.partStates.length; i++) {
            ObjectNode part = parts.addObject().put("partNumber", i + 1);
            if (progress.partStates[i] != Progress.NO_RESPONSE) {
                part.put("commandStatus", progress.commandStatuses[i]);
            }
            if (progress.supplierIds[i] != null) {
                part.put("supplierMessageId", progress.supplierIds[i]);
            }
        }
        out.put("statusUpdatedAt", RFC3339_MILLIS.format(Instant.now()));
        try {
            return MAPPER.writeValueAsBytes(out);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public static void main(String[] args) throws InterruptedException {
        Runner.Flags parsed = Runner.parse(args, "bench.reference.Tuned");
        if (parsed == null) {
            return;
        }
        Map<String, String> flags = parsed.values();
        Properties extra = parsed.extra();
        String stateDir = flags.get("state-dir");
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, flags.getOrDefault("application-id", "kstreams-tuned"));
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, flags.getOrDefault("bootstrap-servers", "localhost:9092"));
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG,
                flags.getOrDefault("threads", String.valueOf(Runtime.getRuntime().availableProcessors())));
        // No effect on a Processor API topology (nothing to merge or reuse); set as a user would.
        props.put(StreamsConfig.TOPOLOGY_OPTIMIZATION_CONFIG, StreamsConfig.OPTIMIZE);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, "100");
        props.put(StreamsConfig.producerPrefix(ProducerConfig.COMPRESSION_TYPE_CONFIG), "lz4");
        props.put(StreamsConfig.producerPrefix(ProducerConfig.BATCH_SIZE_CONFIG), "262144");
        props.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), "5");
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_POLL_RECORDS_CONFIG), "5000");
        if (stateDir != null) {
            props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        }
        props.putAll(extra);

        Topology topology = topology(flags.getOrDefault("sent-topic", "sent-messages"),
                flags.getOrDefault("responses-topic", "submit-responses"),
                flags.getOrDefault("output-topic", "message-status"),
                Boolean.parseBoolean(flags.getOrDefault("cache", "false")));
        System.out.println(topology.describe());
        System.out.println("properties " + props);
        Runner.run(topology, props);
    }
}
