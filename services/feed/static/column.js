// livefeed: <livefeed-column section label heading limit more-href lang heading-level>.
//
// The one client: the live page and every embed run this element. The server renders the
// column as a declarative shadow root (services/feed/column.py, template and column.css beside
// it); the element hydrates that markup in place, or fetches the same fragment once when it is
// created empty. New headlines arrive through the hub (core.js). Every word comes from the
// messages blob the server puts in the shadow root; titles only ever go in as text.
// The feed serves core.js and this file as one module (/embed.<hash>.js), concatenated.

import { ANNOUNCE_QUIET_MS, Hub, LivefeedElement, MAX_CHANGES, Words, compareIds, editionOf, el, filterOf, keyOf, keyOfEl, matchesFilter, newer } from "./core.js";
import { readersBind } from "./readers.js";
import { sinceBind } from "./since.js";
import { zoneBind, zoneDay } from "./zone.js";
import { permalinkBind, permalinkHold, permalinkItem, permalinkParams, permalinkUnseen } from "./permalink.js";
import { LiveSummary } from "./summary.js";

const CSS = /*@css*/ "";

/** Each headline's place in `list` (aria-posinset), in order. */
function renumberIn(list) {
  let n = 0;
  for (const art of list.querySelectorAll("article.item")) art.setAttribute("aria-posinset", String(++n));
}

class LivefeedColumn extends LivefeedElement {
  static get observedAttributes() { return ["section", "label", "limit", "heading", "lang", "at", "show-readers"]; }

  get shell() { return ".column"; }

  get css() { return CSS; }

  /** The edition asked for (`lang="uk-UA"`: "uk"), or "" for every language. */
  get edition() {
    return editionOf(this);
  }

  get filter() {
    return filterOf(this);
  }

  /** Live unless the server said otherwise (a page reached by "More news" stays as it is). */
  get live() {
    return this.dataset.live !== "false";
  }

  get limit() {
    return Number.parseInt(this.getAttribute("limit") || "10", 10);
  }

  fragmentUrl() {
    const url = new URL(this.cfg.fragment, import.meta.url);
    const { section, label } = this.filter;
    if (section) url.searchParams.set("section", section);
    if (label) url.searchParams.set("label", label);
    for (const name of ["limit", "more-href", "heading-level", "heading", "lang"]) {
      const value = this.getAttribute(name);
      if (value) url.searchParams.set(name, value);
    }
    permalinkParams(this, url);
    return url;
  }

  bind(root) {
    const q = (s) => root.querySelector(s);
    const blob = q("script[data-lf-messages]");
    let words = {};
    try {
      words = JSON.parse(blob ? blob.textContent : "{}");
    } catch (error) {
      console.warn("livefeed: unreadable messages", error);
    }
    this.words = new Words(words, this.getAttribute("lang") || document.documentElement.lang);
    if (!this.hasAttribute("dir") && this.words.dir) this.setAttribute("dir", this.words.dir);
    this.root = root;
    this.lastId = this.dataset.eventId || null;
    if (this.lastId) this.dataset.lastEventId = this.lastId;
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
    this.summary = new LiveSummary(this, root); // summary.js
    this.items = new Map();
    for (const art of this.timeline.querySelectorAll("article.item")) this.items.set(art.dataset.id, art);
    this.paused = false;
    this.held = [];        // events received while paused, applied on resume
    this.buffered = [];    // new headlines waiting behind the "N new headlines" button
    this.hiddenNew = 0;    // headlines added while the tab was in the background
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
    zoneBind(this); // the newsroom's zone, or the reader's own (zone.js)
    sinceBind(this); // "5 new since 16:55" (since.js)
    permalinkBind(this); // a headline opened by its link (permalink.js)
    readersBind(this); // "12,431 reading now" with show-readers (readers.js)
    this.dataset.ready = "true";
    if (!this.live) return;
    this.conn.hidden = false;
    this.pauseButton.hidden = false;
    this.pauseButton.addEventListener("click", () => this.togglePause());
    const key = q(".key-toggle");
    key.hidden = false;
    key.addEventListener("click", () => {
      const on = key.getAttribute("aria-pressed") !== "true";
      key.setAttribute("aria-pressed", String(on));
      q(".column").classList.toggle("key-only", on);
      this.announce(this.words.t(on ? "Showing key events only." : "Showing all headlines."));
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
      this.setState(this.hub.state, this.hub.transport);
      this.hub.catchUp(this);
    } else {
      this.hub = Hub.for(this.cfg);
      this.hub.add(this);
    }
  }

  // -- state and events ------------------------------------------------------------------

  setState(state, transport) {
    if (!this.conn) return;
    this.conn.dataset.transport = transport || "";
    const shown = this.paused && state === "live" ? "paused" : state;
    if (shown === this.state) return;
    const before = this.state;
    this.showState(shown);
    if (shown === "live") {
      if (this.everLive && before !== "paused") this.announce(this.words.t("Live updates reconnected."));
      this.everLive = true;
    } else if ((shown === "reconnecting" || shown === "offline") && before === "live") {
      this.announce(this.words.t(shown === "offline" ? "Offline. Live updates will resume when back online."
        : "Connection lost. Reconnecting."));
    }
  }

  /** Show a connection state without announcing it (its words: data-<state> on .conn-text). */
  showState(state) {
    this.state = state;
    this.conn.dataset.state = state;
    const text = this.conn.querySelector(".conn-text");
    text.textContent = text.dataset[state] || state;
  }

  matches(h) {
    return matchesFilter(this.filter, h);
  }

  receive(msg) {
    if (!this.root || compareIds(msg.event_id, this.lastId) <= 0) return; // never twice
    this.lastId = msg.event_id;
    this.dataset.lastEventId = msg.event_id;
    if (!msg.headline) { if (msg.type === "summary") this.summary.receive(msg); return; } // not an article's: never a headline
    if (this.repeated(msg)) return;
    const id = msg.headline && msg.headline.id;
    if (msg.type !== "retracted" && !this.matches(msg.headline)) {
      // Not (or no longer) in this column's filter: gone from it if it was shown.
      const known = this.items.has(id) || this.pinnedArt(id) || this.buffered.some((b) => b.headline.id === id)
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

  /** The article of headline `id` in the "Pinned" list, if it is there. */
  pinnedArt(id) {
    if (!this.pinnedList) return null;
    return [...this.pinnedList.querySelectorAll("article.item")].find((a) => a.dataset.id === id) || null;
  }

  /** The "Pinned" list above the days: a newly pinned item goes on top, an unpinned one goes.
   * Returns the pinned article (null when `h` is not pinned). */
  updatePinned(h, pinned) {
    if (!this.pinnedList) return null;
    const old = this.pinnedArt(h.id);
    let art = null;
    if (pinned) {
      art = this.renderItem(h, ["pinned", ...(h.labels || [])], "pt-");
      art.classList.add("pinned-item");
      if (old) old.replaceWith(art); else this.pinnedList.prepend(art);
    } else if (old) old.remove();
    renumberIn(this.pinnedList);
    this.pinnedSection.hidden = !this.pinnedList.querySelector("article.item");
    return art;
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
    if (permalinkHold(this, msg)) return;
    const h = msg.headline;
    const wasPinned = Boolean(this.pinnedArt(h.id));
    const pinnedArt = this.updatePinned(h, msg.type !== "retracted" && h.pinned === true);
    if (msg.type === "retracted" || (pinnedArt && (this.items.has(h.id) || this.buffered.some((b) => b.headline.id === h.id)))) {
      // Gone, or pinned: a pinned headline shows once, in the "Pinned" list, not in its day.
      this.remove(h.id);
      this.buffered = this.buffered.filter((b) => b.headline.id !== h.id);
      this.updateNewButton();
      this.backfill();
      if (msg.type === "retracted") return;
    }
    if (pinnedArt) {
      if (!wasPinned && msg.type === "published") {
        if (document.hidden) { this.hiddenNew += 1; this.updateUnseen(); }
        this.noteNew(1);
      }
      this.announceCorrection(msg, pinnedArt);
      return;
    }
    const shown = this.items.has(h.id) || wasPinned; // an unpinned headline returns to its day
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
      if (document.hidden) { this.hiddenNew += 1; this.updateUnseen(); }
      this.noteNew(1);
      this.trimToLimit();
    }
    this.announceCorrection(msg, art);
  }

  /** A correction is said out loud, once, with its note (never coalesced away). */
  announceCorrection(msg, art) {
    const h = msg.headline, note = msg.correction;
    if (msg.type !== "corrected" || !art) return;
    this.announce(note && note.text ? this.words.t("Corrected: {title}. {note}", { title: h.title, note: note.text })
      : this.words.t("Corrected: {title}.", { title: h.title }));
  }

  /** Headlines the column shows: its days' and its "Pinned" list's (each shown once). */
  shownCount() {
    const pinned = this.pinnedList ? this.pinnedList.querySelectorAll("article.item").length : 0;
    return this.timeline.querySelectorAll("article.item").length + pinned;
  }

  /** `limit` is how many headlines an embedded column shows: a new one pushes the oldest out,
   * and "More news" goes on from the last one kept; once the reader loaded more, nothing goes.
   * The live page's column (data-grow) keeps everything it was given. */
  trimToLimit() {
    const all = [...this.timeline.querySelectorAll("article.item")];
    // The pinned ones count too (at least one day's headline stays).
    const keep = Math.max(1, this.limit - (this.shownCount() - all.length));
    if (this.expanded || this.dataset.grow !== undefined || !(this.limit > 0) || all.length <= keep) return;
    for (const art of all.slice(keep)) this.remove(art.dataset.id);
    const last = all[keep - 1];
    this.next = `${Date.parse(last.dataset.published)}~${last.dataset.id}`;
    if (!this.getAttribute("more-href")) this.moreBefore(this.next);
    this.more.hidden = false;
  }

  /** "More news" (the plain link, for a reader without the module) goes on from `before`. */
  moreBefore(before) {
    const page = new URL(this.more.href, document.baseURI);
    page.searchParams.set("before", before);
    this.more.href = page.href;
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
      this.insertSorted(art, zoneDay(this, h), key);
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
    this.empty.hidden = this.shownCount() > 0;
  }

  insertSorted(art, date, key) {
    const feed = this.dayFeed(date);
    for (const other of feed.querySelectorAll("article.item")) {
      if (newer(key, keyOfEl(other))) { feed.insertBefore(art, other); return; }
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
    const heading = el(`h${Math.min(this.level + 1, 6)}`, "day-head", undefined, "day");
    heading.id = `day-${date}`;
    const [yearWeekday, dayMonth] = this.words.day(date);
    heading.append(el("span", "day-year", yearWeekday), " ", el("span", "day-date", dayMonth));
    const feed = el("div", "items");
    feed.setAttribute("role", "feed");
    feed.setAttribute("aria-labelledby", `day-${date}`);
    feed.setAttribute("aria-busy", "false");
    section.append(heading, feed);
    this.timeline.insertBefore(section, next);
    return feed;
  }

  /** One headline as <article> (column.py render_item writes the same markup). */
  renderItem(h, labels, idPrefix = "t-") {
    const art = el("article", "item", undefined, "item");
    art.dataset.id = h.id;
    art.dataset.published = h.published_at;
    if ((h.labels || []).includes("key")) art.dataset.key = "true";
    art.setAttribute("aria-labelledby", `${idPrefix}${h.id}`);
    art.setAttribute("aria-setsize", "-1");
    const safeUrl = typeof h.url === "string" && /^https?:\/\//i.test(h.url);
    art.tabIndex = safeUrl ? -1 : 0; // one Tab stop per headline: its link, else the article
    const time = el("time", "item-time", this.words.clock(h.published_at, this.zone), "time");
    time.dateTime = h.published_at;
    time.title = this.words.fullTime(h.published_at, this.zone);
    const body = el("div", "item-body");
    if (labels.length) {
      const badges = el("span", "badges");
      for (const label of labels) badges.append(el("span", `badge badge-${label}`, this.words.label(label), "badge"), " ");
      body.append(badges);
    }
    const title = el(safeUrl ? "a" : "span", "item-title", h.title, "link");
    title.id = `${idPrefix}${h.id}`;
    title.dir = "auto";
    if (safeUrl) title.href = h.url;
    body.append(title);
    for (const note of Array.isArray(h.corrections) ? h.corrections : []) {
      const at = typeof note.at === "string" ? note.at : "";
      const line = el("p", "correction");
      const stamp = el("time", "correction-time", this.words.t("Corrected {time}", { time: at ? this.words.clock(at, this.zone) : "" }));
      stamp.dateTime = at;
      stamp.title = at ? this.words.fullTime(at, this.zone) : "";
      const text = el("span", "correction-text", String(note.text || ""));
      text.dir = "auto";
      line.append(stamp, " ", text);
      body.append(line);
    }
    art.append(time, body);
    permalinkItem(this, art);
    return art;
  }

  renumber() {
    renumberIn(this.timeline);
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
      // Take the reader to the newest of the headlines they had not seen.
      first.scrollIntoView({ block: "start" });
      first.focus({ preventScroll: true });
    }
  }

  updateNewButton() {
    const n = this.buffered.length + permalinkUnseen(this);
    this.newButton.hidden = n === 0;
    this.newButton.textContent = n ? `↑ ${this.words.n("{count} new headline", n)}` : "";
    this.updateUnseen();
  }

  togglePause() {
    this.paused = !this.paused;
    if (this.paused) {
      if (this.state === "live") this.showState("paused");
      this.announce(this.words.t("Live updates paused."));
    } else {
      const held = this.held;
      this.held = [];
      for (const msg of held) this.apply(msg);
      if (this.state === "paused") this.showState("live");
      this.announce(held.length ? this.words.n("Live updates resumed: {count} change.", held.length)
        : this.words.t("Live updates resumed."));
    }
    this.updatePauseButton();
  }

  updatePauseButton() {
    const waiting = this.held.filter((m) => m.type === "published").length;
    this.pauseButton.setAttribute("aria-pressed", String(this.paused));
    this.pauseButton.textContent = !this.paused ? this.words.t("Pause live updates")
      : waiting ? this.words.t("Resume live updates ({count} new)", { count: this.words.number.format(waiting) })
        : this.words.t("Resume live updates");
    this.updateUnseen();
  }

  /** Headlines the reader has not seen yet: `unseen`, data-unseen and a `livefeed-unseen` event. */
  updateUnseen() {
    const n = this.hiddenNew + this.buffered.length + this.held.filter((m) => m.type === "published").length
      + permalinkUnseen(this);
    if (n === this.unseen) return;
    this.unseen = n;
    this.dataset.unseen = String(n);
    this.dispatchEvent(new CustomEvent("livefeed-unseen", { detail: { count: n }, bubbles: true, composed: true }));
  }

  noteNew(n) {
    // Coalesced: a burst of headlines is one polite announcement, not a ticker.
    this.toAnnounce += n;
    clearTimeout(this.announceTimer);
    this.announceTimer = setTimeout(() => {
      const count = this.toAnnounce;
      this.toAnnounce = 0;
      const which = this.paused ? "{count} new headline (paused)" : this.buffered.length
        ? "{count} new headline above" : "{count} new headline";
      if (count) this.announce(this.words.n(which, count));
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
    this.more.textContent = this.words.t("Loading…");
    try {
      const added = await this.fetchOlder(this.limit);
      this.expanded = true;
      this.announce(this.words.n("{count} older headline loaded.", added));
    } catch (error) {
      this.announce(this.words.t("Could not load more news. Try again."));
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
    const missing = this.limit - this.shownCount();
    if (this.expanded || this.dataset.grow !== undefined || this.loadingMore || !this.next || missing <= 0) return;
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
    const body = await this.fetchPage({ limit: count, before: this.next });
    this.next = body.next || "";
    const ownPage = !this.getAttribute("more-href");
    if (body.next && ownPage) this.moreBefore(body.next);
    else if (!body.next && ownPage) this.more.hidden = true;
    return body.added;
  }

  /** A page of the timeline (`params`: limit, and before or after), its headlines placed but
   * never one whose last change seen on the stream is its retraction: the answer, with `added`
   * (headlines not shown before) and `first` (the newest placed). */
  async fetchPage(params) {
    const url = new URL(this.cfg.timeline, import.meta.url);
    const query = { ...this.filter, ...params };
    for (const name in query) if (query[name]) url.searchParams.set(name, query[name]);
    const response = await fetch(url, { credentials: "omit", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`timeline answered ${response.status}`);
    const body = await response.json();
    body.added = 0;
    for (const day of body.days) {
      for (const h of day.items) {
        if ((this.changes.get(h.id) || "").startsWith("retracted|") || this.pinnedArt(h.id)) continue;
        if (!this.items.has(h.id)) body.added += 1;
        const art = this.place(h, false, false);
        body.first = body.first || art;
      }
    }
    return body;
  }
}

if (!customElements.get("livefeed-column")) customElements.define("livefeed-column", LivefeedColumn);
