// The app shell: login, the header, and the hash router that mounts one page at a time.
//
// Routes (the part after "#"):
//   /nodes                  every node with its capacity and load
//   /deployments            every deployment, filterable
//   /new                    create a deployment
//   /d/<name>               one deployment: instances, events, logs, actions
//   /d/<name>/edit          change its spec
//   /experiments            every experiment
//   /x/<name>               one experiment: its processes by group, nodes, ports, states
//   token=<token>           log in with this token (what `symphony up` prints), then /nodes

import { clearToken, getToken, onUnauthorized, setToken, tokenWorks } from "./api.js";
import { mountDeployment } from "./deployment.js";
import { mountDeployments } from "./deployments.js";
import { mountExperiment, mountExperiments } from "./experiments.js";
import { fill, h } from "./dom.js";
import { mountForm } from "./form.js";
import { mountNodes } from "./nodes.js";
import { startLive, stopLive, store, subscribe } from "./store.js";

const root = document.getElementById("app");
let unmount = null; // the current page's cleanup
let shell = null; // {main, status, links} once logged in
let shownPath = null; // the route of the page shown

const routes = [
  [/^\/nodes$/, (main) => mountNodes(main)],
  [/^\/deployments$/, (main) => mountDeployments(main)],
  [/^\/new$/, (main) => mountForm(main, null)],
  [/^\/d\/([^/]+)\/edit$/, (main, id) => mountForm(main, decoded(id))],
  [/^\/d\/([^/]+)$/, (main, id) => mountDeployment(main, decoded(id))],
  [/^\/experiments$/, (main) => mountExperiments(main)],
  [/^\/x\/([^/]+)$/, (main, name) => mountExperiment(main, decoded(name))],
];

/** A name from the address; one typed by hand may hold a "%" that decodes to nothing. */
function decoded(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return part; // shown as typed: "No deployment named 50%off."
  }
}

function route() {
  if (!getToken()) return showLogin();
  if (!shell) buildShell();
  // A page may keep its own state after a "?" (the deployments' filter): not the route.
  const path = location.hash.replace(/^#/, "").split("?")[0] || "/nodes";
  if (unmount) unmount();
  unmount = null;
  for (const [pattern, mount] of routes) {
    const match = path.match(pattern);
    if (match) {
      for (const [name, link] of Object.entries(shell.links)) {
        const owned = (name === "deployments" && /^\/(d|new)/.test(path)) || (name === "experiments" && /^\/x\//.test(path));
        link.classList.toggle("active", path.startsWith(`/${name}`) || owned);
      }
      fill(shell.main);
      unmount = mount(shell.main, ...match.slice(1)) || null;
      // Another page starts at its top, not where the last one was scrolled to (a link
      // at the bottom of the list would open a deployment at its logs).
      if (path !== shownPath) window.scrollTo(0, 0);
      shownPath = path;
      return;
    }
  }
  location.hash = "#/nodes";
}

function buildShell() {
  const status = h("span.live-status.connecting", { title: "live updates from the Conductor" }, "connecting");
  const links = {
    nodes: h("a", { href: "#/nodes" }, "Nodes"),
    deployments: h("a", { href: "#/deployments" }, "Deployments"),
    experiments: h("a", { href: "#/experiments" }, "Experiments"),
  };
  const main = h("main#main");
  fill(
    root,
    h(
      "header.topbar",
      h("a.brand", { href: "#/nodes" }, h("span.logo", { "aria-hidden": "true" }), h("span.brand-name", "Symphony")),
      h("nav", links.nodes, links.deployments, links.experiments),
      h("div.spacer"),
      status,
      h("button.btn.ghost#logout", { onclick: () => logout(null) }, "Log out"),
    ),
    main,
  );
  subscribe((type, data) => {
    if (type === "status") {
      status.className = `live-status ${data.status}`;
      status.textContent = data.status === "live" ? "live" : "reconnecting…";
    }
  });
  shell = { main, status, links };
  startLive();
}

function logout(message) {
  clearToken();
  stopLive();
  if (unmount) unmount();
  unmount = null;
  shell = null;
  showLogin(message);
}

function showLogin(message = null) {
  const input = h("input#token", {
    type: "password",
    name: "token",
    autocomplete: "current-password",
    placeholder: "API token",
    required: true,
  });
  const error = h("p.login-error", { role: "alert" }, message || "");
  const submit = h("button.btn.primary", { type: "submit" }, "Log in");
  const form = h(
    "form.login-card",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        submit.disabled = true;
        const token = input.value.trim();
        try {
          if (await tokenWorks(token)) {
            setToken(token);
            route();
          } else error.textContent = "The Conductor refused this token.";
        } catch (err) {
          error.textContent = `Cannot reach the Conductor: ${err.message}`;
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("div.brand.big", h("span.logo", { "aria-hidden": "true" }), "Symphony"),
    h("label", { for: "token" }, "API token"),
    input,
    h("p.hint", "The Conductor wrote it to <state dir>/api-token; `symphony up` prints a link that logs in directly."),
    error,
    submit,
  );
  fill(root, h("div.login", form));
  input.focus();
}

onUnauthorized(() => {
  if (getToken()) logout("The Conductor refused the token (401). Log in again.");
});

// A "#token=..." fragment logs in directly; the fragment never reaches a server, and
// it is removed from the address bar at once so it does not linger in the history.
const fragment = location.hash.match(/^#token=([^&]+)/);
if (fragment) {
  setToken(decodeURIComponent(fragment[1]));
  history.replaceState(null, "", `${location.pathname}#/nodes`);
}
window.addEventListener("hashchange", route);
route();

// Exposed for debugging in the browser console.
window.symphony = { store };
