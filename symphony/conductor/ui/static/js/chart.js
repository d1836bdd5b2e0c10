// A small SVG chart of one-minute buckets: an area under a line (or bars, for counts),
// with the value axis, the time axis and the current value. No library, no network.
//
//   chart({ title: "CPU", points: [{ t, v }], from, to, format: (v) => `${v} %` })
//
// `t` is a bucket's start (Unix seconds), `from`/`to` the time axis (the last hour).
// The value axis goes from 0 to `max`, or to a round number above the largest point
// (at least `floor`). The caption shows `current` (else the newest point) or `valueText`.
// Minutes without a point leave a gap in the line: unknown is not zero.

const NS = "http://www.w3.org/2000/svg";
const NARROW = 320; // the drawing's own units; the SVG scales to its box (viewBox),
const WIDE = 720; // so a chart across a whole card is drawn wider, not taller
const H = 110;
const PAD = { left: 44, right: 8, top: 8, bottom: 18 };

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, value);
  for (const child of children) el.append(child);
  return el;
}

/** A round upper bound for the value axis: 1, 2 or 5 times a power of ten. */
export function niceMax(value, floor = 1) {
  const v = Math.max(value, floor);
  const power = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 5, 10]) if (v <= step * power) return step * power;
  return 10 * power;
}

function hhmm(epoch) {
  return new Date(epoch * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
}

/**
 * The chart as a <figure class="chart">: a caption with the title and current value,
 * then the SVG (data-points says how many buckets it draws, for tests and tools).
 */
export function chart({ title, points, from, to, format, bucket = 60, floor = 1, max, bars = false, wide = false, current, valueText }) {
  const W = wide ? WIDE : NARROW;
  const inner = { w: W - PAD.left - PAD.right, h: H - PAD.top - PAD.bottom };
  const span = Math.max(to - from, bucket);
  const top = max > 0 ? max : niceMax(Math.max(0, ...points.map((p) => p.v)), floor);
  const x = (t) => PAD.left + ((t - from) / span) * inner.w;
  const y = (v) => PAD.top + inner.h - (Math.min(top, Math.max(0, v)) / top) * inner.h;
  const base = PAD.top + inner.h;
  const shown = points.filter((p) => p.t >= from && p.t <= to);

  const picture = svg("svg", {
    class: "chart-svg",
    viewBox: `0 0 ${W} ${H}`,
    role: "img",
    "aria-label": `${title}, last hour`,
    "data-points": String(shown.length),
  });
  // Grid and value axis: 0, half and the top.
  for (const v of [0, top / 2, top]) {
    picture.append(svg("line", { class: "chart-grid", x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }));
    const label = svg("text", { class: "chart-axis", x: PAD.left - 4, y: y(v) + 3, "text-anchor": "end" });
    label.textContent = format(v);
    picture.append(label);
  }
  // Time axis: the hour's start, its middle and its end.
  for (const [t, anchor] of [[from, "start"], [from + span / 2, "middle"], [to, "end"]]) {
    const label = svg("text", { class: "chart-axis", x: x(t), y: H - 4, "text-anchor": anchor });
    label.textContent = hhmm(t);
    picture.append(label);
  }
  if (bars) {
    const width = Math.max(1, (bucket / span) * inner.w - 1);
    for (const p of shown) {
      if (p.v <= 0) continue;
      const bar = svg("rect", { class: "chart-bar", x: x(p.t), y: y(p.v), width, height: base - y(p.v) });
      bar.append(svg("title", {}, `${hhmm(p.t)}: ${format(p.v)}`));
      picture.append(bar);
    }
  } else {
    for (const run of runs(shown, bucket)) {
      // A point sits in the middle of its minute.
      const xy = run.map((p) => [x(p.t + bucket / 2), y(p.v)]);
      const line = xy.map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join("");
      const [x0] = xy[0];
      const [x1] = xy[xy.length - 1];
      picture.append(svg("path", { class: "chart-area", d: `${line}L${x1.toFixed(1)},${base}L${x0.toFixed(1)},${base}Z` }));
      picture.append(svg("path", { class: "chart-line", d: line }));
      if (run.length === 1) picture.append(svg("circle", { class: "chart-dot", cx: x0, cy: xy[0][1], r: 2 }));
    }
    const last = shown[shown.length - 1];
    if (last) picture.append(svg("circle", { class: "chart-dot", cx: x(last.t + bucket / 2), cy: y(last.v), r: 2.5 }));
  }
  const now = current ?? (shown.length ? shown[shown.length - 1].v : null);
  const figure = document.createElement("figure");
  figure.className = "chart";
  const caption = document.createElement("figcaption");
  const name = document.createElement("span");
  name.className = "chart-title";
  name.textContent = title;
  const value = document.createElement("span");
  value.className = "chart-value";
  value.textContent = valueText ?? (now === null || now === undefined ? "no data yet" : format(now));
  caption.append(name, value);
  figure.append(caption, picture);
  return figure;
}

/** Consecutive points (one bucket apart) as separate runs, so gaps stay gaps. */
function runs(points, bucket) {
  const out = [];
  for (const p of points) {
    const run = out[out.length - 1];
    if (run && p.t - run[run.length - 1].t <= bucket) run.push(p);
    else out.push([p]);
  }
  return out;
}
