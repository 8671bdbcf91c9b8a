// The README's "Resuming with graphql-ws" pattern, driven by a test: graphql-ws resubscribes
// with the payload object it was given, so the last cursor kept in its `variables` is where
// the automatic retry resumes. The token goes in `connectionParams.headers`.
// Usage: node resume.mjs WS_URL TOKEN COUNT
// stdout: JSON lines: {"connected": n}, each notification, {"dropped": true}.
// stdin: a line "drop" ends the socket abruptly (as a network failure would); the client waits
// for a line "reconnect" before its automatic retry.
import { createInterface } from "node:readline";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, count] = process.argv.slice(2);
const wanted = Number(count);
setTimeout(() => {
  console.error("timed out");
  process.exit(2);
}, 30_000).unref();

// A command is awaited by name: "drop" by the loop at the end, "reconnect" by retryWait.
const arrived = new Map();
const waiting = new Map();
createInterface({ input: process.stdin }).on("line", (line) => {
  const name = line.trim();
  const resolve = waiting.get(name);
  if (resolve) {
    waiting.delete(name);
    resolve();
  } else arrived.set(name, (arrived.get(name) ?? 0) + 1);
});
const command = (name) => {
  if (arrived.get(name)) {
    arrived.set(name, arrived.get(name) - 1);
    return Promise.resolve();
  }
  return new Promise((resolve) => waiting.set(name, resolve));
};

let socket = null;
let connections = 0;
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: () => ({ headers: { Authorization: `Bearer ${token}` } }),
  retryAttempts: 3,
  shouldRetry: () => true,
  retryWait: () => command("reconnect"),
  on: {
    connected: (connected) => {
      socket = connected;
      connections += 1;
      console.log(JSON.stringify({ connected: connections }));
    },
  },
});

const request = {
  query: "subscription Resume($after: String) { notifications(after: $after) { id cursor kind } }",
  variables: { after: null },
};
let received = 0;
client.subscribe(request, {
  next: ({ data }) => {
    request.variables.after = data.notifications.cursor; // the retry resubscribes from here
    console.log(JSON.stringify(data.notifications));
    received += 1;
    if (received >= wanted) {
      client.dispose();
      process.exit(0);
    }
  },
  error: (error) => {
    console.error(JSON.stringify(error?.message ?? error?.code ?? String(error)));
    process.exit(1);
  },
  complete: () => process.exit(3),
});

command("drop").then(() => {
  socket.terminate();
  console.log(JSON.stringify({ dropped: true }));
});
