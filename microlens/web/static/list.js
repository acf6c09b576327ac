/* Analyses list: refresh rows of running analyses every 2 s. */
"use strict";
(function () {
  const running = () => document.querySelectorAll(".status-queued, .status-running");
  if (!running().length) return;
  const timer = setInterval(async () => {
    if (!running().length) { clearInterval(timer); return; }
    const r = await fetch("/api/analyses?limit=500");
    if (!r.ok) return;
    const data = await r.json();
    const byId = Object.fromEntries(data.analyses.map((a) => [a.id, a]));
    document.querySelectorAll("tr[data-id]").forEach((tr) => {
      const a = byId[tr.dataset.id];
      const badge = tr.querySelector(".badge");
      if (!a || !badge) return;
      badge.className = "badge status-" + a.status;
      badge.textContent = window.ML.S.status[a.status] || a.status;
      if (a.status === "done") tr.children[4].textContent = String((a.summary || {}).micro_count || 0);
    });
  }, 2000);
})();
