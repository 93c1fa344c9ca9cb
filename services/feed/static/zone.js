// livefeed zone: times a reader can trust. The server renders every time and day header in the
// newsroom's zone (LIVEFEED_TIMEZONE) with a note saying which ("All times Kyiv, UTC+2":
// services/feed/zones.py). When the reader's own zone is at another offset today, the note
// offers a toggle ("My time zone (UTC+1)", aria-pressed): pressed, every time in the column and
// its day headers follow the reader's zone (headlines regroup under the reader's days, live
// ones and "More news" pages too); released, the newsroom's view is back. The choice is kept
// in this browser only: localStorage "livefeed.zone|<feed origin>" = "mine" (nothing is sent).

import { keyOfEl, offsetIn } from "./core.js";

// The page's columns with a toggle (and its teasers), to switch together.
export const zoneCols = new Set();

/** localStorage `key` (a string or null); with `value`, set it (null: remove it). A browser
 * that refuses storage (blocked, private mode, quota) leaves the column remembering nothing. */
export function stored(key, value) {
  try {
    if (value === undefined) return localStorage.getItem(key);
    if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, value);
  } catch (error) {
    // SecurityError or QuotaExceededError: nothing is remembered, nothing breaks.
  }
  return null;
}

/** The feed's origin: one site's columns share what they remember, another feed's do not. */
export function siteOf(col) {
  return new URL(col.cfg.timeline, import.meta.url).origin;
}

/** "UTC+2", "UTC+5:30", "UTC-3", "UTC" (services/feed/zones.py writes the same). */
export function utcOffset(when, zone) {
  return `UTC${offsetIn(when, zone, "shortOffset").replace(/^[+-]0$/, "")}`;
}

/** The day (YYYY-MM-DD) `when` falls on in `zone`. */
export function dayIn(when, zone) {
  const parts = new Intl.DateTimeFormat("en", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
    .formatToParts(new Date(when));
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

/** The day headline `h` stands under in the column's zone (the server's `date` in its own). */
export function zoneDay(col, h) {
  return col.zone === col.cfg.zone && h.date ? h.date : dayIn(h.published_at, col.zone);
}

/** Every time in the column written again in `zone`, the day's headlines regrouped. */
function rezone(col, zone) {
  if (!col.root || col.zone === zone) return;
  col.zone = zone;
  for (const art of col.root.querySelectorAll("article.item")) {
    for (const time of art.querySelectorAll("time[datetime]")) {
      const clock = col.words.clock(time.dateTime, zone);
      time.textContent = time.classList.contains("correction-time") ? col.words.t("Corrected {time}", { time: clock }) : clock;
      time.title = col.words.fullTime(time.dateTime, zone);
    }
    if (art.closest(".timeline")) {
      art.remove();
      col.insertSorted(art, dayIn(art.dataset.published, zone), keyOfEl(art));
    }
  }
  for (const day of col.timeline.querySelectorAll("section.day")) if (!day.querySelector("article.item")) day.remove();
  col.renumber();
  if (col.summary) col.summary.refresh(); // its "Updated 16:55" too (summary.js)
}

/** The note's words in the column's language, its toggle and the reader's remembered choice. */
export function zoneBind(col) {
  const note = col.root.querySelector(".zone-note");
  const mine = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!note || !col.zone || !mine) return;
  const now = new Date(), city = note.dataset.city, text = note.querySelector(".zone-text");
  const theirs = col.words.t(city ? "All times {city}, {offset}" : "All times {offset}", { city, offset: utcOffset(now, col.zone) });
  text.textContent = theirs;
  const offset = utcOffset(now, mine), key = `livefeed.zone|${siteOf(col)}`;
  // The same clock today: nothing to offer.
  if (offset === utcOffset(now, col.cfg.zone)) return;
  const button = note.querySelector(".zone-toggle");
  button.textContent = col.words.t("My time zone ({offset})", { offset });
  button.hidden = false;
  col.setZone = (on) => {
    button.setAttribute("aria-pressed", String(on));
    text.textContent = on ? col.words.t("All times in your time zone, {offset}", { offset }) : theirs;
    rezone(col, on ? mine : col.cfg.zone);
  };
  button.addEventListener("click", () => {
    const on = button.getAttribute("aria-pressed") !== "true";
    stored(key, on ? "mine" : null);
    for (const other of zoneCols) {
      if (!other.isConnected) zoneCols.delete(other);
      else if (siteOf(other) === siteOf(col)) other.setZone(on);
    }
  });
  zoneCols.add(col);
  if (stored(key) === "mine") col.setZone(true);
}
