// The dashboard's live figures: each room's panel is fetched again every 5 seconds
// (same origin, the session cookie). Everything else works without this script.
"use strict";
(function () {
  const EVERY_MS = 5000;
  async function refresh(panel) {
    try {
      const r = await fetch(panel.dataset.figures, { credentials: "same-origin", cache: "no-store" });
      if (r.ok) panel.innerHTML = await r.text();
    } catch (e) {
      // Offline for a moment: keep the last figures; the next round tries again.
    }
  }
  function round() {
    if (document.hidden) return;
    document.querySelectorAll("[data-figures]").forEach(refresh);
  }
  setInterval(round, EVERY_MS);
})();
