// One deployment's spec, read when a page needs it.
//
// The live feed (store.js) holds every deployment as a summary, without its spec: with
// thousands of deployments the specs would be most of what the browser receives and
// keeps, and only one deployment's page shows one. That page reads the whole deployment
// (GET /deployments/{id}) when it opens, and again when the feed's summary shows a
// newer `generation` than the one read: every write of the spec moves it.

import { api } from "./api.js";
import { store } from "./store.js";

/**
 * Follow the spec of `idOrName`; `onChange()` is called whenever `full` or `error`
 * changes. Call `check()` after a live change (it reads again if the spec moved),
 * `retry()` from an error state, `close()` when the page goes.
 *
 * `full` is the last deployment read (with `spec`), `error` the last read's error (an
 * ApiError: `status` 404 when there is no such deployment), `loading` whether a read
 * is under way.
 */
export function specReader(idOrName, onChange) {
  const reader = {
    full: null,
    error: null,
    loading: false,
    check,
    retry,
    close() {
      closed = true;
    },
  };
  let closed = false;
  let tried = -1; // the summary generation the last read was made for (never twice)

  /** The generation the live summary shows, or 0 while the feed has not got it. */
  function liveGeneration() {
    const d = store.find(idOrName);
    return d ? d.generation : 0;
  }

  function check() {
    if (closed) return;
    const d = store.find(idOrName);
    // A full deployment the page put in the store itself (the answer to its own change)
    // is as good as a read: no request.
    if (d && d.spec && (!reader.full || d.generation >= reader.full.generation)) {
      if (reader.full !== d || reader.error) {
        reader.full = d;
        reader.error = null;
        onChange();
      }
      return;
    }
    const wanted = liveGeneration();
    const stale = !reader.full || wanted > reader.full.generation;
    if (stale && wanted > tried && !reader.loading) read(wanted);
  }

  function retry() {
    tried = -1;
    check();
  }

  async function read(wanted) {
    tried = wanted;
    reader.loading = true;
    onChange();
    try {
      const d = await api.deployment(idOrName);
      if (closed) return;
      if (!reader.full || d.generation >= reader.full.generation) reader.full = d;
      reader.error = null;
    } catch (error) {
      if (closed) return;
      reader.error = error;
    } finally {
      reader.loading = false;
    }
    onChange();
    check(); // the spec may have moved again while this read was under way
  }

  return reader;
}
