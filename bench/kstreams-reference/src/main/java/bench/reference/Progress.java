package bench.reference;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * What {@link Tuned} keeps per message id in its one store: the message while it is open, and a
 * terminal marker once its status was published (so that late duplicates and updates are ignored
 * rather than re-emitting it). Encoded by hand into a few bytes plus the message's own JSON: the
 * value is read and written (RocksDB and changelog) on every record, so it is kept cheap to encode
 * and small, as a performance-minded user would (not measured against a JSON serde).
 *
 * <pre>
 * open:   [0][totalParts: u8, 0 = no response yet][per part: state u8, commandStatus i32, supplierMessageId (i16 length + UTF-8, -1 = none)]
 *         [message: i32 length + UTF-8 JSON, -1 = not yet arrived]
 * closed: [1 SENT | 2 FAILED | 3 CANCELLED][at: i64 epoch ms]
 * </pre>
 */
final class Progress {
    static final byte OPEN = 0;
    static final byte SENT = 1;
    static final byte FAILED = 2;
    static final byte CANCELLED = 3;

    /** Part states, as the tracker's: no response, retrying (retryable error), accepted, rejected. */
    static final byte NO_RESPONSE = 0;
    static final byte RETRYING = 1;
    static final byte ACCEPTED = 2;
    static final byte REJECTED = 3;

    byte kind = OPEN;
    long closedAt;
    /** Per part (index = part number − 1); empty until the first response fixes the count. */
    byte[] partStates = new byte[0];
    int[] commandStatuses = new int[0];
    String[] supplierIds = new String[0];
    /** The WholeMessage JSON as received (latest value), or null. */
    byte[] message;

    boolean closed() {
        return kind != OPEN;
    }

    void fixPartCount(int total) {
        partStates = new byte[total];
        commandStatuses = new int[total];
        supplierIds = new String[total];
    }

    static Progress closed(byte kind, long at) {
        Progress p = new Progress();
        p.kind = kind;
        p.closedAt = at;
        return p;
    }

    byte[] encode() {
        if (closed()) {
            return ByteBuffer.allocate(9).put(kind).putLong(closedAt).array();
        }
        byte[][] ids = new byte[supplierIds.length][];
        int size = 1 + 1 + 4 + (message == null ? 0 : message.length);
        for (int i = 0; i < ids.length; i++) {
            ids[i] = supplierIds[i] == null ? null : supplierIds[i].getBytes(StandardCharsets.UTF_8);
            size += 1 + 4 + 2 + (ids[i] == null ? 0 : ids[i].length);
        }
        ByteBuffer out = ByteBuffer.allocate(size).put(OPEN).put((byte) partStates.length);
        for (int i = 0; i < ids.length; i++) {
            out.put(partStates[i]).putInt(commandStatuses[i]);
            if (ids[i] == null) {
                out.putShort((short) -1);
            } else {
                out.putShort((short) ids[i].length).put(ids[i]);
            }
        }
        if (message == null) {
            out.putInt(-1);
        } else {
            out.putInt(message.length).put(message);
        }
        return out.array();
    }

    static Progress decode(byte[] bytes) {
        ByteBuffer in = ByteBuffer.wrap(bytes);
        Progress p = new Progress();
        p.kind = in.get();
        if (p.closed()) {
            p.closedAt = in.getLong();
            return p;
        }
        p.fixPartCount(Byte.toUnsignedInt(in.get()));
        for (int i = 0; i < p.partStates.length; i++) {
            p.partStates[i] = in.get();
            p.commandStatuses[i] = in.getInt();
            short length = in.getShort();
            if (length >= 0) {
                p.supplierIds[i] = new String(bytes, in.position(), length, StandardCharsets.UTF_8);
                in.position(in.position() + length);
            }
        }
        int length = in.getInt();
        if (length >= 0) {
            p.message = new byte[length];
            in.get(p.message);
        }
        return p;
    }
}
