// livefeed summary: the live summary at the top of the column. The server renders it, with
// each scope the column may show in data-scopes (services/feed/summary_view.py); the
// stream's `summary` frames keep it current. The column shows the most specific scope that
// holds one: (section, edition), (section, any), (feed, edition), (feed, any), as
// shared/summary.py orders them. Paragraphs only ever go in as text.

import { compareIds, el } from "./core.js";

const scopeOf = (s) => `${s.section || ""}|${s.lang || ""}`;

export class LiveSummary {
  constructor(col, root) {
    this.col = col;
    this.box = root.querySelector(".summary");
    this.scopes = new Map(); // "section|lang" -> {event_id, summary}
    try {
      for (const state of JSON.parse((this.box && this.box.dataset.scopes) || "[]")) this.scopes.set(scopeOf(state), state);
    } catch (error) {
      console.warn("livefeed: unreadable summaries", error);
    }
    this.sig = this.signature(this.current()); // what the server rendered
  }

  /** The scopes this column may show, the most specific first. */
  order() {
    const { section, lang } = this.col.filter, out = [];
    for (const s of section ? [section, ""] : [""]) for (const l of lang ? [lang, ""] : [""]) out.push(`${s}|${l}`);
    return out;
  }

  current() {
    for (const key of this.order()) {
      const state = this.scopes.get(key);
      if (state && state.summary) return state.summary;
    }
    return null;
  }

  signature(s) {
    return s ? `${s.updated_at}\n${s.text}` : "";
  }

  /** A `summary` frame: the new state of its scope (a frame this column already reflects, by
   * its event id, or one of a scope it never shows, changes nothing). */
  receive(msg) {
    const key = scopeOf(msg), known = this.scopes.get(key);
    if (!this.box || !this.order().includes(key) || (known && compareIds(msg.event_id, known.event_id) <= 0)) return;
    this.scopes.set(key, { event_id: msg.event_id, summary: msg.summary || null });
    this.show();
  }

  /** Draw it again in place, quietly (the column's zone or words changed). */
  refresh() {
    this.sig = null;
    this.show(true);
  }

  show(quiet) {
    const s = this.current(), sig = this.signature(s), words = this.col.words, zone = this.col.zone;
    if (sig === this.sig) return;
    this.sig = sig;
    const stamp = this.box.querySelector(".summary-time");
    this.box.hidden = !s;
    this.box.querySelector(".summary-text").replaceChildren(...(s ? String(s.text).split("\n\n").map((p) => el("p", "", p)) : []));
    stamp.textContent = s ? words.t("Updated {time}", { time: words.clock(s.updated_at, zone) }) : "";
    stamp.dateTime = s ? s.updated_at : "";
    stamp.title = s ? words.fullTime(s.updated_at, zone) : "";
    if (!s || quiet) return;
    this.box.classList.remove("fresh");
    void this.box.offsetWidth; // restart the highlight
    this.box.classList.add("fresh");
    this.col.announce(words.t("Summary updated."));
  }
}
