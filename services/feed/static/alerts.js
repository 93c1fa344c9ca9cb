// livefeed: the "Alert me to breaking news" button (the live page and /alerts).
//
// Nothing is asked on load: the page only registers the service worker (/sw.js). A click asks
// for notification permission, subscribes with the server's VAPID key and posts the
// subscription; a second click unsubscribes (DELETE) and forgets it in the browser too.

const button = document.getElementById("alerts");
const note = document.getElementById("alerts-note");
// The button's words in the page's language (page.py alert_button: data-words), by msgid.
let words = {};
try {
  words = JSON.parse(button.dataset.words || "{}");
} catch (error) {
  console.warn("livefeed: unreadable alert words", error);
}
const t = (id, values = {}) => (Object.hasOwn(words, id) ? words[id] : id)
  .replace(/\{(\w+)\}/g, (whole, name) => (Object.hasOwn(values, name) ? String(values[name]) : whole));

function supported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

/** base64url → bytes (the applicationServerKey). */
function keyBytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function say(text) {
  if (note) note.textContent = text;
}

function show(on) {
  button.setAttribute("aria-pressed", on ? "true" : "false");
  button.textContent = t(on ? "Stop breaking-news alerts" : "Alert me to breaking news");
}

async function send(method, body) {
  const response = await fetch(button.dataset.subscriptionsUrl, {
    method,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "omit",
  });
  if (!response.ok && response.status !== 204) {
    let detail = `${response.status}`;
    try {
      detail = (await response.json()).detail || detail;
    } catch (error) {
      // not a problem document: keep the status
    }
    throw new Error(detail);
  }
}

async function subscribe(registration) {
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    say(t("Notifications are blocked for this site: allow them in your browser's site settings."));
    return;
  }
  const key = keyBytes(button.dataset.vapidKey);
  let subscription = await registration.pushManager.getSubscription();
  if (subscription) {
    const current = subscription.options && subscription.options.applicationServerKey;
    if (current && new Uint8Array(current).join() !== key.join()) {
      await subscription.unsubscribe(); // the site changed its keys: subscribe again
      subscription = null;
    }
  }
  if (!subscription) {
    subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: key,
    });
  }
  await send("POST", { subscription: subscription.toJSON() });
  show(true);
  say(t("Alerts on: breaking news will reach you even with this page closed."));
}

async function unsubscribe(registration) {
  const subscription = await registration.pushManager.getSubscription();
  if (subscription) {
    await send("DELETE", { endpoint: subscription.endpoint });
    await subscription.unsubscribe();
  }
  show(false);
  say(t("Alerts off."));
}

async function start() {
  if (!button || !supported()) return;
  const registration = await navigator.serviceWorker.register(button.dataset.workerUrl, {
    scope: "/",
  });
  const existing = await registration.pushManager.getSubscription();
  show(Boolean(existing) && Notification.permission === "granted");
  button.hidden = false;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const ready = await navigator.serviceWorker.ready;
      if (button.getAttribute("aria-pressed") === "true") await unsubscribe(ready);
      else await subscribe(ready);
    } catch (error) {
      say(t("Alerts could not be changed: {error}", { error: error.message || error }));
    } finally {
      button.disabled = false;
    }
  });
}

start().catch((error) => say(t("Alerts are unavailable: {error}", { error: error.message || error })));
