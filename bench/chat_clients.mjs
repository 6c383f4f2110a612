// Load generator of bench/chat.py: N WebSocket viewers in one live room (Node, one process).
//
// Usage: node bench/chat_clients.mjs <config.json>   (bench/chat.py writes the config and reads
// the one JSON object this prints on standard output; progress goes to standard error.)
//
// Config: {urls: [ws url per server process], origin, tokens: [join token per viewer],
//          senders, rate (chat messages/s in total), reactions (reactions/s in total),
//          duration, warmup, drain, join_timeout, join_concurrency, server_pids,
//          clock_ticks}
//
// Every viewer joins (welcome -> room.join {after_seq: 0} -> room.snapshot). Then, for
// `duration` seconds, the first `senders` viewers send `rate` chat messages per second between
// them (round robin, each with its own client_id), and every viewer sends its share of
// `reactions` per second. Each chat.message received is a delivery: its latency is the receive
// time minus the send time of that client_id (one process, one clock). Afterwards (`drain`
// seconds later) every viewer must have received every acknowledged message exactly once:
// `lost` counts (viewer, acknowledged seq) pairs never received, `duplicated` the seqs a viewer
// received more than once. Viewers are dealt round robin over `urls` (several server processes).

import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const log = (message) => process.stderr.write(`[chat-clients ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

const EMOJI = ["👍", "❤️", "😊", "🎉", "👏"];
const sendTimes = new Map(); // client_id -> performance.now() at send
const acked = new Map(); // seq -> client_id, for messages sent during the measurement
const latencies = [];
// The slowest delivery of each message (client_id -> ms), to show when in the run the tail happened.
const slowest = new Map();
const errors = {};
const viewers = [];

// CPU seconds (user + system) the server processes have used so far, from /proc (Linux).
function serverCpuSeconds() {
  let ticks = 0;
  for (const pid of config.server_pids || []) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(")").pop().trim().split(/\s+/);
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // gone: counts nothing
    }
  }
  return ticks / (config.clock_ticks || 100);
}
let measuring = false;
let deliveries = 0;
let framesInWindow = 0; // WebSocket frames received by all viewers during the measurement
let reactionBatches = 0; // reaction.batch frames received by viewer 0 during the measurement
let reactionsSent = 0;
let lastTotals = null;

class Viewer {
  constructor(index, url, token) {
    this.index = index;
    this.url = url;
    this.token = token;
    this.joined = false;
    this.closed = false;
    // seq -> times received (measurement messages only; saturates at 255). A typed array, not a
    // Map: a million Map entries across the viewers made the load generator's garbage collector,
    // not the server, the tail of the latencies.
    this.seen = new Uint8Array(1024);
    this.disconnects = 0;
  }

  open() {
    return new Promise((resolve) => {
      const socket = new WebSocket(`${this.url}?token=${encodeURIComponent(this.token)}`, {
        origin: config.origin,
        perMessageDeflate: false,
        // One core runs all thousand viewers, and its CPU adds to every latency measured here:
        // ws's UTF-8 check of each text frame is skipped (the browser tests read the real page).
        skipUTF8Validation: true,
      });
      this.socket = socket;
      const timer = setTimeout(() => resolve(false), config.join_timeout * 1000);
      socket.on("message", (data) => {
        const parsed = JSON.parse(data.toString());
        // A busy room writes the events of one moment as one frame: a JSON array, in order.
        if (measuring) framesInWindow += 1;
        if (Array.isArray(parsed)) {
          for (const message of parsed) this.handle(message, resolve, timer);
        } else {
          this.handle(parsed, resolve, timer);
        }
      });
      socket.on("close", () => {
        this.closed = true;
        if (this.joined) this.disconnects += 1;
        clearTimeout(timer);
        resolve(false);
      });
      socket.on("error", (error) => {
        errors[`socket: ${error.code || error.message}`] = (errors[`socket: ${error.code || error.message}`] || 0) + 1;
      });
    });
  }

  handle(message, resolve, timer) {
    switch (message.type) {
      case "welcome":
        this.socket.send(JSON.stringify({ type: "room.join", after_seq: 0 }));
        break;
      case "room.snapshot":
        this.joined = true;
        clearTimeout(timer);
        resolve(true);
        break;
      case "chat.message": {
        const sentAt = sendTimes.get(message.client_id);
        if (sentAt === undefined) break; // not from this run's measurement
        const now = performance.now();
        deliveries += 1;
        latencies.push(now - sentAt);
        slowest.set(message.client_id, Math.max(slowest.get(message.client_id) || 0, now - sentAt));
        this.count(message.seq);
        break;
      }
      case "chat.ack":
        if (sendTimes.has(message.client_id)) acked.set(message.seq, message.client_id);
        break;
      case "reaction.batch":
        if (measuring && this.index === 0) reactionBatches += 1;
        if (this.index === 0) lastTotals = message.totals;
        break;
      case "error":
        errors[message.code] = (errors[message.code] || 0) + 1;
        break;
      default:
        break;
    }
  }

  count(seq) {
    if (seq >= this.seen.length) {
      const grown = new Uint8Array(Math.max(2 * this.seen.length, seq + 1));
      grown.set(this.seen);
      this.seen = grown;
    }
    if (this.seen[seq] < 255) this.seen[seq] += 1;
  }

  send(payload) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(payload));
  }
}

async function joinAll() {
  const started = performance.now();
  config.tokens.forEach((token, index) => viewers.push(new Viewer(index, config.urls[index % config.urls.length], token)));
  let next = 0;
  let joined = 0;
  async function worker() {
    while (next < viewers.length) {
      const viewer = viewers[next++];
      if (await viewer.open()) joined += 1;
    }
  }
  await Promise.all(Array.from({ length: Math.min(config.join_concurrency, viewers.length) }, worker));
  log(`${joined}/${viewers.length} viewers joined in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { joined, join_seconds: (performance.now() - started) / 1000 };
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function measure() {
  const senders = viewers.filter((viewer) => viewer.joined).slice(0, Math.max(1, config.senders));
  const reactors = viewers.filter((viewer) => viewer.joined);
  await sleep(config.warmup * 1000);
  measuring = true;
  const deliveriesAtStart = deliveries;
  const serverCpuAtStart = serverCpuSeconds();
  const clientsCpuAtStart = process.cpuUsage();
  const started = performance.now();
  let sent = 0;
  let nextSender = 0;
  let nextReactor = 0;
  const tick = 5; // ms
  while (performance.now() - started < config.duration * 1000) {
    const elapsed = (performance.now() - started) / 1000;
    while (sent < Math.floor(elapsed * config.rate)) {
      const sender = senders[nextSender++ % senders.length];
      const clientId = `bench-${sender.index}-${sent}`;
      sendTimes.set(clientId, performance.now());
      sender.send({ type: "chat.send", client_id: clientId, text: `bench message ${sent}` });
      sent += 1;
    }
    while (reactionsSent < Math.floor(elapsed * config.reactions)) {
      const reactor = reactors[nextReactor++ % reactors.length];
      reactor.send({ type: "reaction.send", emoji: EMOJI[reactionsSent % EMOJI.length] });
      reactionsSent += 1;
    }
    await sleep(tick);
  }
  const seconds = (performance.now() - started) / 1000;
  measuring = false;
  const serverCpu = serverCpuSeconds() - serverCpuAtStart;
  const clientsCpu = process.cpuUsage(clientsCpuAtStart);
  const deliveriesAtEnd = deliveries;
  await sleep(config.drain * 1000); // late deliveries still count towards lost/duplicated
  return {
    sent,
    seconds,
    deliveriesInWindow: deliveriesAtEnd - deliveriesAtStart,
    serverCpuPct: config.server_pids ? Math.round((1000 * serverCpu) / seconds) / 10 : null,
    clientsCpuPct: Math.round((clientsCpu.user + clientsCpu.system) / seconds / 1000) / 10,
  };
}

function percentile(sorted, percent) {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((percent / 100) * sorted.length));
  return Math.round(sorted[rank - 1] * 10) / 10;
}

async function main() {
  const join = await joinAll();
  const run = await measure();
  const joined = viewers.filter((viewer) => viewer.joined);
  let lost = 0;
  let duplicated = 0;
  for (const viewer of joined) {
    for (const seq of acked.keys()) if (!viewer.seen[seq]) lost += 1;
    for (const count of viewer.seen) if (count > 1) duplicated += count - 1;
  }
  latencies.sort((a, b) => a - b);
  // Per second of the run (by send time): the slowest delivery of the messages sent in it.
  const firstSent = Math.min(...[...slowest.keys()].map((id) => sendTimes.get(id)));
  const bySecond = [];
  for (const [id, worst] of slowest) {
    const second = Math.floor((sendTimes.get(id) - firstSent) / 1000);
    bySecond[second] = Math.max(bySecond[second] || 0, Math.round(worst));
  }
  const result = {
    viewers_requested: viewers.length,
    viewers: joined.length,
    join_seconds: Math.round(join.join_seconds * 10) / 10,
    seconds: Math.round(run.seconds * 10) / 10,
    messages_sent: run.sent,
    messages_acked: acked.size,
    messages_per_s: Math.round((acked.size / run.seconds) * 10) / 10,
    deliveries: deliveries,
    deliveries_per_s: Math.round(run.deliveriesInWindow / run.seconds),
    // Frames written per second: below deliveries_per_s when events shared a frame.
    frames_per_s: Math.round(framesInWindow / run.seconds),
    // CPU during the measurement only (100 = one core): the server processes, this process.
    server_cpu_measured_pct: run.serverCpuPct,
    clients_cpu_pct: run.clientsCpuPct,
    expected_deliveries: acked.size * joined.length,
    latency_p50_ms: percentile(latencies, 50),
    latency_p95_ms: percentile(latencies, 95),
    latency_p99_ms: percentile(latencies, 99),
    latency_max_ms: latencies.length ? Math.round(latencies[latencies.length - 1] * 10) / 10 : null,
    latency_max_by_second_ms: Array.from(bySecond, (worst) => worst ?? null),
    lost,
    duplicated,
    reactions_sent: reactionsSent,
    reactions_per_s: Math.round(reactionsSent / run.seconds),
    reaction_broadcasts: reactionBatches,
    reaction_broadcasts_per_s: Math.round((reactionBatches / run.seconds) * 100) / 100,
    reaction_totals: lastTotals,
    disconnects: viewers.reduce((total, viewer) => total + viewer.disconnects, 0),
    errors,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  for (const viewer of viewers) viewer.socket?.terminate();
  process.exit(0);
}

main().catch((error) => {
  log(`failed: ${error.stack || error}`);
  process.exit(2);
});
