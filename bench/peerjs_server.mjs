// Starts the PeerJS server (npm package `peer` 1.0.2, as installed by
// scripts/deps.sh) for the signaling benchmark: bench/run.sh compares it
// with webrtc2d under the same load (bench/loadgen --proto peerjs).
//
// Usage: node bench/peerjs_server.mjs [--host 127.0.0.1] [--port 9000]
//                                     [--tls-cert cert.pem --tls-key key.pem]
//
// Limits raised for fairness, as read in node_modules/peer/dist/module.mjs:
//  - concurrent_limit: default 5000 clients per server ("Server has reached
//    its concurrent user limit"); raised to 1,000,000 so only the machine
//    limits it (RLIMIT_NOFILE, hard 20,000 here; Node raises its soft limit
//    to the hard one at startup).
//  - alive_timeout: 90 s without a HEARTBEAT closes a client; the load
//    generator's runs are shorter, and it is raised to 1 h anyway.
//  - expire_timeout / cleanup_out_msgs: only affect messages queued for
//    peers that are not connected; left at their defaults.
// PeerJS has no per-client rate limit and no message size limit of its own
// (the `ws` server's maxPayload defaults to 100 MiB), so nothing else needs
// raising. It does no authentication either: the `token` query parameter is
// any string the client picks, checked only when an id reconnects.
import { readFileSync } from "node:fs";
import { PeerServer } from "peer";

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const host = arg("--host", "127.0.0.1");
const port = Number(arg("--port", "9000"));
const certFile = arg("--tls-cert", null);
const keyFile = arg("--tls-key", null);

const options = {
  host,
  port,
  path: "/",
  key: "peerjs",
  concurrent_limit: 1_000_000,
  alive_timeout: 3_600_000,
  allow_discovery: false,
};
if (certFile && keyFile) {
  options.ssl = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

const server = PeerServer(options, (httpServer) => {
  const a = httpServer.address();
  console.log(`peerjs_server: listening on ${a.address}:${a.port}${options.ssl ? " (tls)" : ""} pid ${process.pid}`);
});
// Socket errors (e.g. a client reset) must not end the benchmark server.
server.on("error", (e) => console.error(`peerjs_server: ${e.message}`));

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => process.exit(0));
}
