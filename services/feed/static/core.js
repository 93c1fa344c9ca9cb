// livefeed core: what every reader of the column shares, once. Event ids and ordering, the
// words (the server's messages blob) and dates (Intl, in the column's locale), the connection
// (WebSocket, SSE when that fails, full-jitter backoff) and the hub that gives all columns of
// a page, and all tabs of a site, one connection. No framework, no dependencies, no tables of
// words: every string comes from the server (shared.i18n.client_messages).

import { tabsPeer, tabsServed, tabsStart } from "./readers.js";

export const MAX_CHANGES = 5000; // articles whose last change is remembered, to drop repeats
export const ANNOUNCE_QUIET_MS = 800;
const KINDS = ["hello", "published", "updated", "corrected", "retracted", "reset", "summary"];
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30000;
const WS_FAILURES_BEFORE_SSE = 2;
const RING = 500; // events each tab keeps so a peer that lags can catch up from it
const SYNC_WAIT_MS = 1500;
const SERVER = /*@server*/ null; // the URLs and zone, filled in by the feed service (column.py)

function parseId(raw) {
  const m = /^(\d+)-(\d+)$/.exec(raw || "");
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** Event ids order as Redis orders them; a missing id is older than any. */
export function compareIds(a, b) {
  const x = parseId(a), y = parseId(b);
  if (!x || !y) return x ? 1 : y ? -1 : 0;
  return x[0] - y[0] || x[1] - y[1];
}

/** Sort key, newest first as the server pages: published time, then id, both descending. */
export const keyOf = (published, id) => [Date.parse(published), id];
export const newer = (a, b) => (a[0] !== b[0] ? a[0] > b[0] : a[1] > b[1]);
export const keyOfEl = (art) => keyOf(art.dataset.published, art.dataset.id);

/** `zone`'s offset from UTC at `when`, after "GMT": "+03:00" ("longOffset"), "+3" or "+5:30"
 * ("shortOffset"); "" for UTC itself. */
export function offsetIn(when, zone, style = "longOffset") {
  const parts = new Intl.DateTimeFormat("en", { timeZone: zone, timeZoneName: style }).formatToParts(when);
  const found = parts.find((p) => p.type === "timeZoneName");
  return found ? found.value.slice(3) : "";
}

export function el(tag, className, text, part) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  if (part) node.setAttribute("part", part);
  return node;
}

/** "{count} new headlines" with its values filled in (unknown names stay as written). */
function fill(text, values) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (Object.hasOwn(values, name) ? String(values[name]) : whole));
}

/** The column's language: its words from the server, its dates and plurals from Intl (CLDR).
 * `blob` is shared.i18n.client_messages(lang): {lang, dir, locale, messages, plurals, formats,
 * labels}. Dates follow the catalog's CLDR patterns (`formats`), the ones the server formats
 * with (Babel), each field's name or number from Intl in `locale`: a day header written here
 * reads exactly as the server's. */
export class Words {
  constructor(blob, lang) {
    const b = blob || {};
    this.messages = b.messages || {};
    this.plurals = b.plurals || {};
    this.labels = b.labels || {};
    this.formats = b.formats || {};
    this.dir = b.dir || "";
    this.locale = b.locale || b.lang || lang || undefined;
    this.rules = new Intl.PluralRules(this.locale);
    this.number = new Intl.NumberFormat(this.locale);
  }

  /** The message `id` (its English text) in the column's language. */
  t(id, values = {}) {
    return fill(Object.hasOwn(this.messages, id) ? this.messages[id] : id, values);
  }

  /** The plural message keyed by its English singular, in the form CLDR picks for `count`. */
  n(id, count, values = {}) {
    const forms = this.plurals[id] || {};
    const text = forms[this.rules.select(count)] || forms.other || id;
    return fill(text, { ...values, count: this.number.format(count) });
  }

  label(name) {
    return Object.hasOwn(this.labels, name) ? this.labels[name] : name.charAt(0).toUpperCase() + name.slice(1);
  }

  /** One field of `when` as Intl writes it in `options` (a month from a day-and-month format:
   * the form a date takes, "жовтня", not the standalone "жовтень"). */
  part(type, options, when, zone) {
    const parts = new Intl.DateTimeFormat(this.locale, { ...options, timeZone: zone }).formatToParts(when);
    const found = parts.find((p) => p.type === type);
    return found ? found.value : "";
  }

  /** `when` in the CLDR pattern `name` of the blob ("y, EEEE", "d MMMM", "HH:mm"): letters
   * are fields, quoted text and everything else is kept as written. */
  pattern(name, when, zone) {
    const source = this.formats[name];
    if (!source) return new Intl.DateTimeFormat(this.locale, { dateStyle: "full", timeZone: zone }).format(when);
    // Numbers as digits (the locale has Latin digits, as Babel writes them), padded to the run.
    const num = (type, options, width) => {
      const value = String(Number.parseInt(this.part(type, options, when, zone), 10));
      return width === 2 && type === "year" ? value.slice(-2) : value.padStart(width, "0");
    };
    return source.replace(/'([^']*)'|([A-Za-z])\2*/g, (run, quoted, letter) => {
      if (quoted !== undefined) return quoted || "'";
      const width = run.length, long = width >= 4 ? "long" : "short";
      switch (letter) {
        case "y": return num("year", { year: "numeric" }, width);
        case "E": case "c": return this.part("weekday", { weekday: long }, when, zone);
        case "d": return num("day", { day: "numeric" }, width);
        case "M": return width >= 3 ? this.part("month", { day: "numeric", month: long }, when, zone)
          : num("month", { month: "numeric" }, width);
        case "L": return width >= 3 ? this.part("month", { month: long }, when, zone)
          : num("month", { month: "numeric" }, width);
        case "H": return num("hour", { hour: "numeric", hourCycle: "h23" }, width);
        case "m": return num("minute", { hour: "numeric", minute: "numeric" }, width);
        default: return run;
      }
    });
  }

  /** A day's header in two lines: ["2024, Thursday", "24 October"] (`date` is YYYY-MM-DD). */
  day(date) {
    const noon = new Date(`${date}T12:00:00Z`);
    return [this.pattern("day_heading", noon, "UTC"), this.pattern("day_date", noon, "UTC")];
  }

  /** "19:31" in the newsroom's zone. */
  clock(iso, zone) {
    return this.pattern("time", new Date(iso), zone);
  }

  /** "Thursday 24 October 2024, 19:31 (UTC+03:00, Europe/Kyiv)": the time's whole context,
   * as the server writes it (column.py full_time). */
  fullTime(iso, zone) {
    const when = new Date(iso);
    if (!/(Z|[+-]\d{2}:\d{2})$/.test(iso || "") || Number.isNaN(when.getTime())) return iso || "";
    return `${this.pattern("full", when, zone)} (UTC${offsetIn(when, zone) || "+00:00"}, ${zone})`;
  }
}

// A column's fragment could not be fetched (a TypeError: no answer CORS lets us read). The page
// cannot tell a refused origin from a network failure, so ask the same URL again without CORS:
// an (opaque) answer means the server is up and answered, so it refused this page's origin.
// One probe (and one warning) per page and feed server, whatever the number of columns.
const refusals = new Map();
export function refused(url) {
  if (!refusals.has(url.origin)) {
    refusals.set(url.origin, fetch(url, { mode: "no-cors", credentials: "omit", cache: "no-store" }).then(() => {
      console.warn(`livefeed: ${location.origin} is not allowed to embed this column: add it to LIVEFEED_EMBED_ORIGINS on the livefeed server (${url.origin})`);
      return true;
    }, () => { refusals.delete(url.origin); return false; })); // no answer: the network, not the origin
  }
  return refusals.get(url.origin);
}

// -- what every element (column, teaser) shares: its stream, its filter, its shadow root -------

/** The edition an element asks for (`lang="uk-UA"`: "uk"), or "" for every language. */
export const editionOf = (node) => (node.getAttribute("lang") || "").split("-")[0].toLowerCase();

/** An element's URLs and zone: its data-* (the server's markup) over the module's SERVER.
 * An edition's elements share one stream of that edition (a hub per stream URL). */
function cfgOf(node) {
  const d = node.dataset, s = SERVER || {}, lang = editionOf(node);
  const stream = (base) => {
    if (!lang || !base) return base;
    const url = new URL(base, import.meta.url);
    url.searchParams.set("lang", lang);
    return url.href;
  };
  return { push: stream(d.pushUrl || s.push), sse: stream(d.sseUrl || s.sse),
    timeline: d.timelineUrl || s.timeline, fragment: d.fragmentUrl || s.fragment, zone: d.timezone || s.zone };
}

/** An element's filter: its section, label (lowercased as stored) and edition. */
export const filterOf = (node) => ({ section: node.getAttribute("section") || "",
  label: (node.getAttribute("label") || "").toLowerCase(), lang: editionOf(node) });

/** Whether headline `h` belongs under `filter`. The stream of an edition sends its articles
 * only; one naming another language never shows. */
export function matchesFilter(filter, h) {
  const { section, label, lang } = filter;
  const other = lang && typeof h.language === "string" && h.language.split("-")[0].toLowerCase() !== lang;
  return !other && (!section || h.section === section) && (!label || (h.labels || []).includes(label));
}

const sheets = new Map();
/** `css` as one constructed sheet for every shadow root that uses it (null where unsupported). */
function adoptable(css) {
  if (!sheets.has(css)) {
    let sheet = null;
    try {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
    } catch (error) { sheet = null; }
    sheets.set(css, sheet);
  }
  return sheets.get(css);
}

/** One request: the fragment at `url`, whose element's template becomes `node`'s shadow root
 * (returned). Its data-* and direction come along (unless the page set its own); its style is
 * adopted from `css` where the browser can (no inline style for the host's CSP to refuse). */
export async function loadFragment(node, url, fresh, css) {
  const response = await fetch(url, { cache: fresh ? "no-cache" : "default", credentials: "omit" });
  if (!response.ok) throw new Error(`fragment answered ${response.status}`);
  const doc = new DOMParser().parseFromString(await response.text(), "text/html");
  const host = doc.querySelector(node.localName);
  const template = host && host.querySelector("template");
  if (!template) throw new Error("not a livefeed fragment");
  for (const name of ["eventId", "next", "pushUrl", "sseUrl", "timelineUrl", "fragmentUrl", "timezone", "newer", "pageHref"]) {
    if (host.dataset[name] !== undefined) node.dataset[name] = host.dataset[name];
  }
  // The language's direction, as the server rendered it, unless the host page set its own.
  if (node.ownDir === undefined) node.ownDir = node.getAttribute("dir");
  if (!node.ownDir && host.getAttribute("dir")) node.setAttribute("dir", host.getAttribute("dir"));
  const content = document.importNode(template.content, true);
  const root = node.shadowRoot || node.attachShadow({ mode: "open" });
  const shared = adoptable(css);
  if (shared) {
    root.adoptedStyleSheets = [shared];
    for (const style of content.querySelectorAll("style")) style.remove();
  }
  root.replaceChildren(content);
  return root;
}

/** What every element (column, teaser) is: its server-rendered shadow root hydrated in place,
 * or its fragment fetched once, and its place on the page's hub. A subclass gives `shell` (the
 * selector of its markup's root), `css`, `cfg`, `fragmentUrl()` and `bind(root)`. */
export class LivefeedElement extends HTMLElement {
  connectedCallback() {
    if (this.ready) {
      if (this.root && this.live !== false) (this.hub = Hub.for(this.cfg)).add(this); // moved in the page
      return;
    }
    this.ready = true;
    const root = this.shadowRoot;
    if (root && root.querySelector(this.shell)) {
      this.bind(root); // server-side included: hydrate what is there, render nothing
    } else {
      this.load(false).catch((error) => this.fail(error));
    }
  }

  disconnectedCallback() {
    if (this.hub) this.hub.remove(this);
  }

  attributeChangedCallback(name, before, after) {
    if (!this.hub || before === after) return;
    if (name === "lang") { this.hub.remove(this); this.hub = null; } // another edition's stream
    this.reload().catch((error) => this.fail(error));
  }

  get cfg() {
    return cfgOf(this);
  }

  /** One request: the fragment, whose template becomes this element's shadow root. */
  async load(fresh) {
    this.bind(await loadFragment(this, this.fragmentUrl(), fresh, this.css));
  }

  /** A fresh fragment (after a reset, a gap or a new filter); the hub keeps this element. */
  async reload() {
    await this.load(true);
  }

  /** No fragment: data-error="true", or "origin" when the feed refused this site (the console
   * says which setting to change). */
  fail(error) {
    this.setAttribute("data-error", "true");
    if (!(error instanceof TypeError) || navigator.onLine === false) return;
    refused(this.fragmentUrl()).then((yes) => { if (yes) this.setAttribute("data-error", "origin"); });
  }
}

// -- the connection: one per tab when it leads, none when another tab does ---------------------

class Conn {
  constructor(hub) {
    this.hub = hub;
    this.t = null;
    this.attempt = 0;
    this.wsFailures = 0;
    this.useSse = !("WebSocket" in window) || !hub.cfg.push; // no WebSocket URL: SSE only
    this.timer = null;
  }

  url(base) {
    const url = new URL(base, location.href);
    if (this.hub.pos) url.searchParams.set("since", this.hub.pos);
    if ((this.tabs = tabsServed(this.hub)) > 1) url.searchParams.set("tabs", this.tabs); // readers.js
    return url;
  }

  connect() {
    clearTimeout(this.timer);
    this.drop();
    if (this.useSse) this.openSse(); else this.openWs();
  }

  drop() {
    const t = this.t;
    this.t = null;
    if (t) t.close();
  }

  close() {
    clearTimeout(this.timer);
    this.drop();
  }

  openWs() {
    let ws;
    try {
      ws = new WebSocket(this.url(this.hub.cfg.push));
    } catch (error) {
      this.wsFailures = WS_FAILURES_BEFORE_SSE;
      this.lost({ kind: "ws", hello: false });
      return;
    }
    const t = { kind: "ws", hello: false, send: (text) => ws.readyState === 1 && (ws.send(text), true),
      close: () => { ws.onclose = ws.onmessage = null; ws.close(); } };
    ws.onmessage = (event) => this.frame(JSON.parse(event.data), t);
    ws.onclose = () => { if (this.t === t) { this.t = null; this.lost(t); } };
    this.t = t;
  }

  openSse() {
    const es = new EventSource(this.url(this.hub.cfg.sse));
    const t = { kind: "sse", hello: false, close: () => es.close() };
    for (const kind of KINDS) es.addEventListener(kind, (e) => this.frame(JSON.parse(e.data), t));
    es.onerror = () => {
      if (this.t !== t) return;
      if (t.hello && es.readyState !== EventSource.CLOSED) {
        t.hello = false; // EventSource retries once by itself, with Last-Event-ID
        this.hub.setState(navigator.onLine === false ? "offline" : "reconnecting");
        return;
      }
      this.t = null;
      es.close();
      this.lost(t);
    };
    this.t = t;
  }

  lost(t) {
    if (t.kind === "ws" && !t.hello) {
      // Never got through: a proxy may block WebSockets. SSE is plain HTTP: try it.
      this.wsFailures += 1;
      if (this.wsFailures >= WS_FAILURES_BEFORE_SSE) this.useSse = true;
    } else if (t.kind === "sse" && "WebSocket" in window && this.hub.cfg.push) {
      // SSE failed as well: alternate, so whichever comes back first carries the stream.
      this.useSse = false;
      this.wsFailures = 0;
    }
    this.hub.setState(navigator.onLine === false ? "offline" : "reconnecting");
    // Full jitter: readers dropped together come back spread out.
    const cap = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), Math.random() * cap);
  }

  /** Back online or in view: a stream still working is live again, else connect now. */
  reconnectNow() {
    if (this.t && this.t.hello) { this.hub.setState("live"); return; }
    this.attempt = 0;
    this.connect();
  }

  frame(msg, t) {
    if (this.t !== t) return;
    if (msg.type === "hello") {
      t.hello = true;
      this.attempt = 0;
      if (t.kind === "ws") this.wsFailures = 0;
      this.hub.transport = t.kind;
      this.hub.setState("live");
    } else if (msg.type === "reset") {
      this.hub.reset(true);
    } else {
      this.hub.accept(msg, true);
    }
  }
}

// -- the hub: the columns of one page on one stream, shared with the site's other tabs --------

const hubs = new Map();
/** A stream's key: its WebSocket URL, or its SSE URL where there is none (behind a GRIP proxy). */
const streamKey = (cfg) => cfg.push || cfg.sse;

export class Hub {
  constructor(cfg) {
    this.cfg = cfg;
    this.name = `livefeed:${streamKey(cfg)}`;
    this.cols = new Set();
    this.pos = null; // newest event id this tab holds
    this.covered = null; // the ring holds every event after this one
    this.ring = [];
    this.state = "connecting";
    this.transport = "";
    this.tab = Math.random().toString(36).slice(2);
    this.shared = Boolean(navigator.locks && window.BroadcastChannel);
    this.leader = false;
    this.conn = null;
    this.syncing = false;
    this.waiting = [];
    this.started = false;
  }

  static for(cfg) {
    let hub = hubs.get(streamKey(cfg));
    if (!hub) hubs.set(streamKey(cfg), (hub = new Hub(cfg)));
    return hub;
  }

  add(col) {
    this.cols.add(col);
    col.dataset.connection = this.leader ? "leader" : "follower";
    col.setState(this.state, this.transport);
    if (!this.started) {
      this.pos = this.covered = col.lastId;
      queueMicrotask(() => this.start());
      return;
    }
    this.catchUp(col);
  }

  /** A column whose snapshot is older than this tab's position gets what it lacks. */
  catchUp(col) {
    if (this.resetting || compareIds(col.lastId, this.pos) >= 0) return;
    if (compareIds(col.lastId, this.covered) >= 0) {
      for (const msg of this.ring) col.receive(msg);
    } else if (this.leader && this.conn) {
      this.pos = this.covered = col.lastId; // resume further back: the server replays
      this.ring = [];
      this.conn.connect();
    } else {
      col.reload().catch(() => {});
    }
  }

  remove(col) {
    this.cols.delete(col);
    if (this.cols.size) return;
    this.stop();
    hubs.delete(streamKey(this.cfg));
  }

  start() {
    this.started = true;
    for (const col of this.cols) if (compareIds(col.lastId, this.pos) < 0) this.pos = this.covered = col.lastId;
    addEventListener("online", () => this.wake());
    addEventListener("offline", () => this.setState("offline"));
    document.addEventListener("visibilitychange", () => { if (!document.hidden) this.wake(); });
    if (!this.shared) { this.lead(); return; }
    this.bc = new BroadcastChannel(this.name);
    this.bc.onmessage = (event) => this.peer(event.data || {});
    tabsStart(this); // the tabs the leader serves (readers.js)
    // A frozen or hidden-away tab hands the connection over; it asks again when it is back.
    const away = () => this.stepDown();
    const back = () => { if (!this.leader) { this.elect(); this.sync(); } };
    document.addEventListener("freeze", away);
    document.addEventListener("resume", back);
    addEventListener("pagehide", away);
    addEventListener("pageshow", (event) => { if (event.persisted) back(); });
    this.elect();
    this.sync();
  }

  stop() {
    this.closed = true;
    clearInterval(this.tabsTimer); // readers.js
    removeEventListener("pagehide", this.bye);
    this.stepDown();
    if (this.bc) this.bc.close();
  }

  elect() {
    if (this.electing || this.leader) return;
    this.electing = new AbortController();
    navigator.locks.request(this.name, { signal: this.electing.signal }, () => new Promise((release) => {
      this.electing = null;
      this.release = release;
      this.lead();
    })).catch(() => { this.electing = null; });
  }

  stepDown() {
    if (this.electing) this.electing.abort();
    this.electing = null;
    if (!this.leader) return;
    this.leader = false;
    this.mark();
    this.conn.close();
    this.conn = null;
    this.release();
  }

  lead() {
    this.leader = true;
    this.mark();
    this.endSync();
    this.conn = new Conn(this);
    this.conn.connect();
    this.post({ t: "leader", tab: this.tab });
  }

  /** data-connection on each column: "leader" holds the connection, "follower" listens. */
  mark() {
    for (const col of this.cols) col.dataset.connection = this.leader ? "leader" : "follower";
  }

  wake() {
    if (this.closed || this.state === "live") return;
    if (this.conn) this.conn.reconnectNow(); else this.post({ t: "poke" });
  }

  post(data) {
    if (this.bc && !this.closed) this.bc.postMessage(data);
  }

  /** Tell the leader where this tab stands; it answers with what we lack (or "gap"). */
  sync() {
    if (this.leader || !this.bc) return;
    this.syncing = true;
    this.post({ t: "sync", tab: this.tab, since: this.pos });
    clearTimeout(this.syncTimer);
    this.syncTimer = setTimeout(() => this.endSync(), SYNC_WAIT_MS);
  }

  endSync() {
    clearTimeout(this.syncTimer);
    this.syncing = false;
    const waiting = this.waiting;
    this.waiting = [];
    for (const msg of waiting) this.accept(msg, false);
  }

  peer(d) {
    if (d.to && d.to !== this.tab) return;
    if (tabsPeer(this, d)) return; // "here" and "bye" (readers.js)
    if (d.t === "ev") {
      if (this.leader) return;
      if (this.syncing) this.waiting.push(d.msg); else this.accept(d.msg, false);
    } else if (d.t === "state") {
      if (!this.leader) { this.transport = d.transport || ""; this.setState(d.state); }
    } else if (d.t === "leader") {
      if (!this.leader) this.sync();
    } else if (d.t === "sync") {
      if (!this.leader) return;
      const behind = d.since !== null && compareIds(d.since, this.covered) < 0;
      this.post(behind ? { t: "gap", to: d.tab, state: this.state, transport: this.transport }
        : { t: "replay", to: d.tab, state: this.state, transport: this.transport,
          msgs: this.ring.filter((m) => compareIds(m.event_id, d.since) > 0) });
    } else if (d.t === "replay" || d.t === "gap") {
      if (this.leader) return;
      if (d.t === "replay") for (const msg of d.msgs) this.accept(msg, false);
      this.transport = d.transport || "";
      this.setState(d.state);
      this.endSync();
      if (d.t === "gap") this.reset(false);
    } else if (d.t === "reset") {
      if (!this.leader) this.reset(false);
    } else if (d.t === "poke") {
      if (this.conn) this.conn.reconnectNow();
    }
  }

  setState(state) {
    this.state = state;
    for (const col of this.cols) col.setState(state, this.transport);
    if (this.leader) this.post({ t: "state", state, transport: this.transport });
  }

  /** One event, from the network (the leader) or from the leader (a follower). */
  accept(msg, fromNetwork) {
    if (compareIds(msg.event_id, this.pos) > 0) {
      this.ring.push(msg);
      this.pos = msg.event_id;
      if (this.ring.length > RING) this.covered = this.ring.shift().event_id;
    } else if (!this.ring.some((m) => m.event_id === msg.event_id) && compareIds(msg.event_id, this.covered) > 0) {
      this.ring.push(msg);
      this.ring.sort((a, b) => compareIds(a.event_id, b.event_id));
    }
    if (fromNetwork) this.post({ t: "ev", msg });
    for (const col of this.cols) {
      try {
        col.receive(msg);
      } catch (error) { // one element's bug must not keep the event from the others
        console.error("livefeed:", error);
      }
    }
  }

  /** The log no longer reaches back to us: every column reloads, the stream resumes after. */
  async reset(announce) {
    if (this.conn) this.conn.close();
    if (announce) this.post({ t: "reset" });
    this.setState("reconnecting");
    this.resetting = true;
    await Promise.all([...this.cols].map((col) => col.reload().catch(() => {})));
    this.resetting = false;
    this.ring = [];
    this.pos = this.covered = null;
    for (const col of this.cols) {
      if (this.pos === null || compareIds(col.lastId, this.pos) < 0) this.pos = this.covered = col.lastId;
    }
    if (this.leader && this.conn) this.conn.connect(); else this.sync();
    for (const col of this.cols) col.setState(this.state, this.transport);
  }
}
