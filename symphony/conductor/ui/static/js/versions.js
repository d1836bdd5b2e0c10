// A deployment's rolling update and version history: the roll under way (old and new
// instances, how many new ones are healthy, why it is paused), a Promote button while
// canaries wait, and the kept versions with a Rollback button each (docs/jobs.md).

import { api, ApiError } from "./api.js";
import { clock, fill, h, pill, toast } from "./dom.js";
import { joinCommand } from "./shell.js";
import { store } from "./store.js";

export function versionsPanel(id) {
  const roll = h("div.rollout#rollout");
  const list = h("div.table-wrap#versions");
  const el = h("section.card", h("div.card-head", h("h2", "Versions")), roll, list);
  let key = null;

  async function act(button, work) {
    button.disabled = true;
    try {
      store.put(await work());
    } catch (error) {
      toast(error instanceof ApiError ? `${error.error}: ${error.message}` : error.message, "error");
    } finally {
      button.disabled = false;
    }
  }

  async function load() {
    try {
      const reply = await api.versions(id);
      fill(list, versionTable(reply.versions));
    } catch (error) {
      fill(list, h("p.muted.small", `versions unavailable: ${error.message}`));
    }
  }

  function versionTable(versions) {
    const cols = ["Version", "Status", "Command", "Created", "Reason", ""];
    return h(
      "table.grid.versions",
      h("thead", h("tr", cols.map((c) => h("th", c)))),
      h(
        "tbody",
        versions.map((v) => {
          let back = null;
          if (!v.current) {
            back = h(`button.btn.small#rollback-${v.version}`, "Roll back");
            back.addEventListener("click", () => act(back, () => api.rollback(id, v.version)));
          }
          return h(
            `tr${v.current ? ".current" : ""}`,
            { dataset: { version: v.version } },
            h("td.num", { "data-label": "Version" }, `${v.version}${v.current ? " (current)" : ""}`),
            h("td", { "data-label": "Status" }, pill(v.status)),
            h("td.mono", { "data-label": "Command" }, joinCommand((v.spec.config || {}).command || [])),
            h("td.when", { "data-label": "Created" }, clock(v.created_at)),
            h("td.reason", { "data-label": "Reason" }, v.reason || ""),
            h("td", back),
          );
        }),
      ),
    );
  }

  function update(d) {
    const r = d.rollout;
    if (!r) {
      fill(roll, h("p.muted.small", `version ${d.version}, no roll under way`));
    } else {
      let promote = null;
      if (r.state === "canary") {
        promote = h("button.btn#promote", "Promote");
        promote.addEventListener("click", () => act(promote, () => api.promote(id)));
      }
      fill(
        roll,
        h(
          "p.roll-line",
          pill(r.state),
          ` to version ${r.version}: `,
          h("b#roll-new", `${r.new} new`),
          ` (${r.new_healthy} healthy), `,
          h("b#roll-old", `${r.old} old`),
          r.reason ? h("span.reason", ` — ${r.reason}`) : null,
        ),
        promote,
      );
    }
    // The history changes with the version and the roll's state: reload then.
    const now = JSON.stringify([d.version, r && r.state]);
    if (now !== key) {
      key = now;
      load();
    }
  }

  return { el, update };
}
