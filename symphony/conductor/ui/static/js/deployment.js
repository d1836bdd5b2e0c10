// One deployment: its summary, actions (actions.js: stop, start, scale, restart, edit,
// delete), instances, charts of the last hour (usage.js), events timeline and live logs.
//
// The live feed carries the deployment without its spec; the facts taken from the spec
// (node group, capacity, restart policy, command, secrets, schedule) come from its own
// read (specs.js), made when the page opens and again when the spec changes.

import { actions, actionsKey } from "./actions.js";
import { api } from "./api.js";
import { crashNote, lastExit, nodesOf, updatedAt } from "./deployments.js";
import { clock, empty, fill, h, pill, toast } from "./dom.js";
import { logViewer } from "./logs.js";
import { isScheduled, runsPanel } from "./runs.js";
import { joinCommand } from "./shell.js";
import { specReader } from "./specs.js";
import { store, subscribe } from "./store.js";
import { usagePanel } from "./usage.js";
import { versionsPanel } from "./versions.js";

const MAX_EVENTS = 300;

export function mountDeployment(main, idOrName) {
  let deployment = null;
  let logs = null;
  let usage = null; // the charts of the last hour (usage.js)
  let runs = null; // a scheduled deployment's runs (runs.js)
  let versions = null; // the roll under way and the version history (versions.js)
  const seen = new Set();
  let headKey = null;
  const events = [];
  const head = h("div.page-head");
  const facts = h("section.card.facts");
  const instances = h("section.card");
  const timeline = h("ol.timeline#events");
  const layout = h(
    "div.detail",
    h("div.detail-main", facts, h("div#runs-slot"), h("div#versions-slot"), instances, h("div#logs-slot"), h("div#usage-slot")),
    h("aside.detail-side", h("section.card", h("div.card-head", h("h2", "Events")), timeline)),
  );
  fill(main, h("p.crumbs", h("a", { href: "#/deployments" }, "Deployments"), " / ", idOrName), head, layout);
  const specs = specReader(idOrName, () => render());

  function render() {
    // The feed's summary is the newest state; before the feed has it, the page's read.
    deployment = store.find(idOrName) || deployment || specs.full;
    if (!deployment) {
      const missing = store.loaded || (specs.error && specs.error.status === 404);
      fill(head, h("h1", idOrName));
      fill(facts, empty(missing ? `No deployment named ${idOrName}.` : "Loading…"));
      return;
    }
    const d = deployment;
    const spec = specs.full && specs.full.id === d.id ? specs.full.spec : null;
    // Rebuild the header only when it would change: it holds the replicas input.
    const key = JSON.stringify([d.id, d.name, d.state, actionsKey(d, spec)]);
    if (key !== headKey) {
      headKey = key;
      fill(head, h("div", h("h1.title-row", d.name, pill(d.state)), h("p.subtitle", `id ${d.id}`)), actions(d, spec));
    }
    fill(facts, summary(d, spec, specs));
    const idle = !spec ? "no instances" : isScheduled(spec) ? "no instances between runs" : "no instances (scaled to 0)";
    fill(
      instances,
      h("div.card-head", h("h2", "Instances")),
      d.instances.length ? h("div.table-wrap", instanceTable(d.instances)) : h("p.muted.small", idle),
    );
    if (!runs && isScheduled(spec)) {
      runs = runsPanel(d.id);
      document.getElementById("runs-slot").replaceWith(runs.el);
    }
    if (!versions) {
      versions = versionsPanel(d.id);
      document.getElementById("versions-slot").replaceWith(versions.el);
    }
    versions.update(d);
    if (!usage) {
      usage = usagePanel(d.id);
      document.getElementById("usage-slot").replaceWith(usage.el);
    }
    if (!logs) {
      logs = logViewer(d.id);
      document.getElementById("logs-slot").replaceWith(logs.el);
      loadEvents(d.id);
    }
    logs.setInstances(d.instances);
  }

  async function loadEvents(id) {
    try {
      let after = 0;
      for (let page = 0; page < 20; page += 1) {
        const reply = await api.events(id, after, 1000);
        addEvents(reply.events);
        if (reply.events.length < 1000) break;
        after = reply.next_after;
      }
    } catch (error) {
      fill(timeline, h("li.muted", `events unavailable: ${error.message}`));
    }
  }

  // Live events may arrive before the history request answers: merge by id.
  function addEvents(list) {
    const fresh = list.filter((e) => !seen.has(e.id));
    if (!fresh.length) return;
    fresh.forEach((e) => seen.add(e.id));
    events.push(...fresh);
    events.sort((a, b) => a.id - b.id);
    if (events.length > MAX_EVENTS) events.splice(0, events.length - MAX_EVENTS);
    fill(timeline, [...events].reverse().map(eventItem));
  }

  specs.check();
  render();
  const off = subscribe((type, data) => {
    if (type === "event") {
      if (deployment && data.event.deployment_id === deployment.id) {
        addEvents([data.event]);
        if (runs && /^(run-|restart-scheduled)/.test(data.event.kind)) runs.refresh();
      }
    } else if (type === "removed") {
      if (deployment && data.id === deployment.id) {
        toast(`${deployment.name} was deleted`);
        location.hash = "#/deployments";
      }
    } else if (type === "snapshot" || type === "deployment") {
      specs.check(); // a newer generation: the spec changed, read it again
      render();
    }
  });
  return () => {
    off();
    specs.close();
    if (logs) logs.close();
    if (usage) usage.close();
    if (runs) runs.close();
  };
}

/** The facts of `d` (a summary) and of its `spec` (null until read: `specs` says why). */
function summary(d, spec, specs) {
  const item = (label, value) => h("div.fact", h("dt", label), h("dd", value === "" || value === null ? "–" : value));
  return h(
    "dl.fact-grid",
    item("Desired", d.desired_state),
    item("Replicas", `${d.replicas.running} running / ${d.replicas.desired} desired`),
    item("Nodes", nodesOf(d)),
    // A spec read before and a re-read that failed: the older spec, and why it is old.
    spec ? [specFacts(spec), specs.error ? specState(specs) : null] : specState(specs),
    item("Restarts", d.restarts),
    item("Last exit", lastExit(d)),
    crashNote(d) ? h("div.fact.wide.warn#crash-loop", h("dt", "Crash loop"), h("dd", crashNote(d))) : null,
    d.pending_reason ? h("div.fact.wide.warn", h("dt", "Pending"), h("dd", d.pending_reason)) : null,
    d.failure ? h("div.fact.wide.warn", h("dt", "Failed"), h("dd", d.failure)) : null,
    item("Created", clock(d.created_at)),
    item("Updated", clock(updatedAt(d))),
  );
}

function specFacts(spec) {
  const caps = Object.entries(spec.capacity_requests || {}).map(([k, v]) => `${k} ${v}`).join(", ");
  const policy = spec.restart_policy || {};
  const item = (label, value) => h("div.fact", h("dt", label), h("dd", value === "" || value === null ? "–" : value));
  return [
    item("Node group", spec.node_group || "any"),
    item("Capacity", caps),
    item("Restart policy", `${policy.type}, backoff ${policy.backoff_seconds} s`),
    h("div.fact.wide#command", h("dt", "Command"), h("dd", h("code", joinCommand(spec.config.command || [])))),
    secretsFact(spec.config.env || {}),
  ];
}

/** In place of the spec's facts: being read, or why it could not be (with a retry). */
function specState(specs) {
  if (!specs.error || specs.loading) return h("div.fact.wide#spec-loading", h("dt", "Spec"), h("dd.muted", "Loading the spec…"));
  const retry = h("button.btn.small#spec-retry", { type: "button", onclick: () => specs.retry() }, "Retry");
  return h(
    "div.fact.wide.warn#spec-error",
    h("dt", "Spec"),
    h("dd", { role: "alert" }, `Cannot read the spec: ${specs.error.message} `, retry),
  );
}

/** The variables taken from secrets: the value is never sent to the browser, only
 *  the secret's name, and it shows as "***". */
function secretsFact(env) {
  const refs = Object.entries(env).filter(([, v]) => v && typeof v === "object" && "secret" in v);
  if (!refs.length) return null;
  const text = refs.map(([k, v]) => `${k}=*** (secret ${v.secret})`).join(", ");
  return h("div.fact.wide#secrets", h("dt", "Secrets"), h("dd", h("code", text)));
}

function instanceTable(list) {
  const cols = ["Replica", "Instance", "Node", "GPUs", "State", "PID", "Restarts", "Exit", "Health", "Reason", "Started"];
  return h(
    "table.grid.instances",
    h("thead", h("tr", cols.map((c) => h("th", c)))),
    h(
      "tbody",
      list.map((i) =>
        h(
          `tr${i.finished_at ? ".old" : ""}`,
          { dataset: { instance: i.id } },
          h("td.num", { "data-label": "Replica" }, `#${i.replica}`),
          h("td.mono", { "data-label": "Instance" }, i.id),
          h("td", { "data-label": "Node" }, i.node_id || "–"),
          // The GPU devices the node gave it: what its CUDA_VISIBLE_DEVICES names.
          h("td.mono.devices", { "data-label": "GPUs" }, (i.devices || []).join(", ") || "–"),
          h("td", { "data-label": "State" }, pill(i.state)),
          h("td.num", { "data-label": "PID" }, i.pid ?? "–"),
          h("td.num", { "data-label": "Restarts" }, i.restarts),
          h("td.num", { "data-label": "Exit" }, i.signal || (i.exit_code ?? "–")),
          h("td", { "data-label": "Health" }, i.health || "–"),
          h("td.reason", { "data-label": "Reason" }, i.reason || ""),
          h("td.when", { "data-label": "Started" }, clock(i.started_at)),
        ),
      ),
    ),
  );
}

function eventItem(e) {
  return h(
    `li.event.k-${e.kind}`,
    { dataset: { kind: e.kind } },
    h("span.dot"),
    h("div.event-body", h("div.event-line", h("b", e.kind), h("time", clock(e.at))), h("div.event-msg", e.message)),
  );
}
