// livefeed: keeps the server-rendered "News" column live.
//
// Connects to the push WebSocket `since` the page's event id (SSE when the WebSocket fails),
// inserts new headlines at the top of their day, replaces updated ones in place and removes
// retracted ones. Titles only ever go in through textContent. No framework, no CDN.

const MAX_CHANGES = 5000; // articles whose last change is remembered, to drop repeats
const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December"];
const KINDS = ["hello", "published", "updated", "corrected", "retracted", "reset"];
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30000;
const WS_FAILURES_BEFORE_SSE = 2;
const ANNOUNCE_QUIET_MS = 800;
const STATE_TEXT = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…",
  offline: "Offline", paused: "Paused" };

/** "1729781700000-0" → [ms, seq] for ordering; null for anything else. */
function parseId(raw) {
  const m = /^(\d+)-(\d+)$/.exec(raw || "");
  return m ? [Number(m[1]), Number(m[2])] : null;
}

function compareIds(a, b) {
  const x = parseId(a), y = parseId(b);
  if (!x || !y) return x ? 1 : y ? -1 : 0;
  return x[0] - y[0] || x[1] - y[1];
}

/** How a label is shown: `names` is the server's map (data-labels), else capitalised. */
function displayLabel(label, names) {
  if (Object.hasOwn(names, label)) return names[label];
  return label.charAt(0).toUpperCase() + label.slice(1);
}

/** The label display map the server puts on the page (shared.models.LABEL_DISPLAY). */
function labelNames(raw) {
  try {
    const names = JSON.parse(raw || "{}");
    return names && typeof names === "object" ? names : {};
  } catch (error) {
    return {};
  }
}

/** Parts of an RFC 3339 time as written by the server (already in the newsroom's zone). */
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
  if (!t) return iso;
  return `${t.weekday} ${t.d} ${t.month} ${t.y}, ${t.hh}:${t.mm} (UTC${t.offset}, ${zone})`;
}

/** Sort key, newest first as the server pages: published time, then id, both descending. */
function keyOf(published, id) {
  return [Date.parse(published), id];
}

function newer(a, b) {
  return a[0] !== b[0] ? a[0] > b[0] : a[1] > b[1];
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** "Corrected 17:40" and the note, as text (page.py render_corrections builds the same). */
function renderCorrection(note, zone) {
  const at = typeof note.at === "string" ? note.at : "";
  const line = el("p", "correction");
  const time = el("time", "correction-time", `Corrected ${at.slice(11, 16)}`);
  time.dateTime = at;
  time.title = at ? fullTime(at, zone) : "";
  line.append(time, " ", el("span", "correction-text", String(note.text || "")));
  return line;
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

class LivePage {
  constructor(root) {
    const d = root.dataset;
    this.root = root;
    this.cfg = { pushUrl: d.pushUrl, sseUrl: d.sseUrl, timelineUrl: d.timelineUrl,
      zone: d.timezone, section: d.section, label: d.label, pageSize: d.pageSize,
      labels: labelNames(d.labels) };
    this.lastId = d.eventId;
    this.changes = new Map(); // article id -> its last change applied (see repeated)
    this.timeline = document.getElementById("timeline");
    this.pinnedSection = root.querySelector("section.pinned");
    this.pinnedList = root.querySelector(".pinned-items");
    this.status = document.getElementById("status");
    this.conn = document.getElementById("conn");
    this.pauseButton = document.getElementById("pause");
    this.newButton = document.getElementById("new-headlines");
    this.more = document.getElementById("more");
    this.empty = document.getElementById("empty");
    this.baseTitle = document.title;
    this.items = new Map();
    for (const art of this.timeline.querySelectorAll("article.item")) this.items.set(art.dataset.id, art);
    this.paused = false;
    this.held = [];        // events received while paused, applied on resume
    this.buffered = [];    // new headlines waiting behind the "N new headlines" button
    this.hiddenNew = 0;    // headlines added while the tab was in the background
    this.toAnnounce = 0;
    this.transport = null;
    this.attempt = 0;
    this.wsFailures = 0;
    this.useSse = !("WebSocket" in window);
    this.retryTimer = null;
    this.announceTimer = null;
    this.state = "";
    this.everLive = false;
    this.loadingMore = false;
  }

  start(live) {
    this.more.addEventListener("click", (event) => {
      if (!this.more.dataset.next) return;
      event.preventDefault();
      this.loadMore();
    });
    if (!live) return;
    this.conn.hidden = false;
    this.pauseButton.hidden = false;
    this.pauseButton.addEventListener("click", () => this.togglePause());
    this.keyButton = document.getElementById("key-events");
    this.keyButton.hidden = false;
    this.keyButton.addEventListener("click", () => this.toggleKeyEvents());
    this.newButton.addEventListener("click", () => this.showBuffered(true));
    window.addEventListener("scroll", () => {
      if (this.buffered.length && !this.paused && this.atTop()) this.showBuffered(false);
    }, { passive: true });
    window.addEventListener("online", () => {
      if (this.transport && this.transport.hello) this.setState("live");
      else this.reconnectNow();
    });
    window.addEventListener("offline", () => this.setState("offline"));
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) return;
      this.hiddenNew = 0;
      this.updateTitle();
      if (this.state !== "live" && this.state !== "paused") this.reconnectNow();
    });
    this.connect();
  }

  // -- connection --------------------------------------------------------------------------

  streamUrl(base) {
    const url = new URL(base, window.location.href);
    if (this.lastId) url.searchParams.set("since", this.lastId);
    if (this.cfg.section) url.searchParams.set("section", this.cfg.section);
    if (this.cfg.label) url.searchParams.set("label", this.cfg.label);
    return url;
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.closeTransport();
    if (this.state !== "reconnecting" && this.state !== "offline") this.setState("connecting");
    if (this.useSse) this.openSse(); else this.openWebSocket();
  }

  closeTransport() {
    const t = this.transport;
    this.transport = null;
    if (t) t.close();
  }

  openWebSocket() {
    let ws;
    try {
      ws = new WebSocket(this.streamUrl(this.cfg.pushUrl));
    } catch (error) {
      this.wsFailures = WS_FAILURES_BEFORE_SSE;
      this.lost({ kind: "ws", hello: false });
      return;
    }
    const t = { kind: "ws", hello: false,
      close: () => { ws.onclose = ws.onmessage = ws.onerror = null; ws.close(); } };
    ws.onmessage = (event) => this.receive(JSON.parse(event.data), t);
    ws.onclose = () => { if (this.transport === t) { this.transport = null; this.lost(t); } };
    this.transport = t;
  }

  openSse() {
    const es = new EventSource(this.streamUrl(this.cfg.sseUrl));
    const t = { kind: "sse", hello: false, close: () => es.close() };
    for (const kind of KINDS) {
      es.addEventListener(kind, (event) => this.receive(JSON.parse(event.data), t));
    }
    es.onerror = () => {
      if (this.transport !== t) return;
      if (t.hello && es.readyState !== EventSource.CLOSED) {
        // A working stream dropped: EventSource retries once by itself, with Last-Event-ID,
        // after the server's jittered `retry:`. If that attempt fails too, we take over.
        t.hello = false;
        this.setState(navigator.onLine === false ? "offline" : "reconnecting");
        return;
      }
      this.transport = null;
      es.close();
      this.lost(t);
    };
    this.transport = t;
  }

  lost(t) {
    if (t.kind === "ws" && !t.hello) {
      // Never got through: a proxy or firewall may block WebSockets, or the push service is
      // down. SSE is plain HTTP from the page's own origin: try it.
      this.wsFailures += 1;
      if (this.wsFailures >= WS_FAILURES_BEFORE_SSE) this.useSse = true;
    } else if (t.kind === "sse" && "WebSocket" in window) {
      // SSE failed as well: alternate, so whichever comes back first carries the stream.
      this.useSse = false;
      this.wsFailures = 0;
    }
    this.setState(navigator.onLine === false ? "offline" : "reconnecting");
    // Full jitter: a fleet of readers dropped at once comes back spread out, not in lock-step.
    const cap = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), Math.random() * cap);
  }

  reconnectNow() {
    if (this.transport && this.transport.hello) return;
    this.attempt = 0;
    this.connect();
  }

  /** Show a connection state without announcing it. */
  showState(state) {
    this.state = state;
    this.conn.dataset.state = state;
    this.conn.dataset.transport = this.transport ? this.transport.kind : "";
    this.conn.querySelector(".conn-text").textContent = STATE_TEXT[state];
  }

  setState(state) {
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

  // -- events ------------------------------------------------------------------------------

  receive(msg, t) {
    if (this.transport !== t) return;
    if (msg.type === "hello") {
      t.hello = true;
      this.attempt = 0;
      if (t.kind === "ws") this.wsFailures = 0;
      this.setState("live");
      return;
    }
    if (msg.type === "reset") { this.reload(); return; }
    // Never apply an event twice, whatever a reconnect replays.
    if (compareIds(msg.event_id, this.lastId) <= 0) return;
    this.lastId = msg.event_id;
    this.root.dataset.lastEventId = msg.event_id;
    if (this.repeated(msg)) return;
    if (this.paused) {
      this.held.push(msg);
      if (msg.type === "published") this.noteNew(1);
      this.updatePauseButton();
      return;
    }
    this.apply(msg);
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
      return;
    }
    const shown = this.items.has(h.id);
    if (!shown && !this.atTop()) {
      // The reader has scrolled down: never move the list under them.
      this.buffered = this.buffered.filter((b) => b.headline.id !== h.id);
      this.buffered.push(msg);
      this.updateNewButton();
      if (msg.type === "published") this.noteNew(1);
      return;
    }
    const art = this.place(h, msg.type !== "published", true);
    if (!shown && art) {
      if (document.hidden) this.hiddenNew += 1;
      this.noteNew(1);
    }
    if (msg.type === "corrected" && art) this.announceCorrection(h, msg.correction);
  }

  /** A correction is said out loud, once, with its note (never coalesced away). */
  announceCorrection(h, note) {
    const text = note && typeof note.text === "string" ? ` ${note.text}` : "";
    this.announce(`Corrected: ${h.title}.${text}`);
  }

  /** The "Pinned" list above the days: a newly pinned item goes on top, an unpinned one goes. */
  updatePinned(h, pinned) {
    if (!this.pinnedList) return;
    const existing = [...this.pinnedList.querySelectorAll("article.item")]
      .find((a) => a.dataset.id === h.id);
    if (!pinned) {
      if (existing) existing.remove();
    } else {
      const art = this.renderItem(h, ["pinned", ...(h.labels || [])], "pt-");
      art.classList.add("pinned-item");
      if (existing) existing.replaceWith(art); else this.pinnedList.prepend(art);
    }
    this.pinnedSection.hidden = !this.pinnedList.querySelector("article.item");
  }

  /** Insert or replace one headline at its place; returns its element (null when off-page). */
  place(h, updated, live) {
    const existing = this.items.get(h.id);
    const key = keyOf(h.published_at, h.id);
    if (live && this.more.dataset.next && !existing) {
      const last = this.lastItem();
      // Older than everything loaded while more pages exist: "More news" will bring it.
      if (last && newer(keyOf(last.dataset.published, last.dataset.id), key)) return null;
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

  lastItem() {
    const all = this.timeline.querySelectorAll("article.item");
    return all.length ? all[all.length - 1] : null;
  }

  insertSorted(art, date, key) {
    const feed = this.dayFeed(date);
    for (const other of feed.querySelectorAll("article.item")) {
      if (newer(key, keyOf(other.dataset.published, other.dataset.id))) {
        feed.insertBefore(art, other);
        return;
      }
    }
    feed.appendChild(art);
  }

  /** The feed of one day, creating the day (with its header) in date order when new. */
  dayFeed(date) {
    let next = null;
    for (const day of this.timeline.querySelectorAll("section.day")) {
      if (day.dataset.date === date) return day.querySelector("[role=feed]");
      if (day.dataset.date < date) { next = day; break; }
    }
    const section = el("section", "day");
    section.dataset.date = date;
    section.setAttribute("aria-labelledby", `day-${date}`);
    const heading = el("h2", "day-head");
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
    const art = el("article", "item");
    art.dataset.id = h.id;
    art.dataset.published = h.published_at;
    if ((h.labels || []).includes("key")) art.dataset.key = "true";
    art.setAttribute("aria-labelledby", `${idPrefix}${h.id}`);
    art.setAttribute("aria-setsize", "-1");
    art.tabIndex = 0;
    const time = el("time", "item-time", h.time);
    time.dateTime = h.published_at;
    time.title = fullTime(h.published_at, this.cfg.zone);
    const body = el("div", "item-body");
    if (labels.length) {
      const badges = el("span", "badges");
      for (const label of labels) {
        const text = displayLabel(label, this.cfg.labels);
        badges.append(el("span", `badge badge-${label}`, text), " ");
      }
      body.append(badges);
    }
    const safeUrl = typeof h.url === "string" && /^https?:\/\//i.test(h.url);
    const title = el(safeUrl ? "a" : "span", "item-title", h.title);
    title.id = `${idPrefix}${h.id}`;
    if (safeUrl) title.href = h.url;
    body.append(title);
    for (const note of Array.isArray(h.corrections) ? h.corrections : []) {
      body.append(renderCorrection(note, this.cfg.zone));
    }
    art.append(time, body);
    return art;
  }

  renumber() {
    let n = 0;
    for (const art of this.timeline.querySelectorAll("article.item")) {
      n += 1;
      art.setAttribute("aria-posinset", String(n));
    }
  }

  atTop() {
    return this.timeline.getBoundingClientRect().top > -40;
  }

  // -- reader controls ---------------------------------------------------------------------

  showBuffered(jump) {
    const msgs = this.buffered;
    this.buffered = [];
    let first = null;
    for (const msg of msgs) {
      const art = this.place(msg.headline, msg.type !== "published", true);
      if (art && (!first || newer(keyOf(art.dataset.published, art.dataset.id),
        keyOf(first.dataset.published, first.dataset.id)))) first = art;
    }
    this.updateNewButton();
    if (jump && first) {
      // Take the reader to the newest of the headlines they had not seen.
      first.scrollIntoView({ block: "start" });
      first.focus({ preventScroll: true });
    }
  }

  updateNewButton() {
    const n = this.buffered.length;
    this.newButton.hidden = n === 0;
    this.newButton.textContent = n ? `↑ ${plural(n, "new headline", "new headlines")}` : "";
    this.updateTitle();
  }

  /** Only key events (label "key"), or everything again: a filter over the same stream. */
  toggleKeyEvents() {
    const on = this.keyButton.getAttribute("aria-pressed") !== "true";
    this.keyButton.setAttribute("aria-pressed", String(on));
    this.root.classList.toggle("key-only", on);
    this.announce(on ? "Showing key events only." : "Showing all headlines.");
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
    this.updateTitle();
  }

  updateTitle() {
    const waiting = this.held.filter((m) => m.type === "published").length;
    const n = this.hiddenNew + this.buffered.length + waiting;
    document.title = n ? `(${n}) ${this.baseTitle}` : this.baseTitle;
  }

  noteNew(n) {
    // Coalesced: a burst of headlines is one polite announcement, not a ticker.
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

  // -- loading -----------------------------------------------------------------------------

  timelineUrl(before) {
    const url = new URL(this.cfg.timelineUrl, window.location.href);
    url.searchParams.set("limit", this.cfg.pageSize);
    if (before) url.searchParams.set("before", before);
    if (this.cfg.section) url.searchParams.set("section", this.cfg.section);
    if (this.cfg.label) url.searchParams.set("label", this.cfg.label);
    return url;
  }

  async fetchTimeline(before, fresh) {
    // A reload after "reset" must not take a cached copy (it may predate the reset): revalidate.
    const response = await fetch(this.timelineUrl(before), {
      headers: { Accept: "application/json" }, cache: fresh ? "no-cache" : "default" });
    if (!response.ok) throw new Error(`timeline answered ${response.status}`);
    return response.json();
  }

  async loadMore() {
    if (this.loadingMore) return;
    this.loadingMore = true;
    const label = this.more.textContent;
    this.timeline.setAttribute("aria-busy", "true");
    this.more.setAttribute("aria-disabled", "true");
    this.more.textContent = "Loading…";
    let added = 0;
    try {
      const body = await this.fetchTimeline(this.more.dataset.next, false);
      for (const day of body.days) {
        for (const h of day.items) {
          if (!this.items.has(h.id)) added += 1;
          this.place(h, false, false);
        }
      }
      this.setNext(body.next);
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

  setNext(next) {
    if (next) {
      this.more.dataset.next = next;
      const url = new URL(window.location.href);
      url.searchParams.set("before", next);
      this.more.href = url.pathname + url.search;
      this.more.hidden = false;
    } else {
      delete this.more.dataset.next;
      this.more.hidden = true;
    }
  }

  /** The log no longer reaches back to our last event: start again from a fresh timeline. */
  async reload() {
    this.closeTransport();
    this.setState("reconnecting");
    this.timeline.setAttribute("aria-busy", "true");
    try {
      const body = await this.fetchTimeline(null, true);
      for (const day of this.timeline.querySelectorAll("section.day")) day.remove();
      this.items.clear();
      this.buffered = [];
      this.held = [];
      if (this.pinnedList) {
        for (const art of this.pinnedList.querySelectorAll("article.item")) art.remove();
        for (const h of [...(body.pinned || [])].reverse()) this.updatePinned(h, true);
        this.pinnedSection.hidden = !(body.pinned || []).length;
      }
      this.changes.clear(); // the timeline is the truth now: a change it lacks may come again
      for (const day of body.days) for (const h of day.items) this.place(h, false, false);
      this.setNext(body.next);
      this.empty.hidden = this.items.size > 0;
      this.lastId = body.event_id;
      this.root.dataset.lastEventId = body.event_id;
      this.updateNewButton();
      this.updatePauseButton();
      this.connect();
    } catch (error) {
      this.lost({ kind: "reload", hello: true });
    } finally {
      this.timeline.setAttribute("aria-busy", "false");
    }
  }
}

const root = document.getElementById("live");
if (root) {
  const page = new LivePage(root);
  page.start(root.dataset.live === "true");
  root.dataset.ready = "true";
}
