package bench.reference;

import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The Kafka Streams topology of "Making of Message Gateway with Kafka - Part 4", unchanged:
 *
 * <pre>
 * table(sent-messages) ; stream(submit-responses).groupByKey().aggregate(append part)
 *   .filter(parts.size == totalPartsCount).join(sentMessages, set SENT "Sent successfully")
 *   .toStream().to(output)
 * </pre>
 *
 * with processing.guarantee=exactly_once_v2 and otherwise Kafka Streams defaults (one stream
 * thread, RocksDB stores with changelogs, 10 MB record cache, commit.interval.ms 100 under EOS).
 *
 * <p>Flags (each also from an environment variable): --bootstrap-servers (KSREF_BOOTSTRAP_SERVERS,
 * localhost:9092), --application-id (KSREF_APPLICATION_ID, kstreams-reference), --sent-topic
 * (KSREF_SENT_TOPIC, sent-messages), --responses-topic (KSREF_RESPONSES_TOPIC, submit-responses),
 * --output-topic (KSREF_OUTPUT_TOPIC, message-status), --state-dir (KSREF_STATE_DIR, Kafka Streams
 * default), --threads (KSREF_THREADS, 1 = the default), --property k=v (repeatable, any
 * StreamsConfig/client property).
 *
 * <p>Prints "state RUNNING" etc. on stdout; SIGTERM closes it gracefully.
 */
public final class Reference {
    private Reference() {}

    public static Topology topology(String sentTopic, String responsesTopic, String outputTopic) {
        Serde<String> keys = Serdes.String();
        Serde<WholeMessage> wholeMessages = JsonSerde.of(WholeMessage.class);
        Serde<MessagePart> parts = JsonSerde.of(MessagePart.class);
        Serde<MessagePartsAggregate> aggregates = JsonSerde.of(MessagePartsAggregate.class);

        StreamsBuilder builder = new StreamsBuilder();
        KTable<String, WholeMessage> sentMessages =
                builder.table(sentTopic, Consumed.with(keys, wholeMessages), Materialized.with(keys, wholeMessages));
        builder.stream(responsesTopic, Consumed.with(keys, parts))
                .groupByKey(Grouped.with(keys, parts))
                .aggregate(MessagePartsAggregate::new,
                        (messageId, part, aggregate) -> aggregate.add(part),
                        Materialized.with(keys, aggregates))
                .filter((messageId, value) -> value.parts.size() == value.totalPartsCount)
                .join(sentMessages,
                        (messageParts, message) -> message.updateStatus("SENT", "Sent successfully"),
                        Materialized.with(keys, wholeMessages))
                .toStream()
                .to(outputTopic, Produced.with(keys, wholeMessages));
        return builder.build();
    }

    public static void main(String[] args) throws InterruptedException {
        Runner.Flags parsed = Runner.parse(args, "bench.reference.Reference");
        if (parsed == null) {
            return;
        }
        Map<String, String> flags = parsed.values();
        Properties extra = parsed.extra();
        String bootstrap = option(flags, "bootstrap-servers", "localhost:9092");
        String applicationId = option(flags, "application-id", "kstreams-reference");
        String sentTopic = option(flags, "sent-topic", "sent-messages");
        String responsesTopic = option(flags, "responses-topic", "submit-responses");
        String outputTopic = option(flags, "output-topic", "message-status");
        String stateDir = option(flags, "state-dir", null);
        String threads = option(flags, "threads", "1");

        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
        if (stateDir != null) {
            props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        }
        props.putAll(extra);

        Topology topology = topology(sentTopic, responsesTopic, outputTopic);
        System.out.println(topology.describe());
        Runner.run(topology, props);
    }

    private static String option(Map<String, String> flags, String name, String fallback) {
        String value = flags.get(name);
        if (value == null) {
            value = System.getenv("KSREF_" + name.toUpperCase().replace('-', '_'));
        }
        return value != null ? value : fallback;
    }
}
