package bench.reference;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The article's WholeMessage: id and status, plus every other field of the gateway's record passed
 * through unchanged (as sms-tracker does), so both systems write outputs of about the same size.
 */
@JsonPropertyOrder({"id", "status", "statusDescription"})
@JsonInclude(JsonInclude.Include.NON_NULL)
public final class WholeMessage {
    public String id;
    public String status;
    public String statusDescription;
    private final Map<String, Object> other = new LinkedHashMap<>();

    @JsonAnySetter
    public void set(String name, Object value) {
        other.put(name, value);
    }

    @JsonAnyGetter
    public Map<String, Object> other() {
        return other;
    }

    /** The article's {@code message.updateStatus(MessageStatus.SENT, "Sent successfully")}, as a copy. */
    public WholeMessage updateStatus(String newStatus, String description) {
        WholeMessage updated = new WholeMessage();
        updated.id = id;
        updated.status = newStatus;
        updated.statusDescription = description;
        updated.other.putAll(other);
        return updated;
    }
}
