// livefeed clicks: a reader who opens a headline (click, middle-click, Enter on its link) in a
// column or teaser sends one beacon with the article's id to the feed (POST /v1/clicks,
// services/feed/clicks.py), once per headline per page. Nothing else: no cookie, no storage,
// no identifier; nothing at all under Global Privacy Control or Do Not Track, or when the site
// counts no clicks (SERVER.clicks empty). One listener for the page, on the window.

const clicked = new Set();
function sendClick(event) {
  const target = event.composedPath()[0], link = target.closest && target.closest(".item a:not(.time-link)"), url = SERVER && SERVER.clicks;
  const id = link && /^livefeed-/.test(link.getRootNode().host?.localName) && link.closest(".item").dataset.id;
  if (id && url && event.button < 2 && !navigator.globalPrivacyControl && ![navigator.doNotTrack, window.doNotTrack].includes("1") && !clicked.has(id)) {
    clicked.add(id);
    navigator.sendBeacon(url, new Blob([JSON.stringify({ id })], { type: "text/plain" }));
  }
}
addEventListener("click", sendClick, true);
addEventListener("auxclick", sendClick, true);
