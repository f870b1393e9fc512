package bench.reference;

import java.util.ArrayList;
import java.util.List;

/**
 * The article's aggregate: it appends every part it is given (duplicates included) and remembers
 * the part count the parts announce. The topology's filter keeps it while {@code parts.size ==
 * totalPartsCount}.
 */
public final class MessagePartsAggregate {
    public List<MessagePart> parts = new ArrayList<>();
    public int totalPartsCount;

    public MessagePartsAggregate add(MessagePart part) {
        parts.add(part);
        totalPartsCount = part.totalParts;
        return this;
    }
}
