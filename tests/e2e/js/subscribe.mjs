// One subscription through the reference graphql-transport-ws client (graphql-ws),
// as a browser or React Native app runs it.
//
//   node subscribe.mjs URL AUTHORIZATION QUERY VARIABLES_JSON
//
// Prints one JSON line per thing that happens: {"event": "connected"}, then
// {"event": "next", "payload": ...} per result, and at the end {"event": "complete"} or
// {"event": "error", ...}; {"event": "closed", "code": ...} when the socket closes.
// Closing standard input unsubscribes and exits.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, authorization, query, variablesJson] = process.argv.slice(2);

function out(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

function describe(error) {
  if (Array.isArray(error)) return { graphqlErrors: error };
  if (error && typeof error.code === "number") return { code: error.code, reason: error.reason };
  return { message: String(error && error.message ? error.message : error) };
}

let socketClosed;
const closed = new Promise((resolve) => {
  socketClosed = resolve;
});

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: authorization },
  retryAttempts: 0,
  on: {
    connected: () => out({ event: "connected" }),
    closed: (event) => {
      out({ event: "closed", code: event.code, reason: event.reason });
      socketClosed();
    },
  },
});

let finished = false;
async function finish(status) {
  if (finished) return;
  finished = true;
  unsubscribe();
  await client.dispose();
  // Exit once the socket has closed (so its close is reported), or after 5 s.
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5000))]);
  process.exit(status);
}

const unsubscribe = client.subscribe(
  { query, variables: JSON.parse(variablesJson) },
  {
    next: (payload) => out({ event: "next", payload }),
    error: (error) => {
      out({ event: "error", ...describe(error) });
      finish(1);
    },
    complete: () => {
      out({ event: "complete" });
      finish(0);
    },
  },
);

process.stdin.on("end", () => finish(0));
process.stdin.resume();
