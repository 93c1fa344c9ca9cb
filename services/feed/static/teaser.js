// livefeed: <livefeed-teaser limit href section label lang>, the home page's strip of the newest
// headlines, each a link to the column's page at that headline (<href>?at=<id>).
//
// The server renders it as a declarative shadow root (services/feed/teaser.py, teaser.css); the
// element hydrates that markup in place, or fetches the same fragment (/v1/fragment?view=teaser)
// once when created empty. It listens on the page's one hub (core.js): a teaser and the columns
// of a site share one connection. Served in the same module as core.js and column.js.

import { Hub, LivefeedElement, Words, compareIds, el, filterOf, keyOf, keyOfEl, matchesFilter, newer } from "./core.js";
import { siteOf, stored, zoneCols } from "./zone.js";

const TEASER_CSS = /*@teaser-css*/ "";

/** `href` with `at=<id>` in its query (any `at` it had replaced), before any #fragment
 * (permalink.py href writes the same). */
function atHref(href, id) {
  const cut = href.indexOf("#"), base = cut < 0 ? href : href.slice(0, cut), q = base.indexOf("?");
  const params = new URLSearchParams(q < 0 ? "" : base.slice(q + 1));
  params.set("at", id);
  return `${q < 0 ? base : base.slice(0, q)}?${params}${cut < 0 ? "" : href.slice(cut)}`;
}

class LivefeedTeaser extends LivefeedElement {
  static get observedAttributes() { return ["section", "label", "limit", "href", "lang"]; }

  get shell() { return ".teaser"; }

  get css() { return TEASER_CSS; }

  get limit() {
    return Number.parseInt(this.getAttribute("limit"), 10) || 3;
  }

  fragmentUrl() {
    const url = new URL(this.cfg.fragment, import.meta.url);
    url.searchParams.set("view", "teaser");
    for (const name of LivefeedTeaser.observedAttributes) {
      if (this.getAttribute(name)) url.searchParams.set(name, this.getAttribute(name));
    }
    return url;
  }

  bind(root) {
    const q = (s) => root.querySelector(s);
    this.root = root;
    this.words = new Words(JSON.parse(q("script[data-lf-messages]").textContent),
      this.getAttribute("lang") || document.documentElement.lang);
    this.list = q(".list");
    this.mark = q(".mark");
    this.empty = q(".empty");
    this.lastId = this.dataset.eventId || null;
    this.gone = new Set(); // retracted here: a refill never brings one back
    // Times in the zone the reader chose on this site's column ("My time zone": zone.js), and
    // switched with it.
    this.setZone = (on) => {
      this.zone = on ? Intl.DateTimeFormat().resolvedOptions().timeZone || this.cfg.zone : this.cfg.zone;
      for (const time of this.list.querySelectorAll("time[datetime]")) {
        time.textContent = this.words.clock(time.dateTime, this.zone);
        time.title = this.words.fullTime(time.dateTime, this.zone);
      }
    };
    this.setZone(stored(`livefeed.zone|${siteOf(this)}`) === "mine");
    zoneCols.add(this);
    this.dataset.ready = "true";
    if (this.hub && this.hub.cols.has(this)) {
      this.setState(this.hub.state);
      this.hub.catchUp(this);
    } else {
      (this.hub = Hub.for(this.cfg)).add(this);
    }
  }

  /** The "Live" mark says the connection's state when it is not live (and dims). */
  setState(state) {
    if (!this.mark) return;
    const text = this.mark.querySelector(".mark-text");
    this.mark.dataset.state = state;
    text.textContent = text.dataset[state] || text.dataset.live;
  }

  receive(msg) {
    if (!this.root || compareIds(msg.event_id, this.lastId) <= 0) return; // never twice
    this.lastId = this.dataset.lastEventId = msg.event_id;
    if (!msg.headline) return; // not an article's (a summary): nothing for the strip
    const h = msg.headline;
    if (msg.type === "retracted" || !matchesFilter(filterOf(this), h)) {
      if (msg.type === "retracted") this.gone.add(h.id);
      const old = this.find(h.id);
      if (old) { old.remove(); this.refill(); }
      return;
    }
    this.gone.delete(h.id);
    this.place(h, true);
  }

  find(id) {
    return [...this.list.children].find((li) => li.dataset.id === id);
  }

  /** `h` in its place, newest first (an update in place); the oldest leaves beyond `limit`. */
  place(h, live) {
    const key = keyOf(h.published_at, h.id), old = this.find(h.id);
    const next = [...this.list.children].find((li) => li !== old && newer(key, keyOfEl(li)));
    if (!old && !next && this.list.children.length >= this.limit) return; // older than all shown
    const li = this.item(h);
    if (old) old.remove();
    if (live && !old) li.classList.add("fresh");
    this.list.insertBefore(li, next || null);
    while (this.list.children.length > this.limit) this.list.lastElementChild.remove();
    this.empty.hidden = true;
  }

  /** One headline (teaser.py render_item writes the same markup). */
  item(h) {
    const li = el("li", "item", undefined, "item");
    li.dataset.id = h.id;
    li.dataset.published = h.published_at;
    const link = el("a", "link", undefined, "link");
    link.href = atHref(this.mark.getAttribute("href"), h.id); // the server checked href
    const time = el("time", "time", this.words.clock(h.published_at, this.zone), "time");
    time.dateTime = h.published_at;
    time.title = this.words.fullTime(h.published_at, this.zone);
    const title = el("span", "title", h.title, "title");
    title.dir = "auto";
    link.append(time, " ", title);
    li.append(link);
    return li;
  }

  /** A headline left: the next newest takes its place, quietly (on failure the strip stays one
   * short until the next headline). */
  async refill() {
    this.empty.hidden = this.list.children.length > 0;
    if (this.list.children.length >= this.limit) return;
    const url = new URL(this.cfg.timeline, import.meta.url), f = filterOf(this);
    url.searchParams.set("limit", String(this.limit));
    for (const name of ["section", "label", "lang"]) if (f[name]) url.searchParams.set(name, f[name]);
    try {
      const response = await fetch(url, { cache: "no-cache", credentials: "omit", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`timeline answered ${response.status}`);
      for (const day of (await response.json()).days) {
        for (const h of day.items) if (!this.gone.has(h.id) && !this.find(h.id)) this.place(h, false);
      }
    } catch (error) {
      console.warn("livefeed: could not refill the teaser", error);
    }
    this.empty.hidden = this.list.children.length > 0;
  }
}

if (!customElements.get("livefeed-teaser")) customElements.define("livefeed-teaser", LivefeedTeaser);
