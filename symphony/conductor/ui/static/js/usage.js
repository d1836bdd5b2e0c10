// The last hour as charts: a node's CPU and RAM (on its card on the Nodes page), and a
// deployment's restarts and each live instance's CPU and RSS (on its page).
//
// The Conductor keeps one-minute buckets in memory (GET /nodes/{id}/usage-history,
// GET /deployments/{id}/usage-history); the pages ask again every REFRESH_MS, which
// is plenty for a chart whose newest point moves with each heartbeat.

import { request } from "./api.js";
import { chart } from "./chart.js";
import { bytes, empty, fill, h } from "./dom.js";

const REFRESH_MS = 10000;
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

const percent = (v) => `${v < 10 && v % 1 ? v.toFixed(1) : v.toFixed(0)} %`;
const mib = (v) => (v >= 1024 ? `${(v / 1024).toFixed(1)} GiB` : `${v < 10 && v % 1 ? v.toFixed(1) : v.toFixed(0)} MiB`);
const count = (v) => (Number.isInteger(v) ? `${v}` : v.toFixed(1));
const gib = (v) => `${v % 1 && v < 100 ? v.toFixed(1) : v.toFixed(0)} GiB`;

/** The time axis of a reply: the last hour, up to the end of the current minute. */
function axis(reply) {
  const bucket = reply.bucket_seconds;
  return { from: reply.current_bucket - 59 * bucket, to: reply.current_bucket + bucket, bucket };
}

/** `buckets` as chart points of one metric, scaled by `unit` (buckets without it skipped). */
function series(buckets, name, unit = 1) {
  return buckets.filter((b) => typeof b[name] === "number").map((b) => ({ t: b.start, v: b[name] / unit }));
}

// ---- nodes ------------------------------------------------------------------------------

const nodeHistory = new Map(); // node_id -> {reply, at, pending}

function refreshNode(nodeId) {
  const entry = nodeHistory.get(nodeId) || { reply: null, at: 0, pending: false };
  nodeHistory.set(nodeId, entry);
  if (entry.pending || Date.now() - entry.at < REFRESH_MS) return entry;
  entry.pending = true;
  request("GET", `/nodes/${encodeURIComponent(nodeId)}/usage-history`)
    .then((reply) => {
      entry.reply = reply;
    })
    .catch(() => {}) // the next render asks again; the card keeps what it had
    .finally(() => {
      entry.pending = false;
      entry.at = Date.now();
    });
  return entry;
}

/**
 * CPU and RAM charts for a node's card. The Nodes page re-renders every second: this
 * draws from what the last request brought, and asks again when that is old.
 */
export function nodeCharts(node) {
  const { reply } = refreshNode(node.node_id);
  if (!reply) return h("div.charts", { dataset: { charts: "node" } }, h("p.muted.small", "Loading the last hour…"));
  const frame = axis(reply);
  const usage = node.usage || {};
  const ramTotal = usage.ram_total || Math.max(0, ...reply.buckets.map((b) => b.ram_total || 0));
  return h(
    "div.charts",
    { dataset: { charts: "node" } },
    chart({ title: "CPU", points: series(reply.buckets, "cpu_percent"), ...frame, max: 100, format: percent, current: usage.cpu_percent }),
    chart({
      title: "RAM",
      points: series(reply.buckets, "ram_used", GIB),
      ...frame,
      max: ramTotal ? ramTotal / GIB : undefined,
      format: gib,
      current: typeof usage.ram_used === "number" ? usage.ram_used / GIB : undefined,
    }),
  );
}

// ---- deployments --------------------------------------------------------------------------

/**
 * The Usage card of a deployment's page: restarts per minute, then one row per live
 * instance with its CPU and RSS. Returns {el, close}; it refreshes itself until closed.
 */
export function usagePanel(deploymentId) {
  const body = h("div.usage-body", h("p.muted.small", "Loading the last hour…"));
  const el = h("section.card.usage-card#usage", h("div.card-head", h("h2", "Last hour")), body);
  let stopped = false;

  async function refresh() {
    try {
      const reply = await request("GET", `/deployments/${encodeURIComponent(deploymentId)}/usage-history`);
      if (!stopped) render(reply);
    } catch (error) {
      if (!stopped) fill(body, h("p.muted.small", `usage unavailable: ${error.message}`));
    }
  }

  function render(reply) {
    const frame = axis(reply);
    const restarts = reply.restarts.map((r) => ({ t: r.start, v: r.count }));
    const total = restarts.reduce((sum, p) => sum + p.v, 0);
    fill(
      body,
      h(
        "div.charts",
        { dataset: { charts: "restarts" } },
        chart({ title: "Restarts per minute", points: restarts, ...frame, bars: true, wide: true, format: count, valueText: `${total} in the last hour`, floor: 2 }),
      ),
      reply.instances.length
        ? reply.instances.map((inst) => instanceRow(inst, frame))
        : empty("No live instance: nothing to measure."),
    );
  }

  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return {
    el,
    close() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

function instanceRow(inst, frame) {
  const rss = inst.rss_bytes === null ? null : inst.rss_bytes / MIB;
  return h(
    "div.usage-instance",
    { dataset: { instance: inst.instance_id } },
    h(
      "div.usage-instance-head",
      h("b", `#${inst.replica}`),
      h("span.mono", inst.instance_id),
      h("span.muted", inst.node_id ? `on ${inst.node_id}` : "not placed"),
      inst.rss_bytes !== null ? h("span.muted", `RSS ${bytes(inst.rss_bytes)}`) : null,
    ),
    h(
      "div.charts",
      { dataset: { charts: "instance" } },
      chart({ title: "CPU", points: series(inst.buckets, "cpu_percent"), ...frame, format: percent, current: inst.cpu_percent }),
      chart({ title: "RSS", points: series(inst.buckets, "rss_bytes", MIB), ...frame, format: mib, current: rss }),
    ),
  );
}
