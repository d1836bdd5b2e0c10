// A scheduled deployment's runs (GET /deployments/{id}/runs): its schedules, when they
// fire next, and the last runs with one exit code per replica. Refreshed when an event
// about a run or a scheduled restart arrives (deployment.js calls refresh()). Times are
// in the schedule's time zone, as its cron, its events and `symphony runs` give them.

import { api } from "./api.js";
import { clock, fill, h, pill } from "./dom.js";

/** Whether a spec has a schedule or a restart schedule (only then is the panel shown). */
export function isScheduled(spec) {
  return Boolean(spec && (spec.schedule || spec.restart_schedule));
}

/** The lines about the schedules above the table (pure, for tests). */
export function scheduleLines(answer) {
  const lines = [];
  const s = answer.schedule;
  if (s) {
    lines.push(`${s.cron} (${s.timezone}), concurrency ${s.concurrency}, keeps ${s.history} runs`);
    lines.push(`next run ${clock(answer.next_run_at, s.timezone)} ${s.timezone}`);
  }
  const r = answer.restart_schedule;
  if (r) {
    lines.push(`restarts at ${r.cron} (${r.timezone})`);
    lines.push(`next restart ${clock(answer.next_restart_at, r.timezone)} ${r.timezone}`);
  }
  return lines;
}

/** One run's exit codes, one per replica ("–" while an instance runs). */
export function exitCodes(run) {
  return (run.instances || []).map((i) => (i.exit_code ?? "–")).join(" ") || "–";
}

/** The runs as a table, their times in `zone` (the schedule's). */
export function runTable(runs, zone) {
  const cols = ["Run", "State", `Scheduled (${zone || "local time"})`, "Started", "Finished", "Exit codes"];
  return h(
    "table.grid.runs",
    h("thead", h("tr", cols.map((c) => h("th", c)))),
    h(
      "tbody",
      runs.map((r) =>
        h(
          "tr",
          { dataset: { run: String(r.number) } },
          h("td.num", { "data-label": "Run" }, `#${r.number}`),
          h("td", { "data-label": "State" }, pill(r.state), r.catch_up ? h("span.muted.small", " catch-up") : null),
          h("td.when", { "data-label": "Scheduled" }, clock(r.scheduled_at, zone)),
          h("td.when", { "data-label": "Started" }, clock(r.started_at, zone)),
          h("td.when", { "data-label": "Finished" }, clock(r.finished_at, zone)),
          h("td.mono", { "data-label": "Exit codes" }, exitCodes(r)),
        ),
      ),
    ),
  );
}

export function runsPanel(id) {
  const body = h("div");
  const el = h("section.card#runs", h("div.card-head", h("h2", "Schedule and runs")), body);
  let closed = false;
  async function refresh() {
    try {
      const answer = await api.runs(id);
      if (closed) return;
      fill(
        body,
        h("p.small", scheduleLines(answer).join(" · ")),
        answer.runs.length
          ? h("div.table-wrap", runTable(answer.runs, answer.schedule && answer.schedule.timezone))
          : h("p.muted.small", answer.schedule ? "no runs yet" : "scheduled restarts only: no runs"),
      );
    } catch (error) {
      fill(body, h("p.muted.small", `runs unavailable: ${error.message}`));
    }
  }
  refresh();
  return { el, refresh, close: () => { closed = true; } };
}
