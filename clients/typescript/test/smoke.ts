// Uses the generated client against a running gateway: node dist/test/smoke.js <baseUrl> [operatorKey].
// Every step checks what the service answered; the first mismatch exits non-zero with a message.
import { createSessionTrackingClient, type Problem, type SessionDocument } from "../src/client.js";

const [baseUrl, operatorKey] = process.argv.slice(2);
if (baseUrl === undefined) {
  throw new Error("usage: node dist/test/smoke.js <baseUrl> [operatorKey]");
}

const api = createSessionTrackingClient(baseUrl, operatorKey);

function check(condition: boolean, what: string): asserts condition {
  if (!condition) {
    throw new Error(`check failed: ${what}`);
  }
}

// Start a session.
const started = await api.POST("/session/start", {
  body: { user_id: "ts-client", model_group: "gpt-4", experiment_id: "client_test", environment: { runtime: "node" } },
});
check(started.response.status === 201 && started.data !== undefined, `start answered ${started.response.status}`);
const sessionId: string = started.data.session_id;
check(started.data.experiment_id === "client_test", "start echoes the experiment");

// One event, then a batch that ends the session.
const single = await api.POST("/session/event", {
  body: { session_id: sessionId, type: "click", data: { target: "button#send" }, t: Date.now(), id: "ts-1" },
});
check(single.data?.accepted === 1 && single.data.last_seq === 1, "single event accepted as seq 1");

const batch = await api.POST("/session/event", {
  body: {
    session_id: sessionId,
    events: [
      { type: "scroll", data: { scrollY: 120 }, id: "ts-2" },
      { type: "feedback", data: { feedback: "up" }, id: "ts-3" },
      { type: "click", data: { target: "button#send" }, id: "ts-1" },
    ],
    end: true,
  },
});
check(batch.data !== undefined, "batch answered 200");
const ack: { accepted: number; duplicates: number; last_seq: number; ended: boolean } = batch.data;
check(ack.accepted === 2 && ack.duplicates === 1 && ack.last_seq === 3 && ack.ended, `batch ack ${JSON.stringify(ack)}`);

// Read it back two events a page.
const pages: SessionDocument[] = [];
let afterSeq: number | null = 0;
while (afterSeq !== null) {
  const { data: page, response }: { data?: SessionDocument; response: Response } = await api.GET("/session/{sessionId}", {
    params: { path: { sessionId }, query: { after_seq: afterSeq, limit: 2 } },
  });
  check(page !== undefined, `page after ${afterSeq} answered ${response.status}`);
  pages.push(page);
  afterSeq = page.next_after_seq;
}
const events = pages.flatMap((p) => p.events);
check(pages.length === 2, `two pages, got ${pages.length}`);
check(events.map((e) => e.seq).join(",") === "1,2,3", "events numbered 1..3 in order");
check(events[0]?.id === "ts-1" && events[1]?.type === "scroll", "events as sent");
check(pages[0]?.end_time !== null && pages[0]?.event_count === 3, "the session has ended with 3 events");

// The ended session refuses a query: a typed problem.
const refused = await api.POST("/query", { body: { prompt: "Hello?", session_id: sessionId } });
check(refused.data === undefined && refused.error !== undefined, "a query in an ended session is refused");
const conflict: Problem = refused.error;
check(refused.response.status === 409 && conflict.status === 409, `409 problem, got ${refused.response.status}`);
check(refused.response.headers.get("content-type")?.startsWith("application/problem+json") === true, "problem+json");
check(typeof conflict.detail === "string" && conflict.detail.length > 0, "the problem says what was wrong");

// A query in a live session, and the legacy event log.
const live = await api.POST("/session/start", { body: { user_id: "ts-client", model_group: "gpt-4" } });
check(live.data !== undefined, "second session started");
const answer = await api.POST("/query", { body: { prompt: "How long is this prompt?", session_id: live.data.session_id } });
check(answer.data !== undefined && answer.data.response.length > 0, "the model answered");
check(answer.data.session_id === live.data.session_id && answer.data.latency_ms >= 0, "query answer fields");
const logged = await api.POST("/log_event", {
  body: { user_id: "ts-client", event_type: "feedback", session_id: live.data.session_id, data: { feedback: "down" } },
});
check(logged.data?.status === "ok" && logged.data.session_id === live.data.session_id, "log_event ok");

// An unknown session is a typed 404 problem.
const missing = await api.GET("/session/{sessionId}", { params: { path: { sessionId: "AAAAAAAAAAAAAAAAAAAAAAAA" } } });
check(missing.response.status === 404 && missing.error?.status === 404, "unknown session: 404 problem");

console.log("client smoke: 11 checks passed");
