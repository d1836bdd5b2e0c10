// The deployments page: a table of every deployment, filtered by name and state, a
// page of rows at a time.

import { clock, empty, fill, h, pill } from "./dom.js";
import { freshness, isPlaced, store, subscribe } from "./store.js";

/** Where a deployment's live instances run, as "n1, n2". */
export function nodesOf(d) {
  const names = new Set(d.instances.filter(isPlaced).map((i) => i.node_id));
  return [...names].sort().join(", ");
}

/** The exit code (or signal) of the deployment's latest run that ended, or null.
 *
 * "Latest" is the newest spec version, then the run that started last: when a spec change
 * replaces an instance, the old run's stop (SIGTERM) is often recorded after the new
 * run has already exited, and it is the new run's exit that the user is waiting for. */
export function lastExit(d) {
  const newer = (a, b) =>
    a.generation !== b.generation ? a.generation > b.generation
    : (a.started_at ?? 0) !== (b.started_at ?? 0) ? (a.started_at ?? 0) > (b.started_at ?? 0)
    : a.updated_at > b.updated_at;
  let last = null;
  for (const i of d.instances) {
    if (i.exit_code === null && !i.signal) continue;
    if (!last || newer(i, last)) last = i;
  }
  if (!last) return null;
  return last.signal ? last.signal : String(last.exit_code);
}

/** How a live instance's last run ended ("code 3", "signal SIGKILL"), or null if none
 * ended yet. */
export function endedWith(i) {
  if (i.signal) return `signal ${i.signal}`;
  return i.exit_code === null || i.exit_code === undefined ? null : `code ${i.exit_code}`;
}

/** Why a `crashing` deployment is so, from its instance in the crash loop (the
 * Conductor's state says which deployments are; the instance says how):
 * "web-0-3fa9c1 exited with code 3, 4 restarts; runs again at 12:03:04". Null otherwise. */
export function crashNote(d) {
  if (d.state !== "crashing") return null;
  const again = (i) => i.state === "restarting" || (i.restarts > 0 && (i.state === "starting" || i.state === "assigned"));
  const failed = (i) => Boolean(i.signal) || (i.exit_code !== null && i.exit_code !== 0);
  const i = d.instances.find((x) => !x.finished_at && again(x) && failed(x));
  if (!i) return null;
  const restarts = `${i.restarts} restart${i.restarts === 1 ? "" : "s"}`;
  const next = i.state === "restarting" ? (i.restart_at ? `runs again at ${clock(i.restart_at)}` : "waits to run again") : "starting again";
  return `${i.id} exited with ${endedWith(i)}, ${restarts}; ${next}`;
}

/** When anything about the deployment last changed (its spec or an instance). */
export const updatedAt = freshness;

/** Rows of the table per page. Each change pushed by the Conductor re-renders the
 * table, and with thousands of deployments rendering every row was the page's cost. */
export const PAGE_ROWS = 100;

export function mountDeployments(main) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const name = h("input.filter#filter-name", {
    type: "search",
    placeholder: "Filter by name",
    value: params.get("name") || "",
    "aria-label": "filter by name",
  });
  const state = h(
    "select.filter#filter-state",
    { "aria-label": "filter by state" },
    h("option", { value: "" }, "All states"),
  );
  // The deployment states come from GET /states (the Conductor's list, not a copy).
  function stateOptions() {
    const known = store.states ? store.states.deployment.states : [];
    const chosen = state.value || params.get("state") || "";
    fill(state, h("option", { value: "" }, "All states"), known.map((s) => h("option", { value: s }, s)));
    state.value = chosen;
  }
  stateOptions();
  // Only the deployments with an instance placed on one node (a node card links here).
  const node = h(
    "select.filter#filter-node",
    { "aria-label": "filter by node" },
    h("option", { value: "" }, "All nodes"),
  );
  let nodeIds = null; // the options' node ids: rebuilt only when they change (heartbeats
  // arrive every few seconds, and rebuilding an open select closes it)
  function nodeOptions() {
    const chosen = node.value || params.get("node") || "";
    const known = new Set(store.nodes.keys());
    if (chosen) known.add(chosen); // a node gone since still filters (to nothing)
    const ids = [...known].sort().join("\n");
    if (ids === nodeIds) return;
    nodeIds = ids;
    fill(node, h("option", { value: "" }, "All nodes"), [...known].sort().map((n) => h("option", { value: n }, n)));
    node.value = chosen;
  }
  nodeOptions();
  const body = h("div.table-wrap");
  const count = h("p.subtitle");
  fill(
    main,
    h(
      "div.page-head",
      h("div", h("h1", "Deployments"), count),
      h("a.btn.primary#new-deployment", { href: "#/new" }, "New deployment"),
    ),
    h("div.toolbar", name, state, node),
    body,
  );

  let first = Math.max(0, Number.parseInt(params.get("from") || "1", 10) - 1 || 0); // the first row shown

  // The filter and the page live in the address (replaced, not pushed): Back from a
  // deployment returns to the same rows, and the address can be shared.
  function remember() {
    const query = new URLSearchParams();
    if (name.value) query.set("name", name.value);
    if (state.value) query.set("state", state.value);
    if (node.value) query.set("node", node.value);
    if (first) query.set("from", String(first + 1));
    const text = query.toString();
    const hash = `#/deployments${text ? `?${text}` : ""}`;
    if (location.hash !== hash) history.replaceState(null, "", hash);
  }

  function render() {
    if (!store.loaded) return fill(body, empty("Loading…"));
    const all = [...store.deployments.values()].sort((a, b) => a.name.localeCompare(b.name));
    const needle = name.value.trim().toLowerCase();
    const shown = all.filter(
      (d) =>
        (!needle || d.name.toLowerCase().includes(needle)) &&
        (!state.value || d.state === state.value) &&
        (!node.value || d.instances.some((i) => isPlaced(i) && i.node_id === node.value)),
    );
    count.textContent = `${shown.length} of ${all.length} shown`;
    if (!all.length) {
      return fill(body, empty("No deployments yet.", h("a.btn.primary", { href: "#/new" }, "Create one")));
    }
    if (!shown.length) return fill(body, empty("Nothing matches the filter."));
    // Rows that went away (deleted, filtered out) may leave the page past the end.
    first = Math.min(first, Math.floor((shown.length - 1) / PAGE_ROWS) * PAGE_ROWS);
    fill(body, table(shown.slice(first, first + PAGE_ROWS)), pager(shown.length));
    remember();
  }

  /** "101–200 of 950", with the buttons to the previous and next pages (none on one page). */
  function pager(total) {
    if (total <= PAGE_ROWS) return null;
    const turn = (by) => () => {
      first = Math.max(0, first + by);
      render();
    };
    return h(
      "div.pager",
      h("span#page-range", `${first + 1}–${Math.min(first + PAGE_ROWS, total)} of ${total}`),
      h("button.btn#page-prev", { type: "button", disabled: first === 0, onclick: turn(-PAGE_ROWS) }, "Previous"),
      h(
        "button.btn#page-next",
        { type: "button", disabled: first + PAGE_ROWS >= total, onclick: turn(PAGE_ROWS) },
        "Next",
      ),
    );
  }

  // A new filter starts at its first page.
  const refilter = () => {
    first = 0;
    render();
    remember(); // also when nothing matches (render returned early)
  };
  name.addEventListener("input", refilter);
  state.addEventListener("change", refilter);
  node.addEventListener("change", refilter);
  render();
  const off = subscribe((type) => {
    if (type === "states") stateOptions();
    if (type === "snapshot" || type === "node") nodeOptions();
    if (type === "snapshot" || type === "deployment" || type === "removed" || type === "states") render();
  });
  return off;
}

function table(rows) {
  return h(
    "table.grid.deployments",
    h(
      "thead",
      h(
        "tr",
        ["Name", "Desired", "State", "Replicas", "Nodes", "Restarts", "Last exit", "Reason", "Updated"].map((c) =>
          h("th", c),
        ),
      ),
    ),
    h(
      "tbody",
      rows.map((d) =>
        h(
          "tr",
          { dataset: { deployment: d.name } },
          h("td.name", { "data-label": "Name" }, h("a", { href: `#/d/${encodeURIComponent(d.name)}` }, d.name)),
          h("td", { "data-label": "Desired" }, d.desired_state),
          h("td", { "data-label": "State" }, pill(d.state)),
          h("td.num", { "data-label": "Replicas" }, `${d.replicas.running}/${d.replicas.desired}`),
          h("td", { "data-label": "Nodes" }, nodesOf(d) || h("span.muted", "–")),
          h("td.num", { "data-label": "Restarts" }, d.restarts),
          h("td.num", { "data-label": "Last exit" }, lastExit(d) ?? h("span.muted", "–")),
          h("td.reason", { "data-label": "Reason" }, crashNote(d) || d.pending_reason || d.failure || ""),
          h("td.when", { "data-label": "Updated" }, clock(updatedAt(d))),
        ),
      ),
    ),
  );
}
