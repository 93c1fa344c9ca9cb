// livefeed since: "5 new since 16:55" above the first headline a returning reader has not seen.
// Each live column remembers, in this browser only, the newest headline it has shown (its sort
// key: published time and id, as keyOf/newer order them) and when: localStorage
// "livefeed.since|<feed origin>|<section>|<label>|<lang>" = {"t", "id", "at"} (nothing is
// sent). On the next visit the headlines newer than that key get a divider above the first of
// them, with their count ("10+" when older pages may hold more) and the time of the last visit
// in the column's zone. Headlines that arrive live during the visit are not counted. The divider
// clears once it has been in view for SEEN_MS (and on the next visit, which remembers anew).

import { el, keyOfEl, newer } from "./core.js";
import { dayIn, siteOf, stored } from "./zone.js";

const SEEN_MS = 3000;
// Key -> the record this page found: read once, so that every column of the view shares it.
const sinceRead = new Map();

/** The stored record, or null (none, or not one of ours: as a first visit). */
function visit(key) {
  try {
    const found = JSON.parse(stored(key));
    if (Number.isFinite(found.t) && typeof found.id === "string" && Number.isFinite(found.at)) return found;
  } catch (error) {
    // None, damaged or not ours: a first visit (the next save writes it anew).
  }
  return null;
}

export function sinceBind(col) {
  if (col.sinceStop) col.sinceStop(); // a rebind (a reload, a reset): the last bind's watchers go
  if (!col.live) return;
  const { section, label, lang } = col.filter;
  const key = `livefeed.since|${siteOf(col)}|${section}|${label}|${lang}`;
  if (!sinceRead.has(key)) sinceRead.set(key, visit(key));
  const last = sinceRead.get(key);
  let best = last ? [last.t, last.id] : null;
  // The newest headline shown while the page is visible (not one added in a background tab,
  // nor one waiting behind "N new headlines" or held by pause: those are not in the column).
  col.sinceSave = () => {
    // Another tab may have shown newer ones.
    const kept = visit(key);
    if (kept && (!best || newer([kept.t, kept.id], best))) best = [kept.t, kept.id];
    if (!document.hidden) {
      for (const art of col.root.querySelectorAll("article.item")) if (!best || newer(keyOfEl(art), best)) best = keyOfEl(art);
    }
    if (best) stored(key, JSON.stringify({ t: best[0], id: best[1], at: Date.now() }));
  };
  if (!col.sinceListening) {
    col.sinceListening = true;
    addEventListener("pagehide", () => col.sinceSave());
    document.addEventListener("visibilitychange", () => col.sinceSave());
  }
  col.sinceSave();
  // What is shown is remembered as it changes. Live headlines land above the divider; updates,
  // retractions and a change of zone move or replace the unseen ones (it follows the first).
  let place = () => {};
  const moved = new MutationObserver(() => { place(); if (!document.hidden) col.sinceSave(); });
  for (const list of [col.timeline, col.pinnedList]) if (list) moved.observe(list, { childList: true, subtree: true });
  col.sinceStop = () => moved.disconnect();
  if (!last) return;
  const lastKey = [last.t, last.id];
  const state = col.since = col.since && col.since.key === key ? col.since
    : { key, ids: new Set(), known: new Set(), start: Date.now(), done: false, told: false };
  // Unseen: newer than the last visit's headline and in the column before this visit began: on
  // its first page, a "More news" page, or the stream's catch-up of a cached fragment (an event
  // id is the server's clock in ms). Headlines published during the visit are not.
  const learn = () => {
    const before = Number.parseInt(col.lastId || "0", 10) < state.start;
    for (const art of col.timeline.querySelectorAll("article.item")) {
      if (state.known.has(art.dataset.id)) continue;
      state.known.add(art.dataset.id);
      if ((before || !art.classList.contains("fresh")) && newer(keyOfEl(art), lastKey)) state.ids.add(art.dataset.id);
    }
  };
  const divider = el("div", "since", undefined, "since");
  divider.setAttribute("role", "separator");
  let timer = 0, inView = false;
  const watch = () => {
    clearTimeout(timer);
    if (inView && !document.hidden) timer = setTimeout(clear, SEEN_MS);
  };
  const seen = new IntersectionObserver((entries) => {
    inView = entries[entries.length - 1].isIntersecting;
    watch();
  });
  const clear = () => {
    state.done = true;
    clearTimeout(timer);
    seen.disconnect();
    document.removeEventListener("visibilitychange", watch);
    divider.remove();
  };
  place = () => {
    if (state.done) return;
    learn();
    const arts = [...col.timeline.querySelectorAll("article.item")];
    const unseen = arts.filter((a) => state.ids.has(a.dataset.id));
    // All gone (cleared), or none yet (a catch-up may bring some).
    if (!unseen.length) { if (state.ids.size) clear(); return; }
    // The oldest shown is unseen and older pages exist: they may hold more.
    const more = Boolean(col.next) && state.ids.has(arts[arts.length - 1].dataset.id);
    const when = new Date(last.at), clock = col.words.pattern("time", when, col.zone);
    const time = dayIn(when, col.zone) === dayIn(Date.now(), col.zone) ? clock
      : col.words.t("{date}, {time}", { date: col.words.pattern("day_date", when, col.zone), time: clock });
    const text = col.words.n(more ? "{count}+ new since {time}" : "{count} new since {time}", unseen.length, { time });
    if (divider.textContent !== text) {
      divider.textContent = text;
      divider.setAttribute("aria-label", text);
    }
    // Inside the headline's article, first (a feed holds articles only): above its time and title.
    if (unseen[0].firstElementChild !== divider) unseen[0].prepend(divider);
    if (!state.told) {
      state.told = true;
      col.announce(text);
    }
  };
  place();
  seen.observe(divider);
  document.addEventListener("visibilitychange", watch);
  col.sinceStop = () => {
    moved.disconnect();
    clearTimeout(timer);
    seen.disconnect();
    document.removeEventListener("visibilitychange", watch);
  };
}
