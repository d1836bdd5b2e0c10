// Experiments: the list (#/experiments) and one experiment (#/x/<name>).
//
// An experiment's processes are deployments named <experiment>.<process>: each row
// links to that deployment's page, where its logs are followed. The experiments API
// has no live feed, so these pages read it once a second while they are shown.

import { api } from "./api.js";
import { confirmDialog, empty, fill, h, pill, toast } from "./dom.js";

const REFRESH_MS = 1000;

/** Mount a page that re-renders from `load()` every second; returns its cleanup. */
function polled(load, render) {
  let stopped = false;
  let timer = null;
  async function tick() {
    try {
      render(await load(), null);
    } catch (err) {
      render(null, err);
    }
    if (!stopped) timer = setTimeout(tick, REFRESH_MS);
  }
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** "replay-server 20001, tensorboard 6006" (the ports a process's names got). */
export function portsText(ports) {
  return Object.entries(ports || {})
    .map(([name, port]) => `${name} ${port}`)
    .join(", ");
}

export function mountExperiments(main) {
  const body = h("div.table-wrap");
  const count = h("p.subtitle");
  fill(main, h("div.page-head", h("div", h("h1", "Experiments"), count)), body);
  return polled(api.experiments, (data, err) => {
    if (err) return fill(body, empty(`Cannot read experiments: ${err.message}`));
    const all = data.experiments;
    count.textContent = `${all.length} experiment${all.length === 1 ? "" : "s"}`;
    if (!all.length) return fill(body, empty("No experiments yet: POST one to /experiments."));
    fill(
      body,
      h(
        "table.grid.experiments",
        h("thead", h("tr", ["Name", "State", "Processes", "Groups", "Nodes", "Reason"].map((c) => h("th", c)))),
        h(
          "tbody",
          all.map((x) =>
            h(
              "tr",
              { dataset: { experiment: x.name } },
              h("td.name", { "data-label": "Name" }, h("a", { href: `#/x/${encodeURIComponent(x.name)}` }, x.name)),
              h("td", { "data-label": "State" }, pill(x.state)),
              h("td.num", { "data-label": "Processes" }, `${x.processes.filter((p) => p.state === "running").length}/${x.processes.length}`),
              h("td.num", { "data-label": "Groups" }, x.groups.length),
              h("td", { "data-label": "Nodes" }, [...new Set(x.processes.map((p) => p.node_id).filter(Boolean))].sort().join(", ")),
              h("td.reason", { "data-label": "Reason" }, x.reason || ""),
            ),
          ),
        ),
      ),
    );
  });
}

export function mountExperiment(main, name) {
  const title = h("h1");
  const reason = h("p.subtitle.reason");
  const body = h("div");
  const act = (label, run, extra = {}) => h("button.btn", { onclick: run, ...extra }, label);
  const actions = h(
    "div.actions",
    act("Stop", () => change("stopped"), { id: "exp-stop" }),
    act("Start", () => change("running"), { id: "exp-start" }),
    h("button.btn.danger#exp-delete", { onclick: remove }, "Delete"),
  );
  fill(
    main,
    h("p.crumbs", h("a", { href: "#/experiments" }, "Experiments"), " / ", name),
    h("div.page-head", h("div", title, reason), actions),
    body,
  );

  async function change(desired) {
    try {
      await api.patchExperiment(name, { desired_state: desired });
    } catch (err) {
      toast(err.message, "error");
    }
  }
  async function remove() {
    const ok = await confirmDialog({
      title: `Delete ${name}?`,
      body: "Every process is stopped, then the experiment and its processes are deleted.",
      confirm: "Delete",
      danger: true,
    });
    if (!ok) return;
    try {
      await api.removeExperiment(name);
      location.hash = "#/experiments";
    } catch (err) {
      toast(err.message, "error");
    }
  }

  return polled(
    () => api.experiment(name),
    (x, err) => {
      // No such experiment: nothing to stop, start or delete (another error may pass).
      actions.style.display = err && err.status === 404 ? "none" : "";
      if (err) return fill(body, empty(err.status === 404 ? `No experiment ${name}.` : err.message));
      fill(title, `${x.name} `, pill(x.state));
      // Offer only what would change something: Stop while it should run, Start while not.
      document.getElementById("exp-stop").disabled = x.desired_state === "stopped";
      document.getElementById("exp-start").disabled = x.desired_state === "running";
      reason.textContent = x.reason || "";
      const groups = new Map();
      for (const p of x.processes) {
        const key = p.group ?? "";
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(p);
      }
      fill(
        body,
        [...groups.entries()].map(([group, procs]) =>
          h(
            "section.card.process-group",
            { dataset: { group } },
            h("h2", group ? `Group ${group}` : "Processes"),
            h(
              "table.grid.processes",
              h("thead", h("tr", ["Process", "State", "Node", "Ports", "Restarts", "Reason", "Logs"].map((c) => h("th", c)))),
              h(
                "tbody",
                procs.map((p) =>
                  h(
                    "tr",
                    { dataset: { process: p.name } },
                    h("td.name", { "data-label": "Process" }, p.name),
                    h("td", { "data-label": "State" }, pill(p.state)),
                    h("td", { "data-label": "Node" }, p.node_id || h("span.muted", "–")),
                    h("td.ports", { "data-label": "Ports" }, portsText(p.ports) || h("span.muted", "–")),
                    h("td.num", { "data-label": "Restarts" }, p.restarts),
                    h("td.reason", { "data-label": "Reason" }, p.reason || ""),
                    h("td", { "data-label": "Logs" }, h("a", { href: `#/d/${encodeURIComponent(p.deployment)}` }, "logs")),
                  ),
                ),
              ),
            ),
          ),
        ),
      );
    },
  );
}
