// The nodes page: one card per node with its state, capacity bars, load gauges
// (CPU, RAM, disks, GPUs), charts of the last hour (usage.js) and the instances it runs.
// A node being drained shows a `draining` pill; each card has a Drain / Undrain button.

import { api, ApiError } from "./api.js";
import { bar, bytes, confirmDialog, cores, duration, empty, fill, h, pill, toast } from "./dom.js";
import { isPlaced, store, subscribe } from "./store.js";
import { nodeCharts } from "./usage.js";

export function mountNodes(main) {
  const summary = h("p.subtitle");
  const grid = h("div.node-grid");
  fill(main, h("div.page-head", h("div", h("h1", "Nodes"), summary)), grid);

  function render() {
    if (!store.loaded || !store.states) return fill(grid, empty("Loading…"));
    const nodes = [...store.nodes.values()].sort((a, b) => a.node_id.localeCompare(b.node_id));
    const ready = nodes.filter((n) => n.state === "ready").length;
    const draining = nodes.filter((n) => n.draining).length;
    summary.textContent =
      `${nodes.length} node${nodes.length === 1 ? "" : "s"}, ${ready} ready` +
      (draining ? `, ${draining} draining` : "");
    if (!nodes.length) {
      return fill(grid, empty("No node has connected yet. Start one with `symphony node` (or `symphony up`)."));
    }
    const placed = instancesByNode();
    fill(grid, nodes.map((n) => nodeCard(n, placed.get(n.node_id) || [])));
  }

  render();
  const off = subscribe((type) => {
    if (type !== "event" && type !== "status") render();
  });
  const tick = setInterval(render, 1000); // heartbeat ages move on their own
  return () => {
    off();
    clearInterval(tick);
  };
}

function instancesByNode() {
  const byNode = new Map();
  for (const d of store.deployments.values()) {
    for (const inst of d.instances) {
      if (!isPlaced(inst)) continue;
      if (!byNode.has(inst.node_id)) byNode.set(inst.node_id, []);
      byNode.get(inst.node_id).push({ deployment: d, inst });
    }
  }
  return byNode;
}

function nodeCard(node, placed) {
  const usage = node.usage || {};
  const resources = node.resources || {};
  const age = node.last_heartbeat ? store.now() - node.last_heartbeat : null;
  const stale = node.state === "ready" && age !== null && age > 3 * (node.heartbeat_sec || 1);
  return h(
    `section.card.node.state-${node.state}${node.draining ? ".draining" : ""}`,
    { dataset: { node: node.node_id } },
    h(
      "div.card-head",
      h("h2.node-name", node.node_id),
      pill(node.state),
      node.draining ? pill("draining") : null,
      h(
        `span.heartbeat${stale ? ".stale" : ""}`,
        { title: "time since the last heartbeat" },
        age === null ? "no heartbeat" : `heartbeat ${duration(age)} ago`,
      ),
      drainButton(node, placed.length),
    ),
    h(
      "div.meta",
      (node.groups || []).map((g) => h("span.chip", g)),
      resources.hostname ? h("span.muted", resources.hostname) : null,
      node.remote ? h("span.muted", node.remote) : null,
    ),
    h("h3", "Capacity"),
    h("div.bars.capacity", capacityBars(node)),
    h("h3", "Load"),
    h("div.bars", loadBars(usage, resources)),
    (usage.gpus || []).length ? [h("h3", "GPUs"), h("div.gpus", usage.gpus.map(gpuBlock))] : null,
    (node.gpu_devices || []).length ? [h("h3", "GPU devices"), deviceList(node, placed)] : null,
    h("h3", "Last hour"),
    nodeCharts(node),
    h("h3", `Instances (${placed.length})`),
    instanceSummary(node, placed),
  );
}

/** Instances listed on a card at most: a node may run hundreds, and a card listing
 * every one was too long to use (its load and capacity scrolled out of sight). */
export const FIRST_INSTANCES = 8;

/** The instances placed on `node`: how many in each state, the first few (those not
 * running first: they are the ones to look at), and a link to the deployments list
 * showing only the deployments with an instance there. */
function instanceSummary(node, placed) {
  if (!placed.length) return h("p.muted.small", "nothing running here");
  const counts = new Map();
  for (const { inst } of placed) counts.set(inst.state, (counts.get(inst.state) || 0) + 1);
  const order = store.states.instance.states; // the Conductor's order of the states
  const states = [...counts.keys()].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  const first = [...placed]
    .sort(
      (a, b) =>
        (a.inst.state === "running") - (b.inst.state === "running") ||
        a.deployment.name.localeCompare(b.deployment.name) ||
        a.inst.replica - b.inst.replica,
    )
    .slice(0, FIRST_INSTANCES);
  const rest = placed.length - first.length;
  const list = `#/deployments?node=${encodeURIComponent(node.node_id)}`;
  return [
    h("div.meta.instance-counts", states.map((s) => pill(s, `${counts.get(s)} ${s}`))),
    h(
      "ul.node-instances",
      first.map(({ deployment, inst }) =>
        h(
          "li",
          h("a", { href: `#/d/${encodeURIComponent(deployment.name)}` }, deployment.name),
          h("span.muted", ` #${inst.replica}`),
          pill(inst.state),
        ),
      ),
    ),
    h(
      "p.small",
      rest ? `and ${rest} more: ` : null,
      h("a.node-deployments", { href: list }, "deployments on this node"),
    ),
  ];
}

function capacityBars(node) {
  const total = node.capacities_total || {};
  const used = node.capacities_used || {};
  const names = Object.keys(total).sort();
  if (!names.length) return h("p.muted.small", "no capacity classes");
  return names.map((name) =>
    bar(name, total[name] ? (used[name] || 0) / total[name] : 0, `${used[name] || 0} / ${total[name]}`, {
      kind: "capacity",
    }),
  );
}

function loadBars(usage, resources) {
  if (usage.cpu_percent === undefined) return h("p.muted.small", "waiting for the first heartbeat");
  const out = [
    h(
      "div.cpu",
      bar("CPU", usage.cpu_percent / 100, `${usage.cpu_percent.toFixed(0)} % of ${resources.cpu_count || (usage.per_core || []).length} cores`),
      cores(usage.per_core),
    ),
    bar("RAM", usage.ram_total ? usage.ram_used / usage.ram_total : 0, `${bytes(usage.ram_used)} / ${bytes(usage.ram_total)}`),
  ];
  for (const disk of usage.disks || []) {
    const el = bar("Disk", disk.total ? disk.used / disk.total : 0, `${bytes(disk.used)} / ${bytes(disk.total)}`);
    el.title = `the file system of ${disk.path}`;
    out.push(el);
  }
  return out;
}

// Each device the node hands out, and the instance holding it (one at most, ever).
function deviceList(node, placed) {
  const names = new Map(placed.map(({ deployment, inst }) => [inst.id, deployment.name]));
  return h(
    "ul.gpu-devices",
    node.gpu_devices.map((d) =>
      h(
        `li${d.instance_id ? ".held" : ".free"}`,
        { dataset: { device: d.id } },
        h("code", d.id),
        d.name ? h("span.muted", d.name) : null,
        d.instance_id
          ? h("a", { href: `#/d/${encodeURIComponent(names.get(d.instance_id) || d.deployment_id || "")}` }, d.instance_id)
          : h("span.muted", "free"),
      ),
    ),
  );
}

function gpuBlock(gpu) {
  const num = (v, unit, digits = 0) => (v === null || v === undefined ? "–" : `${v.toFixed(digits)} ${unit}`);
  const mem = gpu.memory_total ? gpu.memory_used / gpu.memory_total : null;
  return h(
    "div.gpu",
    h("div.gpu-title", `GPU ${gpu.index}`),
    bar("Utilization", (gpu.utilization_percent || 0) / 100, num(gpu.utilization_percent, "%")),
    bar("Memory", mem, `${bytes(gpu.memory_used)} / ${bytes(gpu.memory_total)}`),
    h(
      "div.gpu-facts",
      h("span", "Temperature ", h("b", num(gpu.temperature_c, "°C"))),
      h("span", "Power ", h("b", num(gpu.power_watts, "W", 1))),
    ),
  );
}

// Drain asks first (its replicas will move); undrain does not (it only lets work in).
function drainButton(node, running) {
  const draining = Boolean(node.draining);
  const button = h("button.btn.small.drain", draining ? "Undrain" : "Drain");
  button.addEventListener("click", async () => {
    if (!draining) {
      const moves = running
        ? `Its ${running} instance${running === 1 ? "" : "s"} move to other nodes: each replacement starts before the old copy stops, and one with nowhere to go stays, saying why.`
        : "Nothing runs there now.";
      const sure = await confirmDialog({
        title: `Drain ${node.node_id}?`,
        body: `It takes no new work until undrained. ${moves}`,
        confirm: "Drain",
      });
      if (!sure) return;
    }
    button.disabled = true;
    try {
      const updated = await (draining ? api.undrain(node.node_id) : api.drain(node.node_id));
      toast(`${node.node_id} ${updated.draining ? "draining" : "undrained: it takes new work again"}`);
    } catch (error) {
      toast(error instanceof ApiError ? `${error.error}: ${error.message}` : error.message, "error");
      button.disabled = false;
    }
  });
  return button;
}
