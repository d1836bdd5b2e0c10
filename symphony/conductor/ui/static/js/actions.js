// A deployment's actions, in its page's header: stop or start, scale, restart (rolling),
// edit and delete; for a process of an experiment, which its experiment runs, a note
// with a link to the experiment instead of what the API refuses for a process.
//
// Restart is offered only where the API takes one (docs/jobs.md, "Rolling restart"):
// running with replicas, no roll under way or paused, not scheduled, not a process of
// an experiment. The page may still be behind (another user stopped it meanwhile): the
// API's refusal then shows in a toast.

import { api, ApiError } from "./api.js";
import { confirmDialog, h, toast } from "./dom.js";
import { store } from "./store.js";

/** What of `spec` (null until read) decides which actions the header offers: the
 *  header is rebuilt when this changes. */
export function actionsKey(d, spec) {
  const kind = !spec ? null : spec.experiment ? `x:${spec.experiment.name}` : spec.schedule ? "scheduled" : "plain";
  return [d.desired_state, d.replicas.desired, d.rollout ? d.rollout.state : null, kind];
}

/** Whether the API would take a rolling restart of `d` (its `spec` read). */
export function restartable(d, spec) {
  if (!spec || spec.experiment || spec.schedule) return false;
  return d.desired_state === "running" && d.replicas.desired > 0 && !d.rollout;
}

/** The header's actions for the deployment `d` (a summary) with its `spec` (or null).
 *  Until the spec is read only Edit is offered: the summary does not say whether `d` is
 *  a process of an experiment, for which the API refuses the others. */
export function actions(d, spec) {
  const edit = h("a.btn#edit", { href: `#/d/${encodeURIComponent(d.name)}/edit` }, "Edit spec");
  if (!spec) return h("div.actions", edit);
  if (spec.experiment) return h("div.actions", managedNote(spec.experiment), edit);
  const running = d.desired_state === "running";
  const stopStart = h(`button.btn#${running ? "stop" : "start"}`, running ? "Stop" : "Start");
  stopStart.addEventListener(
    "click",
    busy(stopStart, async () => store.put(await api.patch(d.id, { desired_state: running ? "stopped" : "running" }))),
  );
  const replicas = h("input#scale-replicas", {
    type: "number",
    min: "0",
    value: d.replicas.desired,
    "aria-label": "replicas",
  });
  const scale = h("button.btn#scale", "Scale");
  scale.addEventListener(
    "click",
    busy(scale, async () => {
      const n = Number(replicas.value);
      if (!Number.isInteger(n) || n < 0) throw new Error("replicas must be a whole number, 0 or more");
      store.put(await api.patch(d.id, { replicas: n }));
      toast(`${d.name} scaled to ${n}`);
    }),
  );
  return h(
    "div.actions",
    stopStart,
    h("span.scale-group", replicas, scale),
    restartable(d, spec) ? restartButton(d, spec) : null,
    edit,
    deleteButton(d),
  );
}

/** What a rolling restart of `d` does to its instances, in words (one replica has no "others"). */
function restartWords(d, spec) {
  if (d.replicas.desired !== 1) {
    return (
      "Every instance is replaced by a new one of the same spec, in batches by the deployment's update " +
      "policy (max_parallel at a time, each new one healthy before the next batch), so the others keep running."
    );
  }
  const surge = spec && spec.update ? spec.update.max_surge : 1;
  return surge >= 1
    ? "The instance is replaced by a new one of the same spec: the new one starts first, and the old one " +
        "stops once the new one is healthy (the update policy's max_surge is 1 or more)."
    : "The instance is replaced by a new one of the same spec: the old one stops first, so nothing runs " +
        "until the new one has started (the update policy's max_surge is 0).";
}

function restartButton(d, spec) {
  const restart = h("button.btn#restart", "Restart");
  restart.addEventListener(
    "click",
    busy(restart, async () => {
      const sure = await confirmDialog({
        title: `Restart ${d.name}?`,
        body: restartWords(d, spec),
        confirm: "Restart",
      });
      if (!sure) return;
      store.put(await api.restart(d.id));
      toast(`restarting ${d.name}: a rolling restart`);
    }),
  );
  return restart;
}

function deleteButton(d) {
  const remove = h("button.btn.danger#delete", "Delete");
  remove.addEventListener(
    "click",
    busy(remove, async () => {
      const sure = await confirmDialog({
        title: `Delete ${d.name}?`,
        body: "Every instance is stopped (its process group signalled) and the deployment and its history are removed. This cannot be undone.",
        confirm: "Delete",
        danger: true,
      });
      if (!sure) return;
      remove.textContent = "Deleting…";
      await api.remove(d.id);
      store.forget(d.id);
      toast(`${d.name} deleted`);
      location.hash = "#/deployments";
    }),
  );
  return remove;
}

/** In place of stop, start, scale, restart and delete, which the API refuses for a
 *  process of an experiment: who runs it, and a link there. */
function managedNote(role) {
  const link = h("a#managed-link", { href: `#/x/${encodeURIComponent(role.name)}` }, `experiment ${role.name}`);
  return h(
    "p.managed.muted.small#managed",
    `Process ${role.process}, managed by its experiment: stop, start or delete it with the `,
    link,
    ".",
  );
}

/** Run `work` on a click with `button` disabled; an error shows in a toast (the API's
 *  409 or 422 text as it says it). */
function busy(button, work) {
  return async () => {
    button.disabled = true;
    try {
      await work();
    } catch (error) {
      toast(error instanceof ApiError ? refusal(error) : error.message, "error");
    } finally {
      button.disabled = false;
    }
  };
}

/** The API's refusal as it says it: a 409's text, or a 422's messages (its `detail` is
 *  a list of `{path, message}`: a secret the spec uses is gone). */
function refusal(error) {
  const detail = Array.isArray(error.detail) ? error.detail.map((e) => e.message).join("; ") : error.message;
  return `${error.error}: ${detail}`;
}
