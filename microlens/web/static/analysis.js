/* Analysis page: live job progress, then the timeline synchronised with the face video. */
"use strict";
(function () {
  const ML = window.ML, S = ML.S;
  const root = document.getElementById("analysis");
  if (!root) return;
  const api = root.dataset.api;

  // ---- job progress -------------------------------------------------------------------------
  if (root.dataset.status === "queued" || root.dataset.status === "running") {
    const bar = document.getElementById("job-bar"), pct = document.getElementById("job-pct");
    const stage = document.getElementById("job-stage"), badge = document.getElementById("status-badge");
    const set = (p) => { bar.style.width = (100 * p).toFixed(1) + "%"; pct.textContent = Math.floor(100 * p) + "%"; };
    set(parseFloat(bar.dataset.value || "0"));
    document.getElementById("cancel-button").addEventListener("click", async (e) => {
      if (!window.confirm(S.cancel_confirm)) return;
      e.target.disabled = true;
      await fetch(root.dataset.cancel, { method: "POST" });
    });
    const poll = async () => {
      try {
        const r = await fetch(api + "?light=1");
        if (r.status === 404) { window.location.href = root.dataset.list; return; }
        const a = await r.json();
        set(a.progress || 0);
        stage.textContent = S.stage + ": " + ((S.stages || {})[a.stage] || a.stage || "");
        badge.textContent = S.status[a.status] || a.status;
        badge.className = "badge status-" + a.status;
        if (a.status !== "queued" && a.status !== "running") { window.location.reload(); return; }
      } catch (err) { /* retry */ }
      setTimeout(poll, 500);
    };
    setTimeout(poll, 300);
    return;
  }
  if (root.dataset.status !== "done") return;

  // ---- results ------------------------------------------------------------------------------
  const video = document.getElementById("face-video");
  const canvas = document.getElementById("timeline");
  const tip = document.getElementById("timeline-tip");
  const nowEmoji = document.getElementById("now-emoji"), nowLabel = document.getElementById("now-label");
  let R = null, duration = 1;
  const PAD = 12;

  function xOf(t) { return PAD + (canvas.clientWidth - 2 * PAD) * Math.max(0, Math.min(1, t / duration)); }
  function tOf(x) { return Math.max(0, Math.min(duration, (x - PAD) / (canvas.clientWidth - 2 * PAD) * duration)); }
  function eventBox(e) {
    const x0 = xOf(e.start_s), x1 = Math.max(xOf(e.end_s), x0 + 6);
    return e.kind === "micro" ? { x0, x1, y0: 34, y1: 70 } : { x0, x1, y0: 42, y1: 62 };
  }
  function stateAt(t) {
    const ev = (R.events || []).find((e) => t >= e.start_s && t <= e.end_s);
    if (ev) return { label: ev.label, kind: ev.kind };
    const row = (R.timeline || []).find((s) => Math.floor(t) === s.second);
    return { label: row && row.state ? row.state : "neutral", kind: "" };
  }
  function draw() {
    if (!R) return;
    const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth, h = 96;
    canvas.width = w * dpr; canvas.height = h * dpr;
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    // per-second state band
    (R.timeline || []).forEach((s) => {
      const x0 = xOf(s.second), x1 = xOf(Math.min(duration, s.second + 1));
      g.fillStyle = ML.color(s.state || "neutral");
      // an event's label, else (schema 3) what the prior reads on the face, drawn paler
      g.globalAlpha = s.source === "appearance" ? 0.3 : s.state && s.state !== "neutral" ? 0.55 : 0.35;
      g.fillRect(x0, 10, Math.max(1, x1 - x0 - 1), 14);
    });
    g.globalAlpha = 1;
    // when the person talks (the spotter's jaw swings): a thin grey band under the events
    g.fillStyle = "#94a3b8";
    (R.talking || []).forEach(([a, b]) => g.fillRect(xOf(a), 72, Math.max(1, xOf(b) - xOf(a)), 3));
    // event lane
    g.fillStyle = "#e2e8f0";
    g.fillRect(PAD, 51, w - 2 * PAD, 2);
    (R.events || []).forEach((e) => {
      const b = eventBox(e);
      g.fillStyle = ML.color(e.label);
      g.globalAlpha = e.kind === "micro" ? 1 : 0.55;
      g.beginPath();
      if (g.roundRect) g.roundRect(b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0, 3); else g.rect(b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0);
      g.fill();
      if (e.kind === "micro") {
        const xa = xOf(e.apex_s);
        g.globalAlpha = 1; g.fillStyle = "#0f172a";
        g.beginPath(); g.moveTo(xa, 28); g.lineTo(xa + 4, 33); g.lineTo(xa - 4, 33); g.closePath(); g.fill();
      }
    });
    g.globalAlpha = 1;
    // axis
    g.fillStyle = "#64748b"; g.font = "11px system-ui, sans-serif"; g.textAlign = "center";
    const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => (w - 2 * PAD) / (duration / s) >= 60) || 600;
    for (let t = 0; t <= duration + 1e-6; t += step) {
      const x = xOf(t);
      g.fillRect(x, 76, 1, 5);
      g.fillText(t + "s", x, 93);
    }
    // playhead
    if (video) {
      const x = xOf(video.currentTime || 0);
      g.fillStyle = "#0f172a"; g.fillRect(x - 1, 4, 2, 74);
    }
  }
  function hit(x, y) {
    return (R.events || []).findIndex((e) => {
      const b = eventBox(e);
      return x >= b.x0 - 4 && x <= b.x1 + 4 && y >= b.y0 - 8 && y <= b.y1 + 8;
    });
  }
  function seek(t) {
    if (!video) return;
    video.currentTime = Math.max(0, t);
    update();
    draw();
  }
  function update() {
    if (!R) return;
    const t = video ? video.currentTime || 0 : 0;
    const s = stateAt(t);
    nowEmoji.textContent = ML.emoji(s.label);
    nowLabel.textContent = ML.label(s.label) + (s.kind === "micro" ? " · " + ML.label("micro") : "");
    root.dataset.current = s.label;
  }
  function loop() { update(); draw(); if (video && !video.paused) requestAnimationFrame(loop); }

  canvas.addEventListener("click", (ev) => {
    const r = canvas.getBoundingClientRect();
    const x = ev.clientX - r.left, y = ev.clientY - r.top;
    const i = hit(x, y);
    seek(i >= 0 ? R.events[i].start_s : tOf(x));
  });
  canvas.addEventListener("mousemove", (ev) => {
    const r = canvas.getBoundingClientRect();
    const x = ev.clientX - r.left, y = ev.clientY - r.top;
    const i = hit(x, y);
    if (i < 0) { tip.classList.add("hidden"); return; }
    const e = R.events[i];
    tip.textContent = ML.emoji(e.label) + " " + ML.label(e.label) + why(e) + " · " + ML.label(e.kind) + " · " + e.start_s.toFixed(2) + "–" + e.end_s.toFixed(2) + " s · " + Math.round(100 * e.confidence) + "%" + (e.recognizer ? " · " + e.recognizer : "") + (e.talking ? " · " + ML.label("talking") : "") + aus(e);
    tip.style.left = x + "px";
    tip.classList.remove("hidden");
  });
  canvas.addEventListener("mouseleave", () => tip.classList.add("hidden"));
  if (video) {
    ["play", "seeked", "timeupdate", "loadedmetadata"].forEach((t) => video.addEventListener(t, () => { update(); draw(); }));
    video.addEventListener("play", () => requestAnimationFrame(loop));
  }
  window.addEventListener("resize", draw);

  // the report's face.chosen ("largest of 2 faces") in the page's language (pages.FACE_CHOICES)
  function faceChoice(text) {
    for (const [pattern, words] of S.face_choices || []) {
      const m = new RegExp(pattern).exec(text);
      if (m) return words.replace(/%\((\w+)\)s/g, (_, k) => (m.groups || {})[k] || "");
    }
    return text;
  }

  // why an uncertain event is uncertain (low confidence, neutral face, talking), in brackets
  function why(e) { return e.uncertain_reason ? " (" + ML.label(e.uncertain_reason) + ")" : ""; }
  // the action units the AU detector reads as present on the event's onset->apex flow (FACS codes)
  function aus(e) {
    const present = (e.aus || []).filter((u) => u.present);
    return present.length ? " · " + present.map((u) => u.au + " " + u.name + " " + Math.round(100 * u.p) + "%").join(", ") : "";
  }

  function fill() {
    const stats = R.stats || {};
    ML.bars(document.getElementById("per-label"), stats.per_label || {});
    const body = document.querySelector("#log-table tbody");
    body.textContent = "";
    // a row that would read 0.0 s is a one-frame leftover of the cuts (reports made before the
    // server folded them into a neighbour): not listed
    const rows = (R.log || []).filter((row) => row.duration_s >= 0.05);
    rows.forEach((row) => {
      const tr = ML.el("tr");
      const cell = ML.el("td", {}, (row.emoji || ML.emoji(row.label)) + " " + ML.label(row.label));
      // where the state comes from: a spotted event (micro / macro) or the face read between events
      const from = row.source === "event" ? ML.label(row.kind) : row.source === "appearance" ? S.read_on_face : "";
      if (from) cell.appendChild(ML.el("span", { class: "muted small log-source" }, " · " + from));
      tr.appendChild(cell);
      tr.appendChild(ML.el("td", {}, ML.fmt(row.start_s)));
      tr.appendChild(ML.el("td", {}, ML.fmt(row.duration_s)));
      tr.addEventListener("click", () => seek(row.start_s));
      body.appendChild(tr);
    });
    if (!rows.length) {
      const tr = ML.el("tr"); tr.appendChild(ML.el("td", { colspan: "3", class: "muted" }, S.no_events)); body.appendChild(tr);
    }
    const micros = (R.events || []).filter((e) => e.kind === "micro");
    document.querySelectorAll(".strip").forEach((b) => {
      const e = micros[parseInt(b.dataset.index, 10)];
      if (!e) return;
      document.getElementById("strip-caption-" + b.dataset.index).textContent =
        ML.emoji(e.label) + " " + ML.label(e.label) + why(e) + " · " + ML.fmt(e.apex_s) + " · " + Math.round(100 * e.confidence) + "%" + aus(e);
      b.addEventListener("click", () => { seek(e.start_s); video && video.scrollIntoView({ behavior: "smooth", block: "center" }); });
    });
    const legend = document.getElementById("legend");
    const seen = [...new Set((R.events || []).map((e) => e.label))];
    legend.textContent = "";
    seen.forEach((k) => {
      const s = ML.el("span"); const i = ML.el("i"); i.style.background = ML.color(k);
      s.appendChild(i); s.appendChild(document.createTextNode(ML.emoji(k) + " " + ML.label(k))); legend.appendChild(s);
    });
    if ((R.talking || []).length) {
      const s = ML.el("span"); const i = ML.el("i"); i.style.background = "#94a3b8"; i.style.height = "3px";
      s.appendChild(i); s.appendChild(document.createTextNode(ML.label("talking"))); legend.appendChild(s);
    }
    const rep = R.representative || {};
    if (rep.time_s !== undefined) {
      const what = rep.kind === "micro apex" ? S.rep_micro : S.rep_clear;
      document.getElementById("rep-caption").textContent = what + " · " + ML.fmt(rep.time_s);
    }
    const facts = document.getElementById("facts");
    const face = R.face || {}, vid = R.video || {};
    [[S.face_found, Math.round(100 * (face.coverage || 0)) + "%"],
     [S.face_chosen, face.chosen ? faceChoice(face.chosen) : "—"],
     [S.frame_rate, (R.fps || 0).toFixed(1) + " " + S.fps],
     [S.resolution, (vid.width || 0) + "×" + (vid.height || 0) + " · " + (R.frames || 0) + " " + S.frames]].forEach(([k, v]) => {
      facts.appendChild(ML.el("dt", {}, k)); facts.appendChild(ML.el("dd", {}, v));
    });
    const warn = document.getElementById("warnings");
    (R.warnings || []).forEach((w) => warn.appendChild(ML.el("li", {}, "⚠ " + w)));
    if ((R.warnings || []).length) warn.classList.remove("hidden");
  }

  fetch(api).then((r) => r.json()).then((a) => {
    R = a.result || {};
    duration = Math.max(0.1, R.duration_s || (video && video.duration) || 1);
    fill();
    draw();
    update();
    root.dataset.ready = "1";
  });

  // for tests and power users: where an event is drawn, in page coordinates
  window.mlTimeline = {
    events: () => (R ? R.events : []),
    eventPoint: (i) => {
      const b = eventBox(R.events[i]), r = canvas.getBoundingClientRect();
      return { x: r.left + (b.x0 + b.x1) / 2, y: r.top + (b.y0 + b.y1) / 2 };
    },
  };
})();
