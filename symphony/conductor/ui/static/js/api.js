// The API as the pages see it: the token, JSON requests, and the live change stream.
//
// The token lives in sessionStorage: it survives a reload of the tab but not the tab
// itself, and other sites cannot read it. Every request carries it as a Bearer header;
// any 401 sends the user back to the login screen (see onUnauthorized).

const TOKEN_KEY = "symphony.token";

let unauthorizedHandler = () => {};

/** Register what to do when the API answers 401 (the app shows the login screen). */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Whether the Conductor accepts `token` (rejects when it cannot be reached). */
export async function tokenWorks(token) {
  const response = await fetch("/nodes", { headers: { Authorization: `Bearer ${token}` } });
  if (response.status === 401) return false;
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return true;
}

/** An API error: `status`, the short `error` and its `detail` (a 422 lists fields). */
export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && body.detail;
    const text = typeof detail === "string" ? detail : (body && body.error) || `HTTP ${status}`;
    super(text);
    this.status = status;
    this.error = body && body.error;
    this.detail = detail;
  }
}

function headers(extra = {}) {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}`, ...extra } : extra;
}

async function check(response) {
  if (response.status === 401) {
    unauthorizedHandler();
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null; // not JSON (a proxy's page): the status says enough
    }
    throw new ApiError(response.status, body);
  }
  return response;
}

/** A JSON request; resolves to the parsed body, rejects with ApiError. */
export async function request(method, path, body) {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers = headers({ "Content-Type": "application/json" });
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await check(await reach(path, init));
  return response.status === 204 ? null : response.json();
}

/**
 * fetch(), with a failure to reach the Conductor (stopped, restarting, the network)
 * said as such: the browser's own words ("Failed to fetch") were all a toast showed.
 */
async function reach(path, init) {
  try {
    return await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new Error(`Cannot reach the Conductor (${error.message}): try again when it is back`);
  }
}

export const api = {
  nodes: () => request("GET", "/nodes"),
  states: () => request("GET", "/states"),
  deployments: () => request("GET", "/deployments"),
  deployment: (id) => request("GET", `/deployments/${encodeURIComponent(id)}`),
  create: (spec) => request("POST", "/deployments", spec),
  patch: (id, patch) => request("PATCH", `/deployments/${encodeURIComponent(id)}`, patch),
  remove: (id) => request("DELETE", `/deployments/${encodeURIComponent(id)}`),
  versions: (id) => request("GET", `/deployments/${encodeURIComponent(id)}/versions`),
  promote: (id) => request("POST", `/deployments/${encodeURIComponent(id)}/promote`),
  rollback: (id, version) => request("POST", `/deployments/${encodeURIComponent(id)}/rollback`, { version }),
  restart: (id) => request("POST", `/deployments/${encodeURIComponent(id)}/restart`),
  drain: (nodeId) => request("POST", `/nodes/${encodeURIComponent(nodeId)}/drain`),
  undrain: (nodeId) => request("POST", `/nodes/${encodeURIComponent(nodeId)}/undrain`),
  experiments: () => request("GET", "/experiments"),
  experiment: (name) => request("GET", `/experiments/${encodeURIComponent(name)}`),
  patchExperiment: (name, patch) => request("PATCH", `/experiments/${encodeURIComponent(name)}`, patch),
  removeExperiment: (name) => request("DELETE", `/experiments/${encodeURIComponent(name)}`),
  runs: (id) => request("GET", `/deployments/${encodeURIComponent(id)}/runs`),
  events: (id, after = 0, limit = 1000) =>
    request("GET", `/deployments/${encodeURIComponent(id)}/events?after=${after}&limit=${limit}`),
};

/**
 * Read a streamed response line by line until it ends or `signal` aborts.
 * `onText` receives decoded text as it arrives (possibly partial lines).
 */
export async function streamText(path, { signal, onText }) {
  const response = await check(await fetch(path, { headers: headers(), signal }));
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    onText(decoder.decode(value, { stream: true }));
  }
  onText(decoder.decode());
}

/**
 * Follow GET /live?view=summary (Server-Sent Events over fetch, so the token goes in a
 * header): every deployment without its spec, which a page that shows one reads itself.
 * Calls `onMessage(type, data)` per message and `onStatus("live" | "offline")`;
 * reconnects with a growing delay (1 s doubling to 10 s) until `stop()` is called.
 */
export function followLive({ onMessage, onStatus }) {
  let controller = null;
  let stopped = false;
  let delay = 1000;

  async function connect() {
    while (!stopped) {
      controller = new AbortController();
      let buffer = "";
      try {
        await streamText("/live?view=summary", {
          signal: controller.signal,
          onText: (text) => {
            buffer += text;
            let end;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const message = parseSse(block);
              if (message) {
                delay = 1000; // a working stream resets the backoff
                onStatus("live");
                onMessage(message.type, message.data);
              }
            }
          },
        });
      } catch (error) {
        if (stopped || (error instanceof ApiError && error.status === 401)) return;
      }
      if (stopped) return;
      onStatus("offline");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 10000);
    }
  }

  connect();
  return {
    stop() {
      stopped = true;
      if (controller) controller.abort();
    },
  };
}

function parseSse(block) {
  let type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue; // a comment (keepalive)
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (!data.length) return null;
  return { type, data: JSON.parse(data.join("\n")) };
}
