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
  const original = document.getElementById("original-video");
  const faceVideo = document.getElementById("face-video");
  const canvas = document.getElementById("timeline");
  const tip = document.getElementById("timeline-tip");
  const nowEmoji = document.getElementById("now-emoji"), nowLabel = document.getElementById("now-label");
  const loopBox = document.getElementById("loop-event");
  let R = null, duration = 1, P = null, RV = null, statsView = "machine";
  const PAD = 12, H = 156;
  const LANE = { band: [8, 22], micro: [32, 62], macro: [39, 55], reviewed: [68, 82], talk: [86, 89], motion: [94, 132] };

  function xOf(t) { return PAD + (canvas.clientWidth - 2 * PAD) * Math.max(0, Math.min(1, t / duration)); }
  function tOf(x) { return Math.max(0, Math.min(duration, (x - PAD) / (canvas.clientWidth - 2 * PAD) * duration)); }
  function eventBox(e) {
    const x0 = xOf(e.start_s), x1 = Math.max(xOf(e.end_s), x0 + 6), [y0, y1] = LANE[e.kind === "micro" ? "micro" : "macro"];
    return { x0, x1, y0, y1 };
  }
  function now() { return P ? P.time() : 0; }
  function stateAt(t) {
    const ev = (R.events || []).find((e) => t >= e.start_s && t <= e.end_s);
    if (ev) return { label: ev.label, kind: ev.kind };
    const row = (R.timeline || []).find((s) => Math.floor(t) === s.second);
    return { label: row && row.state ? row.state : "neutral", kind: "" };
  }
  function box(g, x0, y0, w, h, r) {
    g.beginPath();
    if (g.roundRect) g.roundRect(x0, y0, w, h, r); else g.rect(x0, y0, w, h);
  }
  function drawBand(g) {
    (R.timeline || []).forEach((s) => {
      const x0 = xOf(s.second), x1 = xOf(Math.min(duration, s.second + 1));
      g.fillStyle = ML.color(s.state || "neutral");
      // an event's label, else (schema 3) what the prior reads on the face, drawn paler
      g.globalAlpha = s.source === "appearance" ? 0.3 : s.state && s.state !== "neutral" ? 0.55 : 0.35;
      g.fillRect(x0, LANE.band[0], Math.max(1, x1 - x0 - 1), LANE.band[1] - LANE.band[0]);
    });
    g.globalAlpha = 1;
  }
  function drawEvents(g, w) {
    g.fillStyle = "#e2e8f0";
    g.fillRect(PAD, 46, w - 2 * PAD, 2);
    const sel = RV ? RV.selected() : null;
    stacked().forEach((i) => {
      const e = R.events[i], b = eventBox(e), v = RV ? RV.verdictOf(i) : null;
      g.fillStyle = ML.color(e.label);
      g.globalAlpha = (v && v.verdict === "reject" ? 0.25 : 1) * (e.kind === "micro" ? 1 : 0.55);
      box(g, b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0, 3); g.fill();
      g.globalAlpha = 1;
      if (i === sel) { g.strokeStyle = "#0f172a"; g.lineWidth = 2; box(g, b.x0 - 2, b.y0 - 2, b.x1 - b.x0 + 4, b.y1 - b.y0 + 4, 4); g.stroke(); }
      if (e.kind === "micro") {
        const xa = xOf(e.apex_s);
        g.fillStyle = "#0f172a";
        g.beginPath(); g.moveTo(xa, 26); g.lineTo(xa + 4, 31); g.lineTo(xa - 4, 31); g.closePath(); g.fill();
      }
    });
  }
  function drawReviewed(g) {  // what the reviewer confirmed: accepted / relabelled events and added ones
    const [y0, y1] = LANE.reviewed, V = RV ? RV.review() : null;
    if (!V) return;
    (R.events || []).forEach((e, i) => {
      const v = RV.verdictOf(i);
      if (!v || v.verdict === "reject") return;
      g.fillStyle = ML.color(v.label || e.label);
      box(g, xOf(e.start_s), y0, Math.max(4, xOf(e.end_s) - xOf(e.start_s)), y1 - y0, 3); g.fill();
    });
    (V.added || []).forEach((a) => {
      g.fillStyle = ML.color(a.label);
      box(g, xOf(a.start_s), y0, Math.max(4, xOf(a.end_s) - xOf(a.start_s)), y1 - y0, 3); g.fill();
      g.strokeStyle = "#0f172a"; g.lineWidth = 1; g.setLineDash([3, 2]); g.stroke(); g.setLineDash([]);
    });
    const m = RV.marks();  // the missed event being marked
    if (m.on !== null) {
      const x0 = xOf(m.on), x1 = m.off !== null && m.off > m.on ? xOf(m.off) : x0 + 2;
      g.strokeStyle = "#dc2626"; g.lineWidth = 1.5; g.setLineDash([4, 3]);
      g.strokeRect(x0, LANE.micro[0], Math.max(2, x1 - x0), LANE.reviewed[1] - LANE.micro[0]); g.setLineDash([]);
    }
  }
  function drawSignals(g, w) {  // the motion strength the spotter thresholds, and the prior's reading
    const S2 = R.signals, [y0, y1] = LANE.motion;
    g.fillStyle = "#f1f5f9"; g.fillRect(PAD, y0, w - 2 * PAD, y1 - y0);
    if (!S2) { g.fillStyle = "#94a3b8"; g.font = "10px system-ui, sans-serif"; g.textAlign = "left"; g.fillText(S.no_signals, PAD + 4, y1 - 6); return; }
    const top = S2.threshold * 3, yv = (v) => y1 - (y1 - y0) * Math.min(1, v / top), yp = (p) => y1 - (y1 - y0) * p;
    const line = (values, y, color) => {
      g.strokeStyle = color; g.lineWidth = 1.2; g.beginPath();
      let pen = false;
      S2.times.forEach((t, k) => {
        const v = values[k];
        if (v === null || v === undefined) { pen = false; return; }
        if (pen) g.lineTo(xOf(t), y(v)); else g.moveTo(xOf(t), y(v));
        pen = true;
      });
      g.stroke();
    };
    g.setLineDash([4, 3]); g.lineWidth = 1;
    g.strokeStyle = "#0f766e"; g.beginPath(); g.moveTo(PAD, yv(S2.threshold)); g.lineTo(w - PAD, yv(S2.threshold)); g.stroke();
    g.strokeStyle = "#a855f7"; g.beginPath(); g.moveTo(PAD, yp(S2.prior_high)); g.lineTo(w - PAD, yp(S2.prior_high)); g.stroke();
    g.setLineDash([]);
    line(S2.prior, yp, "#a855f7");
    line(S2.motion, yv, "#0f766e");
  }
  function draw() {
    if (!R) return;
    const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth;
    canvas.width = w * dpr; canvas.height = H * dpr;
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, H);
    const lp = P ? P.loop() : null;
    if (lp) { g.fillStyle = "rgba(37, 99, 235, .08)"; g.fillRect(xOf(lp[0]), 4, xOf(lp[1]) - xOf(lp[0]), LANE.motion[1] - 4); }
    drawBand(g);
    g.fillStyle = "#94a3b8";  // when the person talks (the spotter's jaw swings)
    (R.talking || []).forEach(([a, b]) => g.fillRect(xOf(a), LANE.talk[0], Math.max(1, xOf(b) - xOf(a)), LANE.talk[1] - LANE.talk[0]));
    drawEvents(g, w);
    drawReviewed(g);
    drawSignals(g, w);
    g.fillStyle = "#64748b"; g.font = "11px system-ui, sans-serif"; g.textAlign = "center";
    const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => (w - 2 * PAD) / (duration / s) >= 60) || 600;
    for (let t = 0; t <= duration + 1e-6; t += step) {
      const x = xOf(t);
      g.fillRect(x, 136, 1, 5);
      g.fillText(t + "s", x, 153);
    }
    const x = xOf(now());  // playhead
    g.fillStyle = "#0f172a"; g.fillRect(x - 1, 4, 2, LANE.motion[1] - 2);
  }
  // event indices in drawing order: the widest first, so that a short event inside a long one (a
  // micro-expression, or a movement on a face that smiles throughout) is drawn on top of it
  function stacked() {
    const width = (i) => { const b = eventBox(R.events[i]); return b.x1 - b.x0; };
    return (R.events || []).map((e, i) => i).sort((i, j) => width(j) - width(i) || i - j);
  }
  // the event under (x, y), or -1: the topmost one drawn there, so a click on a short event inside
  // a long one picks the short one (the first match picked the long one and seeked to its start)
  function hit(x, y) {
    const under = stacked().filter((i) => {
      const b = eventBox(R.events[i]);
      return x >= b.x0 - 4 && x <= b.x1 + 4 && y >= b.y0 - 6 && y <= b.y1 + 6;
    });
    return under.length ? under[under.length - 1] : -1;
  }
  function loopRange(i) {
    const e = R.events[i];
    return [Math.max(0, e.start_s - 0.5), Math.min(duration, e.end_s + 0.5)];
  }
  function select(i) {
    RV.select(i);
    P.setLoop(loopBox.checked ? loopRange(i) : null);
    P.seek(R.events[i].start_s);
    draw();
  }
  function seek(t) { P.seek(t); update(); draw(); }
  function update() {
    if (!R) return;
    const t = now(), s = stateAt(t);
    nowEmoji.textContent = ML.emoji(s.label);
    nowLabel.textContent = ML.label(s.label) + (s.kind === "micro" ? " · " + ML.label("micro") : "");
    root.dataset.current = s.label;
    document.getElementById("clock").textContent = t.toFixed(3) + " " + S.seconds + " · " + S.frame + " " + P.frameAt(t) + " · " + P.rateNow() + "×";
    document.getElementById("play-button").textContent = P.playing() ? "⏸" : "▶";
  }
  function signalAt(t) {
    const S2 = R.signals;
    if (!S2 || !S2.times.length) return "";
    let k = 0;
    while (k + 1 < S2.times.length && S2.times[k + 1] <= t) k++;
    const m = S2.motion[k], p = S2.prior[k], c = S2.prior_class[k];
    return S.motion + " " + (m === null ? "—" : m.toFixed(1)) + " (" + S.threshold + " " + S2.threshold + ") · " + S.prior + " " +
      (p === null ? "—" : ML.label(S2.prior_labels[c]) + " " + Math.round(100 * p) + "%") + " · " + t.toFixed(2) + " s";
  }

  canvas.addEventListener("click", (ev) => {
    const r = canvas.getBoundingClientRect();
    const x = ev.clientX - r.left, y = ev.clientY - r.top;
    const i = hit(x, y);
    if (i >= 0) select(i); else seek(tOf(x));
  });
  canvas.addEventListener("mousemove", (ev) => {
    const r = canvas.getBoundingClientRect();
    const x = ev.clientX - r.left, y = ev.clientY - r.top;
    const i = hit(x, y);
    let text = "";
    if (i >= 0) {
      const e = R.events[i];
      text = ML.emoji(e.label) + " " + ML.label(e.label) + why(e) + " · " + ML.label(e.kind) + " · " + e.start_s.toFixed(2) + "–" + e.end_s.toFixed(2) + " s · " + Math.round(100 * e.confidence) + "%" + (e.recognizer ? " · " + e.recognizer : "") + (e.talking ? " · " + ML.label("talking") : "") + aus(e);
    } else if (y >= LANE.motion[0] && y <= LANE.motion[1]) text = signalAt(tOf(x));
    if (!text) { tip.classList.add("hidden"); return; }
    tip.textContent = text;
    tip.style.left = x + "px";
    tip.classList.remove("hidden");
  });
  canvas.addEventListener("mouseleave", () => tip.classList.add("hidden"));
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

  function transport() {
    document.getElementById("play-button").addEventListener("click", () => P.toggle());
    document.querySelectorAll(".rate-button").forEach((b) => b.addEventListener("click", () => {
      P.rate(parseFloat(b.dataset.rate));
      document.querySelectorAll(".rate-button").forEach((o) => o.classList.toggle("active", o === b));
    }));
    document.getElementById("step-back").addEventListener("click", () => P.step(-1));
    document.getElementById("step-forward").addEventListener("click", () => P.step(1));
    loopBox.addEventListener("change", () => {
      const i = RV.selected();
      P.setLoop(loopBox.checked && i !== null ? loopRange(i) : null);
      draw();
    });
    document.addEventListener("keydown", (ev) => {
      const t = ev.target;  // typing a note, or a space on a focused button, is not a shortcut
      if (t.closest && (t.closest("input, textarea, select") || (ev.key === " " && t.closest("button")))) return;
      const keys = { ",": () => P.step(-1), ".": () => P.step(1), " ": () => P.toggle(), i: () => RV.mark("on"), o: () => RV.mark("off"),
        l: () => { loopBox.checked = !loopBox.checked; loopBox.dispatchEvent(new Event("change")); } };
      const act = keys[ev.key];
      if (!act || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      ev.preventDefault();
      act();
    });
  }

  function setStats(view) {  // the statistics of the machine's events, the reviewed ones, or both
    statsView = view;
    document.querySelectorAll(".stats-view button").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
    const m = R.stats || {}, V = RV ? RV.review() : null, r = (V && V.stats && V.stats.reviewed) || {};
    const fmt = { ratio: (v) => (v || 0).toFixed(1) + "%" };
    [["changes", "emotion_changes"], ["micro", "micro_count"], ["ratio", "micro_ratio_percent"], ["macro", "macro_count"],
     ["uncertain", "uncertain_count"], ["talking", "talking_count"]].forEach(([id, key]) => {
      const f = fmt[id] || ((v) => String(v || 0));
      document.getElementById("stat-" + id).textContent = view === "machine" ? f(m[key]) : view === "reviewed" ? f(r[key]) : f(m[key]) + " / " + f(r[key]);
    });
    const bars = document.getElementById("per-label"), second = document.getElementById("per-label-reviewed");
    ML.bars(bars, (view === "reviewed" ? r.per_label : m.per_label) || {});
    second.classList.toggle("hidden", view !== "both");
    document.getElementById("per-label-reviewed-title").classList.toggle("hidden", view !== "both");
    if (view === "both") ML.bars(second, r.per_label || {});
    document.getElementById("per-label-title").textContent = view === "both" ? S.machine : "";
  }

  function fill() {
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
      b.addEventListener("click", () => { select(R.events.indexOf(e)); canvas.scrollIntoView({ behavior: "smooth", block: "center" }); });
    });
    const legend = document.getElementById("legend");
    const seen = [...new Set((R.events || []).map((e) => e.label))];
    legend.textContent = "";
    const key = (color, text, height) => {
      const s = ML.el("span"); const i = ML.el("i"); i.style.background = color; if (height) i.style.height = height;
      s.appendChild(i); s.appendChild(document.createTextNode(text)); legend.appendChild(s);
    };
    seen.forEach((k) => key(ML.color(k), ML.emoji(k) + " " + ML.label(k)));
    if ((R.talking || []).length) key("#94a3b8", ML.label("talking"), "3px");
    key("#0f766e", S.motion_legend, "3px");
    key("#a855f7", S.prior_legend, "3px");
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

  fetch(api).then((r) => r.json()).then(async (a) => {
    R = a.result || {};
    const master = original || faceVideo;
    duration = Math.max(0.1, R.duration_s || (master && master.duration) || 1);
    P = ML.player(master, master === faceVideo ? null : faceVideo, R.fps || 30);
    P.onUpdate(() => { update(); draw(); });
    RV = ML.reviewPanel({ url: root.dataset.review, events: () => R.events || [], select, seek, time: now, redraw: draw,
      onChange: () => { setStats(statsView); draw(); } });
    document.querySelectorAll(".stats-view button").forEach((b) => b.addEventListener("click", () => setStats(b.dataset.view)));
    transport();
    fill();
    setStats("machine");
    draw();
    update();
    await RV.load().catch(() => {});
    root.dataset.ready = "1";
  });

  // for tests and power users: where an event is drawn, in page coordinates; the player; the review
  window.mlTimeline = {
    events: () => (R ? R.events : []),
    eventPoint: (i) => {
      const b = eventBox(R.events[i]), r = canvas.getBoundingClientRect();
      return { x: r.left + (b.x0 + b.x1) / 2, y: r.top + (b.y0 + b.y1) / 2 };
    },
    time: now,
    frame: () => (P ? P.frameAt(now()) : 0),
    rate: () => (P ? P.rateNow() : 1),
    loop: () => (P ? P.loop() : null),
    review: () => (RV ? RV.review() : null),
  };
})();
