// The reference graphql-sse client (distinct connections mode): one query, then `notifications`,
// each result printed as a JSON line. Usage: node sse-subscribe.mjs HTTP_URL TOKEN COUNT
import { createClient } from "graphql-sse";

const [url, token, count] = process.argv.slice(2);
const wanted = Number(count ?? 1);
setTimeout(() => {
  console.error("timed out");
  process.exit(2);
}, 20_000).unref();

const client = createClient({
  url,
  headers: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
});

try {
  for await (const result of client.iterate({ query: "{ me { id } }" })) {
    console.log(JSON.stringify({ query: result }));
  }
} catch (error) {
  console.error(JSON.stringify(error?.message ?? String(error)));
  process.exit(1);
}
console.log(JSON.stringify({ subscribing: true }));

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
