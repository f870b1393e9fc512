// The lookup page's script (src/api/page.rs). Every value from the API is inserted with
// textContent, never as HTML: ids, suppliers and message fields are user content. The token lives
// in the password field only: never stored, never put in a URL.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  const STATUS = {
    PENDING: "Not decided yet: waiting for a submit response of every part (or for the WholeMessage).",
    SENT: "Every part was accepted by its supplier (with receipt tracking: the delivery outcome is awaited).",
    FAILED: "A part was rejected with a commandStatus the gateway does not retry.",
    EXPIRED: "Not every part was accepted before the deadline.",
    DELIVERED: "Every part's final delivery receipt says delivered.",
    UNDELIVERED: "A final delivery receipt says not delivered.",
    DELIVERY_UNKNOWN: "No final delivery receipt arrived within the delivery timeout.",
    CANCELLED: "The message was withdrawn (tombstoned) before any status was decided.",
  };
  const KNOWN = {
    known: "The WholeMessage is in.",
    awaitingMessage: "Only submit responses so far: without the WholeMessage they become orphans at the deadline.",
    terminalMarker: "Final: only the status and when it was decided remain until the purge; the full final record " +
      "is on the message-status topic.",
  };
  const DEADLINE = {
    EXPIRED: "becomes EXPIRED unless every part is accepted first",
    ORPHANED: "its responses become orphans (dead letters) unless the WholeMessage arrives first",
    DELIVERY_UNKNOWN: "becomes DELIVERY_UNKNOWN unless a final receipt arrives first",
    PURGED: "purged: the tracker forgets it, and lookups answer \u201cnot found\u201d",
  };
  const SUBMIT = {
    noResponse: "no response yet",
    retrying: "retrying (the gateway retries this commandStatus)",
    accepted: "accepted",
    rejected: "rejected",
  };
  const UNAVAILABLE = {
    restoring: "its partition is still restoring its state on the instance that owns it",
    rebalancing: "the instances are handing its partition over (the group is rebalancing)",
    ownerUnreachable: "the instance that owns its partition gave no usable answer",
    notOwnedHere: "the instance that owns its partition cannot be asked through this one",
    failedClosed: "its partition's state is unreadable; an operator is needed",
    unavailable: "the tracker could not answer in time",
  };

  const form = $("lookup");
  const tokenField = $("token");
  const idField = $("message-id");
  const button = $("look-up");
  const notice = $("notice");
  const result = $("result");

  // A newer lookup makes the answer (and the pending retry) of an older one irrelevant.
  let current = 0;
  let retryTimer = null;

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = idField.value.trim();
    if (id === "") {
      show("badId", "error", "Type or paste a message id first.");
      idField.focus();
      return;
    }
    current += 1;
    clearTimeout(retryTimer);
    lookUp(id, current, false);
  });

  async function lookUp(id, lookup, retried) {
    button.disabled = true;
    show("busy", "info", retried ? `Asking again for \u201c${id}\u201d\u2026` : `Looking up \u201c${id}\u201d\u2026`);
    const headers = { Accept: "application/json" };
    const token = tokenField.value.trim();
    if (token !== "") headers.Authorization = `Bearer ${token}`;
    let response;
    let body = null;
    try {
      response = await fetch(`/v1/messages/${encodeURIComponent(id)}`, {
        headers, cache: "no-store", credentials: "omit", redirect: "error",
      });
      body = await response.json().catch(() => null);
    } catch (error) {
      if (lookup === current) {
        button.disabled = false;
        show("noAnswer", "error", `The tracker did not answer (${error.message}). Is the page still served?`);
      }
      return;
    }
    if (lookup !== current) return;
    button.disabled = false;
    answered(id, lookup, retried, response, body || {});
  }

  function answered(id, lookup, retried, response, body) {
    const detail = typeof body.message === "string" ? ` (${body.message})` : "";
    switch (response.status) {
      case 200:
        hide(notice);
        render(body, response.headers.get("X-Sms-Tracker-Forwarded-By"));
        return;
      case 404:
        show("notFound", "warning", `Not found: the tracker holds nothing for \u201c${id}\u201d. It never saw ` +
          "this id, or it purged the message after its final status (--retention-seconds); a purged " +
          `message's final status is on the message-status topic.${detail}`);
        return;
      case 401:
        show("unauthorized", "error", (token() ? "The token was refused: check it and try again." :
          "This tracker needs a token: type the API token (--api-token-file) above.") + detail);
        tokenField.focus();
        return;
      case 400:
        show("badId", "error", `This id cannot be looked up${detail}.`);
        return;
      case 503: {
        const why = UNAVAILABLE[body.error] || "the tracker cannot answer right now";
        if (retried) {
          show("unavailable", "error", `Still not available after one retry: ${why}.${detail} Try again later.`);
          return;
        }
        const seconds = Math.min(Math.max(Number(response.headers.get("Retry-After")) || 1, 1), 120);
        show("retrying", "warning", `Not available right now: ${why}.${detail} Retrying once in ${seconds} s\u2026`);
        retryTimer = setTimeout(() => lookUp(id, lookup, true), seconds * 1000);
        return;
      }
      default:
        show("unexpected", "error", `Unexpected answer: HTTP ${response.status}.${detail}`);
    }
  }

  function token() {
    return tokenField.value.trim() !== "";
  }

  // A notice; `outcome` is for tests and styles, the text for people.
  function show(outcome, kind, text) {
    notice.dataset.outcome = outcome;
    notice.className = kind;
    notice.textContent = text;
    notice.hidden = false;
    if (outcome !== "busy" && outcome !== "retrying") hide(result);
  }

  function hide(element) {
    element.hidden = true;
  }

  function render(view, forwardedBy) {
    $("status").textContent = String(view.status);
    $("status").dataset.status = String(view.status);
    $("result-id").textContent = String(view.id);
    $("status-text").textContent = STATUS[view.status] || "";

    const summary = $("summary");
    summary.replaceChildren();
    pair(summary, "Held as", `${view.known}: ${KNOWN[view.known] || ""}`);
    pair(summary, "Partition", String(view.partition));
    pair(summary, "Answered by", view.answeredBy, "answered-by");
    pair(summary, "Forwarded", forwardedBy ? `yes: ${forwardedBy}, the instance this page asked, does not own the ` +
      "partition and forwarded the lookup" : "no: the instance this page asked owns the partition", "forwarded");
    if (view.deadline) {
      pair(summary, "Deadline", `${time(view.deadline.at)}: ${DEADLINE[view.deadline.then] || view.deadline.then}`);
    }
    if (view.totalParts !== undefined) pair(summary, "Parts", String(view.totalParts));
    pair(summary, "Content", view.contentMasked ? "masked (text and recipient; --api-reveal-content shows them)" :
      "shown in full (--api-reveal-content)");

    renderTimeline(view);
    renderParts(view.parts || []);
    renderMessage(view.message);
    result.hidden = false;
    // Screen readers announce the answer's heading (status and id) once it is there.
    $("result-title").focus();
  }

  function renderTimeline(view) {
    const stamps = view.timestamps || {};
    const events = [
      [stamps.firstRecordAt, "First record of this message seen"],
      [stamps.messageRecordAt, "WholeMessage received (sent-messages)"],
      [stamps.sentAt, "SENT: every part accepted; delivery receipts awaited"],
      [stamps.terminalAt, `Final status ${view.status}: ${STATUS[view.status] || ""}`],
    ].filter(([at]) => typeof at === "string");
    events.sort((a, b) => a[0].localeCompare(b[0]));
    if (view.deadline) {
      events.push([view.deadline.at, `Next, unless a record decides first: ${DEADLINE[view.deadline.then] ||
        view.deadline.then}`, "next"]);
    }
    const list = $("timeline");
    list.replaceChildren();
    for (const [at, what, kind] of events) {
      const item = document.createElement("li");
      if (kind) item.className = kind;
      const when = document.createElement("time");
      when.dateTime = at;
      when.textContent = time(at);
      item.append(when, " ", what);
      list.append(item);
    }
  }

  function renderParts(parts) {
    const body = $("parts").tBodies[0];
    body.replaceChildren();
    $("parts").hidden = parts.length === 0;
    const none = $("parts-none");
    none.hidden = parts.length !== 0;
    none.textContent = "No part is known (a final marker keeps none, or no submit response arrived yet).";
    for (const part of parts) {
      const row = body.insertRow();
      cell(row, String(part.partNumber));
      cell(row, SUBMIT[part.submit] || part.submit, `submit ${part.submit}`);
      cell(row, commandStatus(part));
      cell(row, part.supplier);
      cell(row, part.supplierMessageId, "code");
      cell(row, receipt(part.receipt));
    }
  }

  function renderMessage(message) {
    const list = $("message");
    list.replaceChildren();
    const none = $("message-none");
    none.hidden = message !== undefined && message !== null;
    none.textContent = "Not held: a final marker keeps only the status, and responses may arrive before " +
      "their WholeMessage.";
    for (const [name, value] of Object.entries(message || {})) {
      pair(list, name, typeof value === "string" ? value : JSON.stringify(value));
    }
  }

  function commandStatus(part) {
    if (typeof part.commandStatus !== "number") return "";
    const hex = `0x${part.commandStatus.toString(16).toUpperCase().padStart(8, "0")}`;
    return part.commandStatusName ? `${hex} ${part.commandStatusName}` : hex;
  }

  function receipt(r) {
    if (!r) return "none yet";
    const parts = [r.stat];
    if (r.err) parts.push(`err ${r.err}`);
    if (r.doneDate) parts.push(`done ${r.doneDate}`);
    parts.push(r.isFinal ? "final" : "intermediate");
    return parts.join(", ");
  }

  function time(at) {
    return typeof at === "string" ? at.replace("T", " ").replace(/Z$/, " UTC") : "";
  }

  function pair(list, name, value, id) {
    const term = document.createElement("dt");
    term.textContent = name;
    const definition = document.createElement("dd");
    definition.textContent = value === undefined || value === null ? "" : String(value);
    if (id) definition.id = id;
    list.append(term, definition);
  }

  function cell(row, value, className) {
    const td = row.insertCell();
    td.textContent = value === undefined || value === null ? "" : String(value);
    if (className) td.className = className;
  }
})();
