// A live log viewer: GET /deployments/{id}/logs?follow=1, streamed into a <pre>.
//
// Follow shows lines as they arrive and keeps the view at the bottom; Pause freezes
// the view (new lines are kept aside and shown on Follow), so a reader can scroll back
// without the text moving. The stream itself stays open either way. Changing the
// instance or stdout/stderr starts a fresh stream with the last TAIL lines.
//
// A job may log far faster than a page can draw (a shell loop of `echo` writes about
// 5 MB/s): the lines are drawn at most every DRAW_MS, and only the last MAX_LINES of
// what arrived meanwhile, so the page stays responsive whatever the job writes.

import { ApiError, streamText } from "./api.js";
import { h } from "./dom.js";
import { lastRunPanel } from "./lastrun.js";
import { isPlaced } from "./store.js";

const TAIL = 200;
const MAX_LINES = 5000; // what the view keeps; older lines are dropped
const DRAW_MS = 100; // the view is redrawn at most this often
const RETRY_MS = 2000; // after a stream ended (instance not started yet, node away)

// A terminal's escape sequences: CSI (colours, cursor moves: ESC [ ... final byte), OSC
// (window titles, links: ESC ] ... BEL or ESC \), character sets (ESC ( B) and the
// two-byte ones (ESC and one byte).
const ESCAPES = /\x1b\[[0-?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -\/]+[0-~]|\x1b[@-_]?/g;

/**
 * A line as a terminal would show it: without escape sequences (a job's colours would
 * otherwise show as "[31m" around its words), and for a line a progress bar rewrote
 * with carriage returns, only its last state. A CRLF line ending is not a rewrite.
 */
export function terminalText(line) {
  if (!line.includes("\x1b") && !line.includes("\r")) return line;
  let text = line.replace(ESCAPES, "");
  if (text.endsWith("\r")) text = text.slice(0, -1);
  const cr = text.lastIndexOf("\r");
  return cr >= 0 ? text.slice(cr + 1) : text;
}

/** The last `max` items of `kept` followed by `more` (never a spread: `more` may be huge). */
export function lastLines(kept, more, max = MAX_LINES) {
  if (more.length >= max) return more.slice(more.length - max);
  const out = kept.length + more.length > max ? kept.slice(kept.length + more.length - max) : kept.slice();
  for (const line of more) out.push(line);
  return out;
}

export function logViewer(deploymentId) {
  const instance = h("select#log-instance", { "aria-label": "instance" }, h("option", { value: "" }, "first live instance"));
  const stream = h(
    "select#log-stream",
    { "aria-label": "stream" },
    h("option", { value: "stdout" }, "stdout"),
    h("option", { value: "stderr" }, "stderr"),
  );
  const toggle = h("button.btn.small#log-toggle", { type: "button" }, "Pause");
  const clear = h("button.btn.small.ghost", { type: "button" }, "Clear");
  const status = h("span.log-status.muted.small", "connecting…");
  const pre = h("pre.logs#log-output", { tabindex: "0", "aria-live": "off" });
  const lastRun = lastRunPanel(deploymentId); // while the instance waits to restart
  const el = h(
    "section.card.logs-card",
    h("div.card-head", h("h2", "Logs"), h("div.spacer"), status),
    h("div.toolbar.log-tools", instance, stream, toggle, clear),
    lastRun.el,
    pre,
  );
  let known = []; // the deployment's instances, as last given

  let following = true;
  let held = []; // lines that arrived while paused
  let pending = []; // lines that arrived while following, not drawn yet
  let kept = []; // the last MAX_LINES lines drawn
  let inView = 0; // how many lines the view holds (MAX_LINES and up to a fifth more)
  let drawing = null; // the timer of the next draw
  let partial = ""; // an unfinished last line
  let controller = null;
  let retry = null;
  let closed = false;

  function show(lines) {
    if (!lines.length) return;
    pending = lastLines(pending, lines);
    if (!drawing) drawing = setTimeout(draw, DRAW_MS);
  }

  function draw() {
    drawing = null;
    if (!pending.length || closed) return;
    const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
    kept = lastLines(kept, pending);
    // Appending is cheap; past MAX_LINES (with some slack, so not on every draw) the
    // whole view is rewritten with the lines it keeps.
    if (inView + pending.length > MAX_LINES + MAX_LINES / 5) {
      pre.textContent = kept.join("\n") + "\n";
      inView = kept.length;
    } else {
      pre.append(pending.join("\n") + "\n");
      inView += pending.length;
    }
    pending = [];
    if (following && atBottom) pre.scrollTop = pre.scrollHeight;
  }

  function reset() {
    pre.textContent = "";
    held = [];
    pending = [];
    kept = [];
    inView = 0;
    clearTimeout(drawing);
    drawing = null;
  }

  function receive(text) {
    const lines = (partial + text).split("\n");
    partial = lines.pop();
    for (let i = 0; i < lines.length; i += 1) lines[i] = terminalText(lines[i]);
    if (following) show(lines);
    else {
      held = lastLines(held, lines);
      status.textContent = `paused, ${held.length} new line${held.length === 1 ? "" : "s"}`;
    }
  }

  async function start() {
    if (controller) controller.abort();
    clearTimeout(retry);
    if (closed) return;
    const mine = new AbortController();
    controller = mine;
    reset();
    partial = "";
    const query = new URLSearchParams({ tail: TAIL, follow: "1", stream: stream.value });
    if (instance.value) query.set("instance", instance.value);
    status.textContent = following ? "following" : "paused";
    try {
      await streamText(`/deployments/${encodeURIComponent(deploymentId)}/logs?${query}`, {
        signal: mine.signal,
        onText: receive,
      });
      if (partial) receive("\n");
      if (controller === mine) status.textContent = "stream ended; reconnecting…";
    } catch (error) {
      if (mine.signal.aborted) return;
      status.textContent =
        error instanceof ApiError ? `no logs: ${error.message}` : `log stream broke: ${error.message}`;
    }
    if (controller === mine && !closed) retry = setTimeout(start, RETRY_MS);
  }

  toggle.addEventListener("click", () => {
    following = !following;
    toggle.textContent = following ? "Pause" : "Follow";
    toggle.classList.toggle("primary", !following);
    if (following) {
      show(held);
      held = [];
      pre.scrollTop = pre.scrollHeight;
      status.textContent = "following";
    } else {
      // What was received before the pause is shown now; the view then holds still.
      clearTimeout(drawing);
      draw();
      status.textContent = "paused";
    }
  });
  clear.addEventListener("click", reset);
  /** The instance shown: the one chosen, else the API's pick, the placed one of the
   * lowest replica (a pending one has no log). */
  function viewed() {
    if (instance.value) return known.find((i) => i.id === instance.value);
    return known.filter(isPlaced).sort((a, b) => a.replica - b.replica)[0];
  }
  const choose = () => {
    lastRun.update(viewed(), stream.value);
    start();
  };
  instance.addEventListener("change", choose);
  stream.addEventListener("change", choose);

  /** Keep the instance list in step with the deployment (keeps the current choice). */
  function setInstances(instances) {
    const chosen = instance.value;
    const options = [h("option", { value: "" }, "first live instance")];
    for (const i of instances) {
      options.push(h("option", { value: i.id }, `#${i.replica} ${i.id} (${i.state})`));
    }
    instance.replaceChildren(...options);
    instance.value = instances.some((i) => i.id === chosen) ? chosen : "";
    known = instances;
    lastRun.update(viewed(), stream.value);
  }

  start();
  return {
    el,
    setInstances,
    close() {
      closed = true;
      lastRun.close();
      clearTimeout(retry);
      clearTimeout(drawing);
      if (controller) controller.abort();
    },
  };
}
