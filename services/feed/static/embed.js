// livefeed embed: <livefeed-column section label heading limit more-href lang heading-level>.
//
// The "News" column in a Shadow DOM on any allowed site, live. Markup comes from the server's
// fragment (server-side included and hydrated in place, or fetched once); new headlines arrive
// over the push WebSocket (SSE when that fails). All columns of a page and all tabs of a site
// share one connection: a leader elected with Web Locks fans events out over BroadcastChannel,
// each column applies its own filter. Titles only ever go in as text. No dependencies.

const MAX_CHANGES = 5000; // articles whose last change is remembered, to drop repeats
const SERVER = /*@server*/ null; // the URLs and zone, filled in by the feed service
const CSS = /*@css*/ "";
const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December"];
const LABELS = { exclusive: "Exclusive", opinion: "OPINION", updated: "Updated",
  review: "Review", breaking: "Breaking", key: "Key event", pinned: "Pinned" };
const KINDS = ["hello", "published", "updated", "corrected", "retracted", "reset"];
const STATE_TEXT = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…",
  offline: "Offline", paused: "Paused" };
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30000;
const WS_FAILURES_BEFORE_SSE = 2;
const ANNOUNCE_QUIET_MS = 800;
const RING = 500; // events each tab keeps so a peer that lags can catch up from it
const SYNC_WAIT_MS = 1500;

function parseId(raw) {
  const m = /^(\d+)-(\d+)$/.exec(raw || "");
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** Event ids order as Redis orders them; a missing id is older than any. */
function compareIds(a, b) {
  const x = parseId(a), y = parseId(b);
  if (!x || !y) return x ? 1 : y ? -1 : 0;
  return x[0] - y[0] || x[1] - y[1];
}

function displayLabel(label) {
  return LABELS[label] || label.charAt(0).toUpperCase() + label.slice(1);
}

function parseLocal(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.exec(iso);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return { y, mo, d, hh: m[4], mm: m[5], offset: m[6] === "Z" ? "+00:00" : m[6],
    weekday: WEEKDAYS[new Date(Date.UTC(y, mo - 1, d)).getUTCDay()], month: MONTHS[mo - 1] };
}

/** "Thursday 24 October 2024, 19:31 (UTC+03:00, Europe/Kyiv)", as the server writes it. */
function fullTime(iso, zone) {
  const t = parseLocal(iso);
  return t ? `${t.weekday} ${t.d} ${t.month} ${t.y}, ${t.hh}:${t.mm} (UTC${t.offset}, ${zone})` : iso;
}

const keyOf = (published, id) => [Date.parse(published), id];
const newer = (a, b) => (a[0] !== b[0] ? a[0] > b[0] : a[1] > b[1]);
const keyOfEl = (art) => keyOf(art.dataset.published, art.dataset.id);
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

function el(tag, className, text, part) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  if (part) node.setAttribute("part", part);
  return node;
}

// A column's fragment could not be fetched (a TypeError: no answer CORS lets us read). The page
// cannot tell a refused origin from a network failure, so ask the same URL again without CORS:
// an (opaque) answer means the server is up and answered, so it refused this page's origin.
// One probe (and one warning) per page and feed server, whatever the number of columns.
const refusals = new Map();
function refused(url) {
  if (!refusals.has(url.origin)) {
    refusals.set(url.origin, fetch(url, { mode: "no-cors", credentials: "omit", cache: "no-store" }).then(() => {
      console.warn(`livefeed: ${location.origin} is not allowed to embed this column: add it to LIVEFEED_EMBED_ORIGINS on the livefeed server (${url.origin})`);
      return true;
    }, () => { refusals.delete(url.origin); return false; })); // no answer: the network, not the origin
  }
  return refusals.get(url.origin);
}

let sheet;
function adoptableSheet() {
  if (sheet === undefined) {
    sheet = null;
    try {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
    } catch (error) { sheet = null; }
  }
  return sheet;
}

// -- the connection: one per tab when it leads, none when another tab does ---------------------

class Conn {
  constructor(hub) {
    this.hub = hub;
    this.t = null;
    this.attempt = 0;
    this.wsFailures = 0;
    this.useSse = !("WebSocket" in window);
    this.timer = null;
  }

  url(base) {
    const url = new URL(base, location.href);
    if (this.hub.pos) url.searchParams.set("since", this.hub.pos);
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
    const t = { kind: "ws", hello: false,
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
      this.wsFailures += 1;
      if (this.wsFailures >= WS_FAILURES_BEFORE_SSE) this.useSse = true;
    } else if (t.kind === "sse" && "WebSocket" in window) {
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

  reconnectNow() {
    if (this.t && this.t.hello) return;
    this.attempt = 0;
    this.connect();
  }

  frame(msg, t) {
    if (this.t !== t) return;
    if (msg.type === "hello") {
      t.hello = true;
      this.attempt = 0;
      if (t.kind === "ws") this.wsFailures = 0;
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

class Hub {
  constructor(cfg) {
    this.cfg = cfg;
    this.name = `livefeed:${cfg.push}`;
    this.cols = new Set();
    this.pos = null; // newest event id this tab holds
    this.covered = null; // the ring holds every event after this one
    this.ring = [];
    this.state = "connecting";
    this.tab = Math.random().toString(36).slice(2);
    this.shared = Boolean(navigator.locks && window.BroadcastChannel);
    this.leader = false;
    this.conn = null;
    this.syncing = false;
    this.waiting = [];
    this.started = false;
  }

  static for(cfg) {
    let hub = hubs.get(cfg.push);
    if (!hub) hubs.set(cfg.push, (hub = new Hub(cfg)));
    return hub;
  }

  add(col) {
    this.cols.add(col);
    col.dataset.connection = this.leader ? "leader" : "follower";
    col.setState(this.state);
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
    hubs.delete(this.cfg.push);
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
    if (d.t === "ev") {
      if (this.leader) return;
      if (this.syncing) this.waiting.push(d.msg); else this.accept(d.msg, false);
    } else if (d.t === "state") {
      if (!this.leader) this.setState(d.state);
    } else if (d.t === "leader") {
      if (!this.leader) this.sync();
    } else if (d.t === "sync") {
      if (!this.leader) return;
      const behind = d.since !== null && compareIds(d.since, this.covered) < 0;
      this.post(behind ? { t: "gap", to: d.tab, state: this.state }
        : { t: "replay", to: d.tab, state: this.state,
          msgs: this.ring.filter((m) => compareIds(m.event_id, d.since) > 0) });
    } else if (d.t === "replay" || d.t === "gap") {
      if (this.leader) return;
      if (d.t === "replay") for (const msg of d.msgs) this.accept(msg, false);
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
    for (const col of this.cols) col.setState(state);
    if (this.leader) this.post({ t: "state", state });
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
    for (const col of this.cols) col.receive(msg);
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
    for (const col of this.cols) col.setState(this.state);
  }
}

// -- the element -------------------------------------------------------------------------------

class LivefeedColumn extends HTMLElement {
  static get observedAttributes() { return ["section", "label", "limit", "heading"]; }

  connectedCallback() {
    if (this.ready) {
      if (this.root) (this.hub = Hub.for(this.cfg)).add(this); // moved in the page
      return;
    }
    this.ready = true;
    const root = this.shadowRoot;
    if (root && root.querySelector(".column")) {
      this.bind(root); // server-side included: hydrate what is there, render nothing
    } else {
      this.load(false).catch((error) => this.fail(error));
    }
  }

  disconnectedCallback() {
    if (this.hub) this.hub.remove(this);
  }

  attributeChangedCallback(name, before, after) {
    if (this.hub && before !== after) this.reload().catch((error) => this.fail(error));
  }

  get cfg() {
    const d = this.dataset, s = SERVER || {};
    return { push: d.pushUrl || s.push, sse: d.sseUrl || s.sse, timeline: d.timelineUrl || s.timeline,
      fragment: d.fragmentUrl || s.fragment, zone: d.timezone || s.zone };
  }

  get filter() {
    return { section: this.getAttribute("section") || "",
      label: (this.getAttribute("label") || "").toLowerCase() };
  }

  fragmentUrl() {
    const url = new URL(this.cfg.fragment, import.meta.url);
    const { section, label } = this.filter;
    if (section) url.searchParams.set("section", section);
    if (label) url.searchParams.set("label", label);
    for (const name of ["limit", "more-href", "heading-level", "heading"]) {
      const value = this.getAttribute(name);
      if (value) url.searchParams.set(name, value);
    }
    return url;
  }

  /** One request: the fragment, whose template becomes this column's shadow root. */
  async load(fresh) {
    const response = await fetch(this.fragmentUrl(), { cache: fresh ? "no-cache" : "default",
      credentials: "omit" });
    if (!response.ok) throw new Error(`fragment answered ${response.status}`);
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const host = doc.querySelector("livefeed-column");
    const template = host && host.querySelector("template");
    if (!template) throw new Error("not a livefeed fragment");
    for (const name of ["eventId", "next", "pushUrl", "sseUrl", "timelineUrl", "fragmentUrl", "timezone"]) {
      if (host.dataset[name] !== undefined) this.dataset[name] = host.dataset[name];
    }
    const content = document.importNode(template.content, true);
    const root = this.shadowRoot || this.attachShadow({ mode: "open" });
    const shared = adoptableSheet();
    if (shared) {
      root.adoptedStyleSheets = [shared];
      for (const style of content.querySelectorAll("style")) style.remove();
    }
    root.replaceChildren(content);
    this.bind(root);
  }

  /** A fresh fragment (after a reset, a gap or a new filter); the hub keeps this column. */
  async reload() {
    await this.load(true);
  }

  fail(error) {
    this.setAttribute("data-error", "true");
    if (!(error instanceof TypeError) || navigator.onLine === false) return;
    refused(this.fragmentUrl()).then((yes) => { if (yes) this.setAttribute("data-error", "origin"); });
  }

  bind(root) {
    const q = (s) => root.querySelector(s);
    this.root = root;
    this.lastId = this.dataset.eventId || null;
    this.changes = new Map(); // article id -> its last change applied (see repeated)
    this.zone = this.cfg.zone;
    this.level = Number(this.getAttribute("heading-level")) || 2;
    this.timeline = q(".timeline");
    this.status = q("[role=status]");
    this.conn = q(".conn");
    this.pauseButton = q(".pause");
    this.newButton = q(".new-pill");
    this.more = q(".more");
    this.empty = q(".empty");
    this.pinnedSection = q("section.pinned");
    this.pinnedList = q(".pinned-items");
    this.items = new Map();
    for (const art of this.timeline.querySelectorAll("article.item")) this.items.set(art.dataset.id, art);
    this.paused = false;
    this.held = [];
    this.buffered = [];
    this.hiddenNew = 0;
    this.toAnnounce = 0;
    this.state = "";
    this.everLive = false;
    this.next = this.dataset.next || "";
    if (this.getAttribute("more-href")) {
      // The site's own "More news" page: the server checked more-href (embed.py, is_more_href)
      // and put it in this link; the element never writes it here itself.
      this.more.hidden = false;
    } else {
      this.more.addEventListener("click", (event) => {
        if (!this.next) return;
        event.preventDefault();
        this.loadMore();
      });
    }
    this.conn.hidden = false;
    this.pauseButton.hidden = false;
    this.pauseButton.addEventListener("click", () => this.togglePause());
    const key = q(".key-toggle");
    key.hidden = false;
    key.addEventListener("click", () => {
      const on = key.getAttribute("aria-pressed") !== "true";
      key.setAttribute("aria-pressed", String(on));
      q(".column").classList.toggle("key-only", on);
      this.announce(on ? "Showing key events only." : "Showing all headlines.");
    });
    this.newButton.addEventListener("click", () => this.showBuffered(true));
    const seen = () => { if (this.buffered.length && !this.paused && this.atTop()) this.showBuffered(false); };
    this.timeline.addEventListener("scroll", seen, { passive: true });
    this.seen = seen;
    if (!this.listening) {
      this.listening = true;
      addEventListener("scroll", () => this.seen(), { passive: true });
      document.addEventListener("visibilitychange", () => {
        if (!document.hidden && this.hiddenNew) { this.hiddenNew = 0; this.updateUnseen(); }
      });
    }
    if (this.hub && this.hub.cols.has(this)) {
      this.setState(this.hub.state);
      this.hub.catchUp(this);
    } else {
      this.hub = Hub.for(this.cfg);
      this.hub.add(this);
    }
    this.dataset.ready = "true";
  }

  // -- state and events ------------------------------------------------------------------

  setState(state) {
    if (!this.conn) return;
    const shown = this.paused && state === "live" ? "paused" : state;
    if (shown === this.state) return;
    const before = this.state;
    this.showState(shown);
    if (shown === "live") {
      if (this.everLive && before !== "paused") this.announce("Live updates reconnected.");
      this.everLive = true;
    } else if ((shown === "reconnecting" || shown === "offline") && before === "live") {
      this.announce(shown === "offline" ? "Offline. Live updates will resume when back online."
        : "Connection lost. Reconnecting.");
    }
  }

  showState(state) {
    this.state = state;
    this.conn.dataset.state = state;
    this.conn.querySelector(".conn-text").textContent = STATE_TEXT[state];
  }

  matches(h) {
    const { section, label } = this.filter;
    return (!section || h.section === section) && (!label || (h.labels || []).includes(label));
  }

  receive(msg) {
    if (!this.root || compareIds(msg.event_id, this.lastId) <= 0) return; // never twice
    this.lastId = msg.event_id;
    this.dataset.lastEventId = msg.event_id;
    if (this.repeated(msg)) return;
    const id = msg.headline && msg.headline.id;
    if (msg.type !== "retracted" && !this.matches(msg.headline)) {
      // Not (or no longer) in this column's filter: gone from it if it was shown.
      const known = this.items.has(id) || this.buffered.some((b) => b.headline.id === id)
        || this.held.some((m) => m.headline.id === id);
      if (!known) return;
      msg = { type: "retracted", reason: "filter", event_id: msg.event_id, headline: { id } };
    }
    if (this.paused) {
      this.held.push(msg);
      if (msg.type === "published") this.noteNew(1);
      this.updatePauseButton();
      return;
    }
    this.apply(msg);
  }

  /** The "Pinned" list above the days: a newly pinned item goes on top, an unpinned one goes. */
  updatePinned(h, pinned) {
    if (!this.pinnedList) return;
    const old = [...this.pinnedList.querySelectorAll("article.item")].find((a) => a.dataset.id === h.id);
    if (pinned) {
      const art = this.renderItem(h, ["pinned", ...(h.labels || [])], "pt-");
      if (old) old.replaceWith(art); else this.pinnedList.prepend(art);
    } else if (old) old.remove();
    this.pinnedSection.hidden = !this.pinnedList.querySelector("article.item");
  }

  /** At least once: across a Redis failover the same change of an article can come again
   * under a new event id. A change is its article id, type, version and updated_at; the
   * last one applied per article is kept (a bounded map) and a repeat of it is dropped. */
  repeated(msg) {
    const h = msg.headline || {};
    const key = `${msg.type}|${h.version ?? ""}|${h.updated_at ?? ""}`;
    if (this.changes.get(h.id) === key) return true;
    this.changes.delete(h.id);
    this.changes.set(h.id, key);
    if (this.changes.size > MAX_CHANGES) this.changes.delete(this.changes.keys().next().value);
    return false;
  }

  apply(msg) {
    const h = msg.headline;
    this.updatePinned(h, msg.type !== "retracted" && h.pinned === true);
    if (msg.type === "retracted") {
      this.remove(h.id);
      this.buffered = this.buffered.filter((b) => b.headline.id !== h.id);
      this.updateNewButton();
      this.backfill();
      return;
    }
    const shown = this.items.has(h.id);
    if (!shown && !this.atTop()) {
      this.buffered = this.buffered.filter((b) => b.headline.id !== h.id);
      this.buffered.push(msg);
      this.updateNewButton();
      if (msg.type === "published") this.noteNew(1);
      return;
    }
    const art = this.place(h, msg.type !== "published", true);
    if (!shown && art) {
      if (document.hidden) { this.hiddenNew += 1; this.updateUnseen(); }
      this.noteNew(1);
      this.trimToLimit();
    }
    const note = msg.correction;
    if (msg.type === "corrected" && art) this.announce(`Corrected: ${h.title}.${note && note.text ? ` ${note.text}` : ""}`);
  }

  /** `limit` is how many headlines the column shows: a new one pushes the oldest out, and
   * "More news" goes on from the last one kept; once the reader loaded more, nothing goes. */
  trimToLimit() {
    const limit = Number.parseInt(this.getAttribute("limit") || "10", 10);
    const all = [...this.timeline.querySelectorAll("article.item")];
    if (this.expanded || !(limit > 0) || all.length <= limit) return;
    for (const art of all.slice(limit)) this.remove(art.dataset.id);
    const last = all[limit - 1];
    this.next = `${Date.parse(last.dataset.published)}~${last.dataset.id}`;
    if (!this.getAttribute("more-href")) {
      const page = new URL(this.more.href, document.baseURI);
      page.searchParams.set("before", this.next);
      this.more.href = page.href;
    }
    this.more.hidden = false;
  }

  place(h, updated, live) {
    const existing = this.items.get(h.id);
    const key = keyOf(h.published_at, h.id);
    if (live && !existing && this.next) {
      const all = this.timeline.querySelectorAll("article.item");
      const last = all[all.length - 1];
      // Older than everything shown while more exists: "More news" will bring it.
      if (last && newer(keyOfEl(last), key)) return null;
    }
    const labels = [...(h.labels || [])];
    if (updated && !labels.includes("updated")) labels.push("updated");
    const art = this.renderItem(h, labels);
    if (existing && existing.dataset.published === h.published_at) {
      existing.replaceWith(art);
    } else {
      if (existing) this.remove(h.id);
      this.insertSorted(art, h.date, key);
    }
    this.items.set(h.id, art);
    this.renumber();
    this.empty.hidden = true;
    if (live) {
      art.classList.add("fresh");
      art.addEventListener("animationend", () => art.classList.remove("fresh"), { once: true });
    }
    return art;
  }

  remove(id) {
    const art = this.items.get(id);
    if (!art) return;
    this.items.delete(id);
    const day = art.closest("section.day");
    art.remove();
    if (day && !day.querySelector("article.item")) day.remove();
    this.renumber();
    this.empty.hidden = this.items.size > 0;
  }

  insertSorted(art, date, key) {
    const feed = this.dayFeed(date);
    for (const other of feed.querySelectorAll("article.item")) {
      if (newer(key, keyOfEl(other))) { feed.insertBefore(art, other); return; }
    }
    feed.appendChild(art);
  }

  dayFeed(date) {
    let next = null;
    for (const day of this.root.querySelectorAll("section.day")) {
      if (day.dataset.date === date) return day.querySelector("[role=feed]");
      if (day.dataset.date < date) { next = day; break; }
    }
    const section = el("section", "day");
    section.dataset.date = date;
    const heading = el(`h${Math.min(this.level + 1, 6)}`, "day-head", undefined, "day");
    heading.id = `day-${date}`;
    const t = parseLocal(`${date}T00:00Z`);
    heading.append(el("span", "day-year", `${t.y}, ${t.weekday}`), " ",
      el("span", "day-date", `${t.d} ${t.month}`));
    const feed = el("div", "items");
    feed.setAttribute("role", "feed");
    feed.setAttribute("aria-labelledby", `day-${date}`);
    feed.setAttribute("aria-busy", "false");
    section.append(heading, feed);
    this.timeline.insertBefore(section, next);
    return feed;
  }

  renderItem(h, labels, idPrefix = "t-") {
    const art = el("article", "item", undefined, "item");
    art.dataset.id = h.id;
    art.dataset.published = h.published_at;
    if ((h.labels || []).includes("key")) art.dataset.key = "true";
    art.setAttribute("aria-labelledby", `${idPrefix}${h.id}`);
    art.setAttribute("aria-setsize", "-1");
    art.tabIndex = 0;
    const time = el("time", "item-time", h.time, "time");
    time.dateTime = h.published_at;
    time.title = fullTime(h.published_at, this.zone);
    const body = el("div", "item-body");
    if (labels.length) {
      const badges = el("span", "badges");
      for (const label of labels) badges.append(el("span", `badge badge-${label}`, displayLabel(label), "badge"), " ");
      body.append(badges);
    }
    const safeUrl = typeof h.url === "string" && /^https?:\/\//i.test(h.url);
    const title = el(safeUrl ? "a" : "span", "item-title", h.title, "link");
    title.id = `${idPrefix}${h.id}`;
    if (safeUrl) title.href = h.url;
    body.append(title);
    for (const note of Array.isArray(h.corrections) ? h.corrections : []) {
      const at = String(note.at || ""), line = el("p", "correction"), t = el("time", "correction-time", `Corrected ${at.slice(11, 16)}`);
      t.dateTime = at;
      line.append(t, " ", el("span", "correction-text", String(note.text || "")));
      body.append(line);
    }
    art.append(time, body);
    return art;
  }

  renumber() {
    let n = 0;
    for (const art of this.timeline.querySelectorAll("article.item")) art.setAttribute("aria-posinset", String(++n));
  }

  atTop() {
    return this.timeline.getBoundingClientRect().top > -40 && this.timeline.scrollTop < 40;
  }

  // -- reader controls --------------------------------------------------------------------

  showBuffered(jump) {
    const msgs = this.buffered;
    this.buffered = [];
    let first = null;
    for (const msg of msgs) {
      const art = this.place(msg.headline, msg.type !== "published", true);
      if (art && (!first || newer(keyOfEl(art), keyOfEl(first)))) first = art;
    }
    this.updateNewButton();
    if (jump && first) {
      first.scrollIntoView({ block: "start" });
      first.focus({ preventScroll: true });
    }
  }

  updateNewButton() {
    const n = this.buffered.length;
    this.newButton.hidden = n === 0;
    this.newButton.textContent = n ? `↑ ${plural(n, "new headline", "new headlines")}` : "";
    this.updateUnseen();
  }

  togglePause() {
    this.paused = !this.paused;
    if (this.paused) {
      if (this.state === "live") this.showState("paused");
      this.announce("Live updates paused.");
    } else {
      const held = this.held;
      this.held = [];
      for (const msg of held) this.apply(msg);
      if (this.state === "paused") this.showState("live");
      this.announce(held.length ? `Live updates resumed: ${plural(held.length, "change", "changes")}.`
        : "Live updates resumed.");
    }
    this.updatePauseButton();
  }

  updatePauseButton() {
    const waiting = this.held.filter((m) => m.type === "published").length;
    this.pauseButton.setAttribute("aria-pressed", String(this.paused));
    this.pauseButton.textContent = this.paused
      ? (waiting ? `Resume live updates (${waiting} new)` : "Resume live updates")
      : "Pause live updates";
    this.updateUnseen();
  }

  /** Headlines the reader has not seen yet: `unseen`, data-unseen and a `livefeed-unseen` event. */
  updateUnseen() {
    const n = this.hiddenNew + this.buffered.length + this.held.filter((m) => m.type === "published").length;
    if (n === this.unseen) return;
    this.unseen = n;
    this.dataset.unseen = String(n);
    this.dispatchEvent(new CustomEvent("livefeed-unseen", { detail: { count: n }, bubbles: true, composed: true }));
  }

  noteNew(n) {
    this.toAnnounce += n;
    clearTimeout(this.announceTimer);
    this.announceTimer = setTimeout(() => {
      const count = this.toAnnounce;
      this.toAnnounce = 0;
      const where = this.paused ? " (paused)" : this.buffered.length ? " above" : "";
      if (count) this.announce(`${plural(count, "new headline", "new headlines")}${where}.`);
    }, ANNOUNCE_QUIET_MS);
  }

  announce(text) {
    this.status.textContent = text;
  }

  async loadMore() {
    if (this.loadingMore) return;
    this.loadingMore = true;
    const label = this.more.textContent;
    this.timeline.setAttribute("aria-busy", "true");
    this.more.setAttribute("aria-disabled", "true");
    this.more.textContent = "Loading…";
    try {
      const added = await this.fetchOlder(Number.parseInt(this.getAttribute("limit") || "10", 10));
      this.expanded = true;
      this.announce(`${plural(added, "older headline", "older headlines")} loaded.`);
    } catch (error) {
      this.announce("Could not load more news. Try again.");
    } finally {
      this.more.textContent = label;
      this.more.removeAttribute("aria-disabled");
      this.timeline.setAttribute("aria-busy", "false");
      this.loadingMore = false;
    }
  }

  /** A retraction left the column short of its `limit`: the next older headlines fill it
   * (quietly; if that fails the column is one short until "More news"). */
  async backfill() {
    const limit = Number.parseInt(this.getAttribute("limit") || "10", 10);
    const missing = limit - this.timeline.querySelectorAll("article.item").length;
    if (this.expanded || this.loadingMore || !this.next || missing <= 0) return;
    this.loadingMore = true;
    try {
      await this.fetchOlder(missing);
    } catch (error) {
      console.warn("livefeed: could not refill the column", error);
    } finally {
      this.loadingMore = false;
    }
  }

  /** `count` headlines older than `this.next`, placed; the cursor and "More news" move on. A
   * headline whose last change seen on the stream is its retraction is never put back. */
  async fetchOlder(count) {
    const url = new URL(this.cfg.timeline, import.meta.url);
    const { section, label: lbl } = this.filter;
    url.searchParams.set("limit", String(count));
    url.searchParams.set("before", this.next);
    if (section) url.searchParams.set("section", section);
    if (lbl) url.searchParams.set("label", lbl);
    const response = await fetch(url, { credentials: "omit", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`timeline answered ${response.status}`);
    const body = await response.json();
    let added = 0;
    for (const day of body.days) {
      for (const h of day.items) {
        if ((this.changes.get(h.id) || "").startsWith("retracted|")) continue;
        if (!this.items.has(h.id)) added += 1;
        this.place(h, false, false);
      }
    }
    this.next = body.next || "";
    const ownPage = !this.getAttribute("more-href");
    if (body.next && ownPage) {
      const page = new URL(this.more.href, document.baseURI);
      page.searchParams.set("before", body.next);
      this.more.href = page.href;
    } else if (!body.next && ownPage) {
      this.more.hidden = true;
    }
    return added;
  }
}

if (!customElements.get("livefeed-column")) customElements.define("livefeed-column", LivefeedColumn);
