// What a log viewer adds while its instance waits out its restart backoff: that it
// waits, until when, how its last run ended, and the end of that run's stderr. A
// program that crashes says why on stderr (a Python traceback, a shell's "not found"),
// while the viewer follows stdout by default: an operator looking at a crash loop saw
// an empty, "following" view and nothing of the reason.

import { streamText } from "./api.js";
import { clock, h } from "./dom.js";

const TAIL = 50; // lines of the last run's stderr shown

/** How `inst`'s last run ended, for a sentence: "exited with code 3". */
function howItEnded(inst) {
  if (inst.signal) return `was killed by ${inst.signal}`;
  return inst.exit_code === null || inst.exit_code === undefined ? "ended" : `exited with code ${inst.exit_code}`;
}

export function lastRunPanel(deploymentId) {
  const note = h("p.small.last-run-note#log-waiting", { role: "status" });
  const title = h("p.small.muted", `The end of its last run's stderr (${TAIL} lines):`);
  const pre = h("pre.logs.last-run#last-run-stderr");
  const errors = h("div", title, pre);
  const el = h("div.last-run", note, errors);
  el.hidden = true;
  let shown = null; // instance, restart count and stream of the stderr shown
  let controller = null;

  async function load(inst) {
    if (controller) controller.abort();
    const mine = new AbortController();
    controller = mine;
    const query = new URLSearchParams({ tail: TAIL, stream: "stderr", instance: inst.id });
    let text = "";
    try {
      await streamText(`/deployments/${encodeURIComponent(deploymentId)}/logs?${query}`, {
        signal: mine.signal,
        onText: (part) => {
          text += part;
        },
      });
      pre.textContent = text || "(nothing on stderr)";
    } catch (error) {
      if (!mine.signal.aborted) pre.textContent = `(stderr unavailable: ${error.message})`;
    }
  }

  /** Show what `inst` (the instance the viewer shows, or null) waits for; `stream` is
   * the one the viewer follows (on stderr, the viewer itself shows the last run's). */
  function update(inst, stream) {
    if (!inst || inst.state !== "restarting") {
      el.hidden = true;
      shown = null;
      if (controller) controller.abort();
      return;
    }
    el.hidden = false;
    const when = inst.restart_at ? `waits to restart at ${clock(inst.restart_at)}` : "waits to restart";
    note.textContent = `${inst.id} ${when}: its last run ${howItEnded(inst)}. The log shows that run's output.`;
    errors.hidden = stream === "stderr";
    const key = `${inst.id}/${inst.restarts}/${stream}`;
    if (errors.hidden || key === shown) return;
    shown = key;
    pre.textContent = "";
    load(inst);
  }

  return {
    el,
    update,
    close() {
      if (controller) controller.abort();
    },
  };
}
