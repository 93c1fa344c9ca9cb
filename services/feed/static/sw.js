// livefeed's service worker (/sw.js, scope: the feed origin): breaking-news alerts.
//
// The notifier sends two kinds of encrypted push message (Web Push, RFC 8291):
//   {"type": "alert", "tag": "<article id>", "title", "body", "url", "timestamp"}
//     shows a notification; a later alert with the same tag (an update) replaces it in place;
//   {"type": "close", "tag": "<article id>"}
//     closes that notification: the story was retracted, so the alert must not outlive it.
// A click opens the article (or focuses a tab already showing it).

const FALLBACK_URL = "/";

function safeUrl(raw) {
  try {
    const url = new URL(raw, self.location.origin);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : FALLBACK_URL;
  } catch (error) {
    return FALLBACK_URL;
  }
}

function readMessage(data) {
  if (!data) return null;
  try {
    const message = data.json();
    return message && typeof message === "object" ? message : null;
  } catch (error) {
    return null;
  }
}

async function closeTagged(tag) {
  const shown = await self.registration.getNotifications({ tag });
  for (const notification of shown) notification.close();
}

async function handle(message) {
  if (!message || typeof message.tag !== "string") return;
  if (message.type === "close") {
    await closeTagged(message.tag);
    return;
  }
  if (message.type !== "alert" || typeof message.title !== "string") return;
  await self.registration.showNotification(message.title, {
    body: typeof message.body === "string" ? message.body : "",
    tag: message.tag,
    renotify: false, // an update replaces the notification quietly
    timestamp: Number(message.timestamp) || Date.now(),
    data: { url: safeUrl(message.url || FALLBACK_URL) },
  });
}

async function openTarget(url) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (client.url === url && "focus" in client) return client.focus();
  }
  return self.clients.openWindow(url);
}

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("push", (event) => event.waitUntil(handle(readMessage(event.data))));
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = safeUrl((event.notification.data || {}).url || FALLBACK_URL);
  event.waitUntil(openTarget(url));
});
