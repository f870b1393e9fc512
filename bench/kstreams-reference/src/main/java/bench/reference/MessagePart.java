package bench.reference;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;

/** One SMPP part's submit response, as the gateway writes it to submit-responses. */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public final class MessagePart {
    public String messageId;
    public int partNumber;
    public int totalParts;
    public String supplierMessageId;
    public Integer commandStatus;
    public String supplier;
    public String receivedAt;
}
