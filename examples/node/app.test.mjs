// An app's tests against nemosim with Node's test runner:
//   NEMOSIM=/path/to/nemosim node --test examples/node/
// They assert on what came back and on what the app sent (the journal).
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { startSimulator } from "./nemosim.mjs";

const attribution = { "X-Skill-Source": "example-node-app", "X-Skill-Version": "1.0.0", "X-Skill-Platform": "node" };
let simulator;

before(async () => {
  simulator = await startSimulator();
});
after(async () => {
  await simulator.stop();
});
beforeEach(async () => {
  await simulator.reset();
});

async function call(method, path, { token, clientId, body, accept = "application/json" } = {}) {
  const headers = { Accept: accept, ...attribution };
  if (token) headers.Authorization = "Bearer " + token;
  if (clientId) headers["X-Client-Id"] = clientId;
  if (body) headers["Content-Type"] = "application/json";
  return fetch(simulator.url + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
}

async function envelope(method, path, options) {
  const answer = await (await call(method, path, options)).json();
  // An HTTP 200 can carry an error code: only code 0 is success.
  if (answer.code !== 0) throw new Error(`${method} ${path}: code ${answer.code}: ${answer.message}`);
  return answer.data;
}

test("a token, a session and a message with its event stream", async () => {
  const { token } = await envelope("POST", "/api/auth/anonymous-token", { clientId: "node-example-client" });
  const session = await envelope("POST", "/api/tasks/me/with-session/nemo_agent", { token, body: { task_name: "node", language: "en" } });
  const response = await call("POST", "/run_sse", {
    token,
    accept: "text/event-stream",
    body: { app_name: "nemo_agent", user_id: "me", session_id: session.session_id, new_message: { parts: [{ text: "make a 30-second promo video" }] } },
  });
  assert.equal(response.headers.get("content-type").split(";")[0], "text/event-stream");
  const text = await response.text();
  const events = text.split("\n").filter((line) => line.startsWith("data:")).length;
  assert.ok(events > 0, "the stream carried events");

  const [message] = await simulator.journal({ method: "POST", path: "/run_sse" });
  assert.equal(message.session, session.session_id);
  assert.equal(message.stream.events, events);
  assert.deepEqual(message.missing_attribution, []);
});

test("credits: the same answer twice is the same bytes (sorted keys)", async () => {
  const { token } = await envelope("POST", "/api/auth/anonymous-token", { clientId: "node-example-credits" });
  const first = await (await call("GET", "/api/credits/balance/simple", { token })).text();
  const second = await (await call("GET", "/api/credits/balance/simple", { token })).text();
  assert.equal(first, second);
  assert.deepEqual(Object.keys(JSON.parse(first)), ["code", "data", "message"]);
});

test("an error code in an HTTP 200 is not success", async () => {
  const { token } = await envelope("POST", "/api/auth/anonymous-token", { clientId: "node-example-errors" });
  await assert.rejects(envelope("GET", "/api/state/nemo_agent/me/0000000000000000000/latest", { token }), /code 1002/);
});
