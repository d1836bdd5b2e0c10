// Create or edit a deployment: a form for the common fields and a raw JSON tab for all
// of them. The API validates (the browser does not second-guess it); its 422 errors,
// `detail: [{path, message}]`, are shown next to the fields their paths name.
//
// Editing sends a JSON merge patch: only what differs from the stored spec, with
// `null` for a removed key (an environment variable, a capacity class). The stored spec
// is read when the form opens (the live feed carries none); if it changes meanwhile,
// the form says so and keeps what was typed.

import { api, ApiError } from "./api.js";
import { empty, fill, h } from "./dom.js";
import { joinCommand, splitCommand } from "./shell.js";
import { store, subscribe } from "./store.js";

const NEW_SPEC = {
  kind: "exec",
  node_group: null,
  capacity_requests: {},
  config: { command: [], env: {} },
  replicas: 1,
  restart_policy: { type: "on-failure", backoff_seconds: 1 },
};

/** Which form field shows the error at `path` ("config.env.X" -> "env"); null: none. */
export function fieldFor(path) {
  const p = String(path || "");
  const direct = { name: "name", node_group: "node_group", replicas: "replicas", config: "command" };
  if (direct[p]) return direct[p];
  if (p.startsWith("capacity_requests")) return "capacity_requests";
  if (p.startsWith("config.env")) return "env";
  if (p.startsWith("config.command")) return "command";
  if (p === "restart_policy.backoff_seconds") return "backoff";
  if (p === "restart_policy.max_restarts") return "max_restarts";
  if (p.startsWith("restart_policy")) return "restart_type";
  return null;
}

/** A JSON merge patch (RFC 7396) turning `before` into `after`. */
export function mergePatch(before, after) {
  const patch = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[key];
    const b = after[key];
    if (!(key in after)) patch[key] = null;
    else if (isObject(a) && isObject(b)) {
      const inner = mergePatch(a, b);
      if (Object.keys(inner).length) patch[key] = inner;
    } else if (JSON.stringify(a) !== JSON.stringify(b)) patch[key] = b;
  }
  return patch;
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export function mountForm(main, idOrName) {
  const editing = idOrName !== null;
  let alive = true;
  let cleanup = null;
  function load() {
    if (cleanup) cleanup();
    cleanup = null;
    fill(main, empty("Loading…"));
    // The spec as stored now (the live feed's summaries have none).
    const ready = editing ? api.deployment(idOrName) : Promise.resolve(null);
    ready.then(
      (d) => {
        if (alive) cleanup = build(main, d, load);
      },
      (error) => alive && fill(main, loadError(idOrName, error, load)),
    );
  }
  load();
  return () => {
    alive = false;
    if (cleanup) cleanup();
  };
}

function loadError(idOrName, error, retry) {
  const text = error.status === 404 ? `No deployment named ${idOrName}.` : `Cannot load the spec of ${idOrName}: ${error.message}`;
  return h(
    "div.empty#form-load-error",
    { role: "alert" },
    h("p", text),
    h("button.btn#form-retry", { type: "button", onclick: retry }, "Retry"),
    " ",
    h("a.btn", { href: `#/d/${encodeURIComponent(idOrName)}` }, "Back"),
  );
}

/** Build the form (of `deployment`, read just now, or a new one); returns its cleanup. */
function build(main, deployment, reload) {
  const editing = deployment !== null;
  let base = structuredClone(editing ? deployment.spec : NEW_SPEC);
  // A process of an experiment: its experiment sets its replicas (the API refuses them).
  const managed = editing && Boolean(deployment.spec.experiment);
  const errors = {}; // field -> error element
  const field = (key, label, input, hint = null) => {
    errors[key] = h("div.field-error", { role: "alert", dataset: { errorFor: key } });
    return h("div.field", { dataset: { field: key } }, h("label", { for: `f-${key}` }, label), input, hint ? h("p.hint", hint) : null, errors[key]);
  };
  const input = (key, attrs = {}) => h(`input#f-${key}`, { name: key, ...attrs });

  const groups = new Set();
  const classes = new Set();
  for (const n of store.nodes.values()) {
    n.groups.forEach((g) => groups.add(g));
    Object.keys(n.capacities_total || {}).forEach((c) => classes.add(c));
  }
  const f = {
    name: input("name", { placeholder: "generated when empty", autocomplete: "off", disabled: editing }),
    node_group: input("node_group", { placeholder: "any group", list: "known-groups", autocomplete: "off" }),
    replicas: input("replicas", { type: "number", min: "0", step: "1" }),
    command: input("command", { placeholder: "python3 main.py --port 8080", autocomplete: "off", spellcheck: "false" }),
    capacity: kvEditor("capacity_requests", "class", "amount", "known-classes"),
    env: kvEditor("env", "NAME", "value"),
    restart_type: h(
      "select#f-restart_type",
      { name: "restart_type" },
      ["on-failure", "always", "never"].map((t) => h("option", { value: t }, t)),
    ),
    backoff: input("backoff", { type: "number", min: "0", step: "any" }),
    max_restarts: input("max_restarts", { type: "number", min: "0", step: "1", placeholder: "no limit" }),
  };

  function toForm(spec) {
    f.name.value = spec.name || "";
    f.node_group.value = spec.node_group || "";
    f.replicas.value = spec.replicas ?? 1;
    f.command.value = joinCommand((spec.config && spec.config.command) || []);
    f.capacity.set(spec.capacity_requests || {});
    f.env.set((spec.config && spec.config.env) || {});
    const policy = spec.restart_policy || {};
    f.restart_type.value = policy.type || "on-failure";
    f.backoff.value = policy.backoff_seconds ?? 1;
    f.max_restarts.value = policy.max_restarts ?? "";
  }

  /** The spec the form describes: `base` with the form's fields laid over it. */
  function fromForm() {
    const spec = structuredClone(base);
    const name = f.name.value.trim();
    if (name) spec.name = name;
    else delete spec.name;
    spec.node_group = f.node_group.value.trim() || null;
    if (!managed) spec.replicas = numberOr(f.replicas.value);
    spec.config = { ...(spec.config || {}), command: splitCommand(f.command.value), env: f.env.get() };
    spec.capacity_requests = Object.fromEntries(Object.entries(f.capacity.get()).map(([k, v]) => [k, numberOr(v)]));
    const policy = { ...(spec.restart_policy || {}), type: f.restart_type.value, backoff_seconds: numberOr(f.backoff.value) };
    const max = f.max_restarts.value.trim();
    policy.max_restarts = max === "" ? null : numberOr(max);
    spec.restart_policy = policy;
    return spec;
  }

  const raw = h("textarea#f-raw", { spellcheck: "false", rows: "24", "aria-label": "spec as JSON" });
  const rawErrors = h("ul.raw-errors", { role: "alert" });
  const general = h("div.form-error", { role: "alert" });
  const formTab = h("button.tab.active#tab-form", { type: "button" }, "Form");
  const rawTab = h("button.tab#tab-json", { type: "button" }, "JSON");
  const formPane = h(
    "div.pane",
    h(
      "div.form-grid",
      field("name", "Name", f.name, editing ? "A deployment keeps its name." : "Lowercase letters, digits and '-'."),
      field("node_group", "Node group", f.node_group, "Only nodes in this group run it."),
      managed ? null : field("replicas", "Replicas", f.replicas),
      field("command", "Command", f.command, "Split into arguments like a shell does: quote an argument that has spaces."),
      field("capacity_requests", "Capacity requests", f.capacity.el, "Reserved on the node while an instance lives."),
      field("env", "Environment", f.env.el),
      h(
        "fieldset.restart",
        h("legend", "Restart policy"),
        field("restart_type", "When", f.restart_type),
        field("backoff", "Backoff (s)", f.backoff),
        field("max_restarts", "Max restarts", f.max_restarts),
      ),
    ),
  );
  const rawPane = h(
    "div.pane.hidden",
    h("p.hint", "The whole spec as JSON (YAML files work with `symphony deploy -f`)."),
    raw,
    rawErrors,
  );
  let onRaw = false;

  function switchTo(toRaw) {
    general.textContent = "";
    if (toRaw === onRaw) return;
    try {
      if (toRaw) raw.value = JSON.stringify(fromForm(), null, 2);
      else {
        base = JSON.parse(raw.value);
        toForm(base);
      }
    } catch (error) {
      general.textContent = toRaw ? error.message : `The JSON is not valid: ${error.message}`;
      return;
    }
    onRaw = toRaw;
    formTab.classList.toggle("active", !toRaw);
    rawTab.classList.toggle("active", toRaw);
    formPane.classList.toggle("hidden", toRaw);
    rawPane.classList.toggle("hidden", !toRaw);
  }
  formTab.addEventListener("click", () => switchTo(false));
  rawTab.addEventListener("click", () => switchTo(true));

  function clearErrors() {
    general.textContent = "";
    rawErrors.replaceChildren();
    for (const el of Object.values(errors)) {
      el.textContent = "";
      el.closest(".field").classList.remove("invalid");
    }
  }

  function showErrors(list) {
    const unplaced = [];
    for (const { path, message } of list) {
      rawErrors.append(h("li", h("code", path || "(spec)"), " ", message));
      const key = fieldFor(path);
      if (key && errors[key]) {
        const el = errors[key];
        const sub = path && path.split(".").length > (key === "capacity_requests" ? 1 : 2) ? `${path}: ` : "";
        el.textContent = el.textContent ? `${el.textContent}; ${sub}${message}` : `${sub}${message}`;
        el.closest(".field").classList.add("invalid");
      } else unplaced.push(`${path || "spec"}: ${message}`);
    }
    if (unplaced.length) general.textContent = unplaced.join("; ");
    const first = document.querySelector(onRaw ? ".raw-errors li" : ".field.invalid input, .field.invalid select");
    if (first && first.focus) first.focus();
  }

  const submit = h("button.btn.primary#submit", { type: "submit" }, editing ? "Save changes" : "Create deployment");
  const form = h(
    "form.spec-form",
    {
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        clearErrors();
        let spec;
        try {
          spec = onRaw ? JSON.parse(raw.value) : fromForm();
        } catch (error) {
          if (!onRaw) showErrors([{ path: "config.command", message: error.message }]);
          else general.textContent = `The JSON is not valid: ${error.message}`;
          return;
        }
        submit.disabled = true;
        try {
          let saved;
          if (editing) {
            const patch = mergePatch(deployment.spec, spec);
            if (!Object.keys(patch).length) {
              general.textContent = "Nothing changed.";
              return;
            }
            saved = await api.patch(deployment.id, patch);
          } else saved = await api.create(spec);
          store.put(saved);
          location.hash = `#/d/${encodeURIComponent(saved.name)}`;
        } catch (error) {
          if (error instanceof ApiError && error.status === 422 && Array.isArray(error.detail)) showErrors(error.detail);
          else if (error instanceof ApiError && error.status === 409) showErrors([{ path: "name", message: error.message }]);
          else general.textContent = error.message;
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("div.tabs", { role: "tablist" }, formTab, rawTab),
    general,
    formPane,
    rawPane,
    h(
      "div.form-actions",
      h("a.btn", { href: editing ? `#/d/${encodeURIComponent(deployment.name)}` : "#/deployments" }, "Cancel"),
      submit,
    ),
  );
  toForm(base);
  // Someone else changed the spec since it was read: say so, keep what was typed (the
  // patch still holds only this form's changes), offer to start again from the new one.
  const changed = h("div.form-note#spec-changed", { role: "status", hidden: true });
  const off = editing
    ? subscribe((type) => {
        if (type !== "deployment" && type !== "snapshot") return;
        const now = store.find(deployment.id);
        if (!now || now.generation <= deployment.generation || !changed.hidden) return;
        fill(
          changed,
          "This deployment's spec changed since the form was opened. Saving sends only your changes. ",
          h("button.btn.small#spec-reload", { type: "button", onclick: reload }, "Start again from the current spec"),
        );
        changed.hidden = false;
      })
    : () => {};
  fill(
    main,
    h("p.crumbs", h("a", { href: "#/deployments" }, "Deployments"), " / ", editing ? deployment.name : "new"),
    h("div.page-head", h("h1", editing ? `Edit ${deployment.name}` : "New deployment")),
    changed,
    h("section.card.form-card", form),
    h("datalist#known-groups", [...groups].sort().map((g) => h("option", { value: g }))),
    h("datalist#known-classes", [...classes].sort().map((c) => h("option", { value: c }))),
  );
  (editing ? f.command : f.name).focus();
  return off;
}

/** A number when the text is one, else the text itself (the API then says what is wrong). */
function numberOr(text) {
  const t = String(text).trim();
  return t !== "" && !Number.isNaN(Number(t)) ? Number(t) : t;
}

/** Rows of key/value inputs with add and remove buttons. */
function kvEditor(name, keyHint, valueHint, keyList = null) {
  const rows = h("div.kv-rows");
  const el = h("div.kv#f-" + name, rows, h("button.btn.small.ghost.kv-add", { type: "button", onclick: () => addRow("", "") }, "+ Add"));
  function addRow(key, value) {
    // A secret reference ({secret: NAME}) is kept as it is and shown masked: its value
    // never reaches the browser; remove the row, or edit the JSON, to change it.
    const secret = value && typeof value === "object" && "secret" in value ? String(value.secret) : null;
    const shown = secret === null ? String(value) : `*** (secret ${secret})`;
    const valueAttrs = { placeholder: valueHint, value: shown, "aria-label": `${name} ${valueHint}`, autocomplete: "off" };
    if (secret !== null) Object.assign(valueAttrs, { readonly: true, title: `from secret ${secret}` });
    const row = h(
      "div.kv-row",
      h("input.kv-key", { placeholder: keyHint, value: key, list: keyList, "aria-label": `${name} ${keyHint}`, autocomplete: "off" }),
      h("input.kv-value", valueAttrs),
      h("button.btn.small.ghost.kv-remove", { type: "button", title: "remove", onclick: () => row.remove() }, "×"),
    );
    if (secret !== null) row.dataset.secret = secret;
    rows.append(row);
  }
  return {
    el,
    set(obj) {
      rows.replaceChildren();
      for (const [k, v] of Object.entries(obj)) addRow(k, v);
    },
    get() {
      const out = {};
      for (const row of rows.children) {
        const key = row.querySelector(".kv-key").value.trim();
        if (key) out[key] = row.dataset.secret !== undefined ? { secret: row.dataset.secret } : row.querySelector(".kv-value").value;
      }
      return out;
    },
  };
}
