"""The ``/docs`` page: a small, self-contained API explorer (nothing fetched from outside).

It reads ``/openapi.json`` with the token typed into the page (kept in the browser's
``sessionStorage`` only), lists every operation with its parameters, and can send a
request and show the answer.
"""

DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Symphony API</title>
<style>
 body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:980px;padding:1rem;color:#222}
 h1{font-size:1.4rem} code,pre,input,textarea{font-family:ui-monospace,monospace;font-size:13px}
 details{border:1px solid #ccd;border-radius:6px;margin:.4rem 0;padding:.3rem .6rem}
 summary{cursor:pointer} .m{display:inline-block;width:4.2rem;font-weight:700}
 .get{color:#0a6} .post{color:#06c} .patch{color:#b70} .delete{color:#c22}
 pre{background:#f4f4f8;padding:.5rem;overflow:auto;max-height:24rem}
 textarea{width:100%;height:7rem} label{display:block;margin:.2rem 0} #err{color:#c22}
</style></head><body>
<h1>Symphony Conductor API</h1>
<p>Every route but <code>/healthz</code> and this page wants the API token (the file
<code>api-token</code> in the Conductor's state directory).
<label>Token <input id="token" size="50" type="password" autocomplete="off"></label>
<button id="load">Load the API description</button> <span id="err"></span></p>
<div id="ops"></div>
<script>
"use strict";
const $ = (s, e = document) => e.querySelector(s);
const tokenBox = $("#token");
tokenBox.value = sessionStorage.getItem("symphony-token") || "";
function headers() {
  const t = tokenBox.value.trim();
  sessionStorage.setItem("symphony-token", t);
  return t ? {"Authorization": "Bearer " + t} : {};
}
function el(tag, attrs = {}, text = "") {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}
async function send(method, path, form, out) {
  let url = path, query = new URLSearchParams(), body;
  for (const input of form.querySelectorAll("input[data-in]")) {
    if (!input.value) continue;
    if (input.dataset.in === "path") url = url.replace("{" + input.name + "}",
                                                       encodeURIComponent(input.value));
    else query.append(input.name, input.value);
  }
  const q = query.toString();
  const init = {method, headers: headers()};
  const text = form.querySelector("textarea");
  if (text && text.value.trim()) {
    init.body = text.value; init.headers["Content-Type"] = "application/json";
  }
  out.textContent = "...";
  try {
    const r = await fetch(url + (q ? "?" + q : ""), init);
    const type = r.headers.get("Content-Type") || "";
    let shown = await r.text();
    if (type.includes("json")) { try { shown = JSON.stringify(JSON.parse(shown), null, 2); }
                                 catch (e) {} }
    out.textContent = r.status + " " + r.statusText + "\\n\\n" + shown;
  } catch (e) { out.textContent = String(e); }
}
function render(doc) {
  const ops = $("#ops"); ops.textContent = "";
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of ["get", "post", "patch", "delete"]) {
      const op = item[method]; if (!op) continue;
      const box = el("details"), sum = el("summary");
      sum.append(el("span", {class: "m " + method}, method.toUpperCase()),
                 el("code", {}, path), " \\u2014 " + (op.summary || ""));
      box.append(sum);
      const form = el("form");
      for (const p of [...(item.parameters || []), ...(op.parameters || [])]) {
        const label = el("label", {}, p.name + " (" + p.in + ") ");
        label.append(el("input", {name: p.name, "data-in": p.in,
                                  placeholder: p.description || ""}));
        form.append(label);
      }
      if (op.requestBody) form.append(el("textarea", {placeholder: "JSON body"}));
      const go = el("button", {type: "submit"}, "Send"), out = el("pre");
      form.append(go);
      form.addEventListener("submit", (ev) => { ev.preventDefault();
                                                send(method.toUpperCase(), path, form, out); });
      box.append(form, out, el("pre", {}, JSON.stringify(op.responses, null, 1)));
      ops.append(box);
    }
  }
}
async function load() {
  $("#err").textContent = "";
  const r = await fetch("/openapi.json", {headers: headers()});
  if (!r.ok) { $("#err").textContent = r.status + ": " + (await r.text()); return; }
  render(await r.json());
}
$("#load").addEventListener("click", load);
if (tokenBox.value) load();
</script></body></html>
"""
