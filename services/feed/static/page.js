// livefeed: what the live page adds to its <livefeed-column> (the one client, /embed.<hash>.js).
//
// The tab's title counts the headlines the reader has not seen yet, "(3) News — livefeed":
// the column says how many in its `livefeed-unseen` event. The alerts button is alerts.js.

const base = document.title;
document.addEventListener("livefeed-unseen", (event) => {
  const n = event.detail.count;
  document.title = n ? `(${n}) ${base}` : base;
});
