// livefeed permalinks: a link to any headline (services/feed/permalink.py renders the column
// around it, ?at=<id>). Each time is its headline's link and each headline has a small menu
// ("Copy link", "Share"). Around a headline the newest are not loaded: live headlines above
// what is loaded are counted on "Newer headlines" and the "new" pill, never put in the gap;
// "Newer headlines" loads the next newer page (/v1/timeline?after=) until the column joins the
// newest, and from then on it is live as any column. Served in the same module as column.js.

import { el, keyOf, newer } from "./core.js";

/** A cursor ("ms~id") as a sort key; null: the newest are loaded. */
function cursorKey(raw) {
  const i = (raw || "").indexOf("~");
  return i > 0 ? [Number(raw.slice(0, i)), raw.slice(i + 1)] : null;
}

/** The column page (data-page-href: page-href, else the feed's page) with ?at=<id>. */
function permalinkHref(col, id) {
  const url = new URL(col.dataset.pageHref || "/", document.baseURI);
  url.searchParams.set("at", id);
  return url.href;
}

/** The column's `at`: its attribute, else on its own page (page-href) the page's ?at=. */
function permalinkAt(col) {
  const page = col.getAttribute("page-href");
  const own = page && new URL(page, document.baseURI).pathname === location.pathname;
  return col.getAttribute("at") || (own && new URLSearchParams(location.search).get("at")) || "";
}

/** fragmentUrl()'s hook: `at` (until the column has joined the newest) and `page-href`. */
export function permalinkParams(col, url) {
  const at = permalinkAt(col), page = col.getAttribute("page-href");
  if (at && col.joined !== at) url.searchParams.set("at", at);
  if (page) url.searchParams.set("page-href", page);
}

/** bind()'s hook: menus, "Newer headlines", and the reader taken to the headline (once). */
export function permalinkBind(col) {
  for (const art of col.root.querySelectorAll("article.item")) permalinkItem(col, art);
  col.gapIds = new Set();
  const link = (col.newerLink = col.root.querySelector(".newer"));
  col.newerKey = link ? cursorKey(col.dataset.newer) : null;
  if (link) link.addEventListener("click", (event) => { event.preventDefault(); permalinkNewer(col); });
  col.newButton.addEventListener("click", () => { if (!col.buffered.length && col.gapIds.size) link.focus(); });
  const target = col.root.querySelector(".anchor, .at-gone"), at = permalinkAt(col);
  if (!target) return;
  col.anchorId = target.dataset.id;
  col.expanded = true; // nothing is trimmed away under the reader
  if (col.shownAt === at) return;
  col.shownAt = at;
  target.scrollIntoView({ block: "center" });
  target.focus({ preventScroll: true });
}

/** A headline's time as its link (server-rendered ones already are) and its menu: a button
 * that shows "Copy link" (and "Share" where the browser can) below it. The link is no Tab stop:
 * the menu is the keyboard's way to it (one more stop per headline, not two). The headline a
 * permalink opened stays marked when a change rebuilds it. */
export function permalinkItem(col, art) {
  const time = art.querySelector(":scope > time");
  if (time) {
    const link = el("a", "time-link", undefined, "permalink");
    link.tabIndex = -1;
    link.href = permalinkHref(col, art.dataset.id);
    time.replaceWith(link);
    link.append(time);
  }
  if (art.dataset.id === col.anchorId) { art.classList.add("anchor"); art.setAttribute("aria-current", "true"); }
  const button = el("button", "item-more", "⋯", "button item-menu");
  button.type = "button";
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-label", col.words.t("Link to this headline"));
  button.setAttribute("aria-describedby", art.getAttribute("aria-labelledby"));
  button.onclick = () => permalinkMenu(col, button, art);
  art.append(button);
}

function permalinkMenu(col, button, art) {
  const open = col.menuButton === button && !col.itemMenu.hidden;
  permalinkClose(col);
  if (open) return;
  let menu = col.itemMenu;
  if (!menu) {
    menu = col.itemMenu = el("div", "item-menu", undefined, "menu");
    for (const act of navigator.share ? ["Copy link", "Share"] : ["Copy link"]) {
      const item = el("button", "", col.words.t(act));
      item.type = "button";
      item.onclick = () => permalinkAct(col, act);
      menu.append(item);
    }
    menu.onkeydown = (event) => { if (event.key === "Escape") permalinkClose(col, true); };
    menu.addEventListener("focusout", (event) => {
      if (!menu.contains(event.relatedTarget) && event.relatedTarget !== col.menuButton) permalinkClose(col);
    });
  }
  col.menuButton = button;
  col.menuArt = art;
  art.append(menu);
  menu.hidden = false;
  button.setAttribute("aria-expanded", "true");
  menu.firstChild.focus();
}

function permalinkClose(col, refocus) {
  const menu = col.itemMenu;
  if (!menu || menu.hidden) return;
  menu.hidden = true;
  col.menuButton.setAttribute("aria-expanded", "false");
  if (refocus) col.menuButton.focus();
}

async function permalinkAct(col, act) {
  const art = col.menuArt, url = permalinkHref(col, art.dataset.id), share = act === "Share";
  permalinkClose(col, true);
  try {
    if (share) await navigator.share({ title: art.querySelector(".item-title").textContent, url });
    else await navigator.clipboard.writeText(url);
    if (!share) col.announce(col.words.t("Link copied."));
  } catch (error) {
    if (!share) col.announce(col.words.t("Could not copy the link."));
  }
}

/** apply()'s hook: true when `msg` is above what is loaded (held; a new headline counted).
 * While a newer page loads, such changes wait and are applied again once it is in. */
export function permalinkHold(col, msg) {
  const h = msg.headline;
  if (!col.newerKey || col.items.has(h.id) || col.pinnedArt(h.id)) return false;
  if (msg.type === "retracted") {
    if (col.gapIds.delete(h.id)) permalinkCount(col);
    return false;
  }
  if (!newer(keyOf(h.published_at, h.id), col.newerKey)) return false;
  if (col.inflight) col.inflight.push(msg);
  else if (msg.type === "published" && !col.gapIds.has(h.id)) {
    col.gapIds.add(h.id);
    col.noteNew(1);
    permalinkCount(col);
  }
  return true;
}

/** Headlines waiting above what is loaded (the pill's count and `unseen`). */
export function permalinkUnseen(col) {
  return col.gapIds ? col.gapIds.size : 0;
}

function permalinkCount(col) {
  const n = col.gapIds.size, link = col.newerLink;
  if (link && !col.inflight) {
    link.replaceChildren(col.words.t("Newer headlines"));
    if (n) link.append(" ", el("span", "newer-count", col.words.n("{count} new headline", n)));
  }
  col.updateNewButton();
}

/** "Newer headlines": the page just above what is loaded; at the newest, the column is live. */
async function permalinkNewer(col) {
  const link = col.newerLink, focused = col.root.activeElement === link;
  if (col.inflight || !col.newerKey) return;
  col.inflight = [];
  link.setAttribute("aria-disabled", "true");
  link.textContent = col.words.t("Loading…");
  col.timeline.setAttribute("aria-busy", "true");
  try {
    const body = await col.fetchPage({ limit: col.limit, after: col.dataset.newer });
    for (const id of col.gapIds) if (col.items.has(id)) col.gapIds.delete(id);
    col.dataset.newer = body.newer || "";
    col.newerKey = cursorKey(body.newer);
    if (!col.newerKey) {
      col.joined = permalinkAt(col);
      col.gapIds.clear();
      link.parentNode.hidden = true;
      if (focused && body.first) body.first.focus();
    }
    col.announce(col.words.n("{count} newer headline loaded.", body.added));
  } catch (error) {
    col.announce(col.words.t("Could not load newer headlines. Try again."));
  } finally {
    link.removeAttribute("aria-disabled");
    col.timeline.setAttribute("aria-busy", "false");
    const held = col.inflight;
    col.inflight = null;
    for (const msg of held) col.apply(msg);
    permalinkCount(col);
  }
}
