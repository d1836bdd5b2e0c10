// Small DOM and formatting helpers shared by the pages.
//
// Every value from the API goes into the page as text (textContent), never as HTML, so
// a job's name or log line can never become markup or script.

/**
 * Build an element: h("div.card#main", {title: "x", onclick: fn}, child, "text", ...).
 * Children may be nodes, strings, numbers, arrays of those, or null (skipped).
 */
export function h(tag, attrs, ...children) {
  const [name, ...rest] = tag.split(/(?=[.#])/);
  const el = document.createElement(name || "div");
  for (const part of rest) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  const isAttrs = attrs !== null && typeof attrs === "object" && !(attrs instanceof Node) && !Array.isArray(attrs);
  if (!isAttrs) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value") el.value = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  let i = 0;
  while (Math.abs(n) >= 1024 && i < UNITS.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)} ${UNITS[i]}`;
}

/** "4 s", "3 min", "2 h", "5 d" — how long `seconds` is, for ages. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.max(0, seconds);
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/** A wall-clock time (epoch seconds) as HH:MM:SS, with the date when not today: in the
 * browser's time zone, or in `zone` (an IANA name, e.g. a schedule's). */
export function clock(epoch, zone) {
  if (!epoch) return "–";
  const d = new Date(epoch * 1000);
  let place = zone ? { timeZone: zone } : {};
  try {
    d.toLocaleTimeString([], place);
  } catch {
    place = {}; // a zone this browser does not know: its own
  }
  const time = d.toLocaleTimeString([], { hour12: false, ...place });
  const day = (when) => when.toLocaleDateString([], place);
  return day(d) === day(new Date()) ? time : `${day(d)} ${time}`;
}

/** A state pill: <span class="pill s-running">running</span>. */
export function pill(state, text = state) {
  return h(`span.pill.s-${state || "unknown"}`, text || "unknown");
}

function level(fraction) {
  if (fraction >= 0.9) return "high";
  if (fraction >= 0.7) return "mid";
  return "low";
}

/**
 * A labelled horizontal bar: label, a track with a fill for used/total, and a caption.
 * `fraction` is 0..1 (null: unknown, an empty track).
 */
export function bar(label, fraction, caption, { kind = "gauge" } = {}) {
  const track = h("div.track");
  const filled = h(`div.fill.${kind}.${level(fraction || 0)}`);
  filled.style.width = `${Math.round(Math.min(1, Math.max(0, fraction || 0)) * 100)}%`;
  track.append(filled);
  return h(
    "div.bar",
    { role: "meter", "aria-label": label, "aria-valuenow": Math.round((fraction || 0) * 100) },
    h("span.bar-label", label),
    track,
    h("span.bar-caption", caption),
  );
}

/** Tiny vertical bars, one per CPU core. */
export function cores(percents) {
  const box = h("div.cores", { title: "per core" });
  for (const [i, p] of (percents || []).entries()) {
    const col = h(`div.core.${level(p / 100)}`, { title: `core ${i}: ${p.toFixed(0)} %` });
    col.style.height = `${Math.max(4, Math.min(100, p))}%`;
    box.append(h("div.core-slot", col));
  }
  return box;
}

/** An empty-state message for a page or a section. */
export function empty(text, action = null) {
  return h("div.empty", h("p", text), action);
}

/** A modal confirmation; resolves true when confirmed. */
export function confirmDialog({ title, body, confirm = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const close = (answer) => {
      overlay.remove();
      document.removeEventListener("keydown", onKey);
      resolve(answer);
    };
    const onKey = (e) => {
      if (e.key === "Escape") close(false);
    };
    const ok = h(`button.btn${danger ? ".danger" : ".primary"}`, { onclick: () => close(true) }, confirm);
    const overlay = h(
      "div.overlay",
      { onclick: (e) => e.target === overlay && close(false) },
      h(
        "div.dialog",
        { role: "dialog", "aria-modal": "true", "aria-label": title },
        h("h2", title),
        h("p", body),
        h("div.dialog-actions", h("button.btn", { onclick: () => close(false) }, "Cancel"), ok),
      ),
    );
    document.addEventListener("keydown", onKey);
    document.body.append(overlay);
    ok.focus();
  });
}

/** A short message at the bottom of the window. */
export function toast(text, kind = "info") {
  const el = h(`div.toast.${kind}`, { role: "status" }, text);
  document.body.append(el);
  setTimeout(() => el.remove(), 4000);
}
