// Subscribe to `notifications` with the graphql-ws client and print each one as a JSON line.
// Usage: node subscribe.mjs WS_URL TOKEN COUNT
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, count] = process.argv.slice(2);
const wanted = Number(count ?? 1);
setTimeout(() => {
  console.error("timed out");
  process.exit(2);
}, 20_000).unref();

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  retryAttempts: 0,
  on: { connected: () => console.log(JSON.stringify({ connected: true })) },
});

let received = 0;
client.subscribe(
  { query: "subscription { notifications { cursor kind message } }" },
  {
    next: (result) => {
      console.log(JSON.stringify(result));
      received += 1;
      if (received >= wanted) {
        client.dispose();
        process.exit(0);
      }
    },
    error: (error) => {
      console.error(JSON.stringify(error?.message ?? String(error)));
      process.exit(1);
    },
    complete: () => process.exit(received >= wanted ? 0 : 3),
  },
);
