// livefeed readers: "12,431 reading now" on <livefeed-column show-readers> (off by default),
// and the tabs a page's leader tab serves, told to the push service (docs/stream.md).
// The count is the feed's public total (GET /v1/audience/count, served with
// LIVEFEED_AUDIENCE_PUBLIC), fetched every READERS_MS while the page is visible; a column
// without the attribute fetches nothing.

import { el } from "./core.js";

const READERS_MS = 10000;
// Followers say "here" this often; the leader recounts as often.
const TABS_MS = 10000;

/** The count beside the connection state while `show-readers` is set (column.js calls this). */
export function readersBind(col) {
  clearTimeout(col.readersTimer);
  if (col.readersEl) col.readersEl.remove();
  if (!col.live || !col.hasAttribute("show-readers")) return;
  const node = col.readersEl = el("span", "readers", "", "readers");
  col.conn.after(node);
  const poll = () => {
    if (!col.isConnected) return;
    if (!document.hidden) {
      fetch(new URL("audience/count", col.cfg.timeline), { credentials: "omit" }).then((r) => {
        if (r.status === 404) clearTimeout(col.readersTimer); // the feed publishes no count
        return r.json();
      }).then((b) => {
        if (Number.isInteger(b.readers)) node.textContent = col.words.n("{count} reading now", b.readers);
      }, () => {});
    }
    col.readersTimer = setTimeout(poll, READERS_MS);
  };
  poll();
}

/** The tabs this page's connection serves: its own and the followers heard from lately. */
export function tabsServed(hub) {
  const seen = hub.seen || new Map();
  for (const [tab, at] of seen) if (Date.now() - at > 2.5 * TABS_MS) seen.delete(tab);
  return Math.min(1000, 1 + seen.size);
}

/** Another tab's "here" (its "sync" counts too) or "bye"; true when it was one of these. */
export function tabsPeer(hub, d) {
  const seen = hub.seen ||= new Map();
  if (d.t === "bye") seen.delete(d.tab); else if (d.t === "here" || d.t === "sync") seen.set(d.tab, Date.now());
  return d.t === "here" || d.t === "bye";
}

/** Followers say "here" every TABS_MS and "bye" as they go; the leader recounts as often and,
 * on a WebSocket, tells the push service when the number changed (SSE: at its next connection,
 * in ?tabs=). */
export function tabsStart(hub) {
  hub.bye = () => hub.post({ t: "bye", tab: hub.tab });
  addEventListener("pagehide", hub.bye);
  hub.tabsTimer = setInterval(() => {
    const conn = hub.conn, tabs = tabsServed(hub);
    if (!hub.leader) hub.post({ t: "here", tab: hub.tab });
    else if (conn && conn.t && conn.t.send && tabs !== conn.tabs && conn.t.send(`{"type":"tabs","tabs":${tabs}}`)) conn.tabs = tabs;
  }, TABS_MS);
}
