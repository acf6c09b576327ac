/* microlens shared helpers: translated strings, emotion colours, delete buttons. */
"use strict";
window.ML = (function () {
  const node = document.getElementById("strings");
  const S = node ? JSON.parse(node.textContent) : { labels: {}, status: {} };
  const COLORS = {
    happiness: "#f59e0b", positive: "#f59e0b", surprise: "#0ea5e9", disgust: "#16a34a",
    repression: "#8b5cf6", sadness: "#3b82f6", fear: "#a855f7", anger: "#ef4444",
    contempt: "#f97316", negative: "#e11d48", others: "#94a3b8", neutral: "#cbd5e1", uncertain: "#9ca3af", no_face: "#475569", "no face": "#475569",
  };
  const EMOJI = {
    happiness: "😊", positive: "😊", surprise: "😮", disgust: "🤢", repression: "😶", sadness: "😢",
    fear: "😨", anger: "😠", contempt: "😒", negative: "☹️", others: "😐", neutral: "😐", uncertain: "❔",
    "no face": "🚫", no_face: "🚫", "warming up": "⏳",
  };
  function label(k) { return (S.labels && S.labels[k]) || k; }
  function color(k) { return COLORS[k] || "#64748b"; }
  function emoji(k) { return EMOJI[k] || "❔"; }
  function fmt(s) { return (Math.round(s * 10) / 10).toFixed(1) + " " + (S.seconds || "s"); }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => { if (k === "class") e.className = v; else e.setAttribute(k, v); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function bars(container, counts, total) {
    counts = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, typeof v === "object" ? (v.total || 0) : v]));
    const keys = Object.keys(counts);
    const max = total || Math.max(1, ...keys.map((k) => counts[k]));
    if (container.dataset.keys === keys.join(",")) {  // same rows: update in place
      container.querySelectorAll(".bar-row").forEach((row, i) => {
        row.querySelector(".bar-fill").style.width = (100 * counts[keys[i]] / max).toFixed(1) + "%";
        row.querySelector(".bar-num").textContent = String(counts[keys[i]]);
      });
      return;
    }
    container.dataset.keys = keys.join(",");
    container.textContent = "";
    keys.forEach((k) => {
      const row = el("div", { class: "bar-row" });
      row.appendChild(el("span", {}, emoji(k) + " " + label(k)));
      const track = el("div", { class: "bar-track" });
      const fill = el("div", { class: "bar-fill" });
      fill.style.width = (100 * counts[k] / max).toFixed(1) + "%";
      fill.style.background = color(k);
      track.appendChild(fill);
      row.appendChild(track);
      row.appendChild(el("span", { class: "bar-num" }, String(counts[k])));
      container.appendChild(row);
    });
  }
  document.addEventListener("click", async (ev) => {
    const b = ev.target.closest(".js-delete");
    if (!b) return;
    ev.preventDefault();
    if (!window.confirm(S.delete_confirm)) return;
    b.disabled = true;
    const r = await fetch("/api/analyses/" + encodeURIComponent(b.dataset.id), { method: "DELETE" });
    if (r.ok || r.status === 404) {
      if (b.dataset.after) { window.location.href = b.dataset.after; return; }
      const row = b.closest("tr");
      if (row) row.remove();
    } else { b.disabled = false; }
  });
  return { S, label, color, emoji, fmt, el, bars };
})();
