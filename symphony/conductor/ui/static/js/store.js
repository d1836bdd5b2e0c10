// What the UI knows about the cluster, kept current by the /live stream.
//
// The stream starts with one snapshot, then sends only changes (a node, a deployment,
// a removal, an event). Pages subscribe while they are shown and re-render the part
// that changed; nothing here polls. Deployments are summaries, without their spec (see
// specs.js for the pages that show one).

import { api, followLive } from "./api.js";

const listeners = new Set();

export const store = {
  nodes: new Map(), // node_id -> node JSON (as GET /nodes)
  deployments: new Map(), // id -> deployment summary (as GET /deployments?view=summary)
  loaded: false, // the first snapshot arrived
  status: "connecting", // "live" | "offline" | "connecting"
  clockOffset: 0, // Conductor clock minus ours, in seconds
  // The state lists of GET /states: {instance: {states, live, placed, final},
  // deployment: {states}}. The Conductor says what each state means; no copies here.
  states: null,

  /** The Conductor's current time (epoch seconds), for ages like "heartbeat 2 s ago". */
  now() {
    return Date.now() / 1000 + this.clockOffset;
  },

  /** A deployment by id or name. */
  find(idOrName) {
    if (this.deployments.has(idOrName)) return this.deployments.get(idOrName);
    for (const d of this.deployments.values()) if (d.name === idOrName) return d;
    return null;
  },

  /**
   * Apply a deployment the page got from its own request (a create or a change). The
   * live stream may already have delivered a newer state: keep whichever is newer.
   */
  put(deployment) {
    const known = this.deployments.get(deployment.id);
    if (known && freshness(known) > freshness(deployment)) return;
    this.deployments.set(deployment.id, deployment);
    emit("deployment", { deployment });
  },

  forget(id) {
    if (this.deployments.delete(id)) emit("removed", { id });
  },
};

/** Whether an instance is placed on a node and has not ended (it holds capacity there). */
export function isPlaced(inst) {
  return Boolean(inst.node_id && store.states && store.states.instance.placed.includes(inst.state));
}

/** Whether an instance has not ended for good. */
export function isLive(inst) {
  return Boolean(store.states && store.states.instance.live.includes(inst.state));
}

/** When anything about a deployment last changed (its record or an instance). */
export function freshness(d) {
  return Math.max(d.updated_at, ...d.instances.map((i) => i.updated_at || 0));
}

/** Call `fn(type, data)` on every change; returns the function that unsubscribes. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(type, data) {
  for (const fn of [...listeners]) fn(type, data);
}

function syncClock(now) {
  if (typeof now === "number") store.clockOffset = now - Date.now() / 1000;
}

function apply(type, data) {
  if (type === "snapshot") {
    syncClock(data.now);
    store.nodes = new Map(data.nodes.map((n) => [n.node_id, n]));
    store.deployments = new Map(data.deployments.map((d) => [d.id, d]));
    store.loaded = true;
  } else if (type === "node") {
    syncClock(data.now);
    store.nodes.set(data.node.node_id, data.node);
  } else if (type === "deployment") {
    store.deployments.set(data.deployment.id, data.deployment);
  } else if (type === "removed") {
    store.deployments.delete(data.id);
  }
  emit(type, data);
}

let live = null;

/** Start following the Conductor (after login). */
export function startLive() {
  stopLive();
  if (!store.states) loadStates();
  live = followLive({
    onMessage: apply,
    onStatus: (status) => {
      if (status !== store.status) {
        store.status = status;
        emit("status", { status });
      }
    },
  });
}

/** Read the state lists once (retried with the live stream's reconnects if it fails). */
async function loadStates(delay = 1000) {
  try {
    store.states = await api.states();
    emit("states", { states: store.states });
  } catch {
    setTimeout(() => live && loadStates(Math.min(delay * 2, 10000)), delay);
  }
}

export function stopLive() {
  if (live) live.stop();
  live = null;
  store.loaded = false;
  store.status = "connecting";
  store.nodes = new Map();
  store.deployments = new Map();
}
