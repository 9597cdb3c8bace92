// The kiosk's service worker (served as /sw.js by kiosk/offline.py, which fills in
// __VERSION__ and the asset list). A page that cannot be fetched — the server
// restarting, the network down, a proxy answering 502/504 — shows the cached
// offline page, which waits for the kiosk and goes home by itself, instead of
// Chromium's error page with no way back (issue 19.3). Nothing else is cached:
// kiosk pages are personal and must come from the server or not at all.
"use strict";
var CACHE = "kiosk-offline-__VERSION__";
var ASSETS = ["__ASSETS__"];
var OFFLINE = ASSETS[0];

self.addEventListener("install", function (ev) {
  ev.waitUntil(caches.open(CACHE).then(function (cache) {
    // "reload": the files as the server has them now, not from the HTTP cache.
    return cache.addAll(ASSETS.map(function (url) { return new Request(url, { cache: "reload" }); }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (ev) {
  ev.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("kiosk-offline-") === 0 && k !== CACHE; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () {
    // Navigation preload: the page's request starts while the worker wakes up.
    return self.registration.navigationPreload ? self.registration.navigationPreload.enable() : null;
  }).then(function () { return self.clients.claim(); }));
});

function offlinePage() {
  return caches.open(CACHE).then(function (cache) { return cache.match(OFFLINE); })
    .then(function (found) { return found || Response.error(); });
}

self.addEventListener("fetch", function (ev) {
  var req = ev.request;
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) { return; }
  if (req.mode === "navigate") {
    ev.respondWith(Promise.resolve(ev.preloadResponse).then(function (pre) { return pre || fetch(req); })
      .then(function (res) { return (res.status === 502 || res.status === 504) ? offlinePage() : res; })
      .catch(offlinePage));
    return;
  }
  if (req.method === "GET" && ASSETS.indexOf(url.pathname) > 0) {
    // The offline page's own files: from the server while it answers, else the cached copy.
    ev.respondWith(fetch(req).catch(function () {
      return caches.open(CACHE).then(function (cache) { return cache.match(url.pathname); })
        .then(function (found) { return found || Response.error(); });
    }));
  }
});
