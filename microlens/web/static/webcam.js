/* Webcam page: getUserMedia -> JPEG frames over a WebSocket (one in flight, stale frames dropped)
   -> a status from the server every 0.4 s: current emotion, spotted micro-expressions, log, stats. */
"use strict";
(function () {
  const ML = window.ML, S = ML.S;
  const $ = (id) => document.getElementById(id);
  const video = $("cam-video"), startB = $("cam-start"), saveB = $("cam-save"), stopB = $("cam-stop");
  const conn = $("conn-state"), errBox = $("cam-error");
  const grab = document.createElement("canvas");
  const MAX_W = 400, FPS = 20;  // cap; the real rate is what the server keeps up with
  let ws = null, stream = null, inFlight = false, timer = null, saving = false, lastSend = 0;
  let sent = 0, acks = [], history = [];

  function setConn(text, cls) { conn.textContent = text; conn.className = "badge " + (cls || ""); }
  function error(msg) { errBox.textContent = msg; errBox.classList.remove("hidden"); }

  async function start() {
    errBox.classList.add("hidden");
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } }, audio: false });
    } catch (e) { error(S.camera_denied + ": " + e.message); return; }
    video.srcObject = stream;
    await video.play().catch(() => {});
    $("cam-empty").classList.add("hidden");
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    const talking = $("opt-talking");
    ws = new WebSocket(proto + location.host + "/ws/live" + (talking.checked ? "" : "?talking_abstain=0"));
    talking.disabled = true;  // fixed for the session (and for its saved recording)
    ws.binaryType = "arraybuffer";
    setConn(S.connecting);
    ws.onopen = () => { setConn(S.live, "live-on"); startB.disabled = true; saveB.disabled = false; stopB.disabled = false; capture(); };
    ws.onmessage = (m) => { const d = JSON.parse(m.data); handle(d); };
    ws.onclose = () => { if (!saving) setConn(S.stopped); cleanup(); };
    ws.onerror = () => { if (!saving) error(S.connection_lost); };
  }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(capture, Math.max(0, lastSend + 1000 / FPS - performance.now()));
  }
  // One frame in flight: the next frame is grabbed from the live camera only when the server has
  // acknowledged the previous one, so frames that would queue up (stale ones) are never sent.
  function capture() {
    if (!ws || ws.readyState !== 1 || inFlight || saving) return;
    if (!video.videoWidth) { timer = setTimeout(capture, 50); return; }
    lastSend = performance.now();
    const s = Math.min(1, MAX_W / video.videoWidth);
    grab.width = Math.round(video.videoWidth * s); grab.height = Math.round(video.videoHeight * s);
    grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
    inFlight = true;
    grab.toBlob((b) => {
      if (saving) { inFlight = false; return; }
      if (!b || !ws || ws.readyState !== 1) { inFlight = false; schedule(); return; }
      ws.send(b); sent++;
    }, "image/jpeg", 0.8);
  }
  function cleanup() {
    clearTimeout(timer); timer = null; inFlight = false;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null; video.srcObject = null;
    $("cam-empty").classList.remove("hidden");
    startB.disabled = false; saveB.disabled = true; stopB.disabled = true;
    $("opt-talking").disabled = false;
  }
  function handle(d) {
    if (d.type === "ack") {
      inFlight = false;
      schedule();
      const now = performance.now(); acks.push(now); acks = acks.filter((t) => now - t < 2000);
      $("cam-fps").textContent = acks.length > 1 ? ((acks.length - 1) / ((now - acks[0]) / 1000)).toFixed(1) : "0";
      return;
    }
    if (d.type === "status") return status(d);
    if (d.type === "saved") { setConn(S.saved, "live-on"); ws.close(); window.location.href = d.url; return; }
    if (d.type === "error") { error(d.error); }
  }
  function status(d) {
    const cur = $("current");
    cur.dataset.seq = String(d.seq);
    cur.dataset.updated = String(Date.now());
    cur.dataset.sent = String(d.sent);
    cur.dataset.state = d.state;
    $("current-emoji").textContent = d.emoji;
    $("current-label").textContent = ML.label(d.state);
    $("cam-badge-emoji").textContent = d.emoji;
    $("cam-badge-label").textContent = ML.label(d.state);
    if (!d.face || !d.label) $("current-conf").textContent = "—";
    else if (d.active) $("current-conf").textContent = S.confidence + " " + Math.round(100 * d.confidence) + "%";
    else $("current-conf").textContent = S.calm + (d.source === "appearance" ? "; " + S.read_on_face : "");
    if (d.talking) $("current-conf").textContent += " · " + ML.label("talking");
    $("motion-bar").style.width = (100 * d.motion).toFixed(0) + "%";
    ML.bars($("live-probs"), Object.fromEntries(Object.entries(d.probs).map(([k, v]) => [k, Math.round(100 * v)])), 100);
    // the micro model reads every window, but at rest there is no expression for it to read: its
    // bars are then shown faded, so that they are not taken for the emotion above
    $("live-probs").classList.toggle("at-rest", !d.active);
    $("probs-label").classList.toggle("at-rest", !d.active);
    $("cam-frames").textContent = d.frames;
    $("cam-updated").textContent = new Date().toLocaleTimeString();
    const st = d.stats;
    $("ls-micro").textContent = st.micro_count; $("ls-macro").textContent = st.macro_count;
    $("ls-changes").textContent = st.emotion_changes; $("ls-ratio").textContent = st.micro_ratio_percent + "%";
    $("ls-face").textContent = st.face_coverage_percent + "%"; $("ls-seconds").textContent = Math.round(st.seconds);
    if (d.new_events.some((e) => e.kind === "micro")) {
      const s = $("spotted"); s.classList.remove("hidden");
      clearTimeout(s._t); s._t = setTimeout(() => s.classList.add("hidden"), 1500);
    }
    log(d);
    history.push({ t: d.t, state: d.state, source: d.source, events: d.new_events, talking: d.talking });
    history = history.filter((h) => d.t - h.t < 30);
    drawTimeline(d.t);
  }
  let lastLog = "";
  function log(d) {
    const key = JSON.stringify([d.log, d.events]);
    if (key === lastLog) return;  // rebuild the list only when it changed
    lastLog = key;
    const list = $("live-log");
    const items = d.log.map((e) => ({ t: e.start_s, label: e.label, emoji: e.emoji, d: e.duration_s, micro: false }))
      .concat(d.events.map((e) => ({ t: e.apex_s, label: e.label, emoji: e.emoji, d: e.end_s - e.start_s, micro: e.kind === "micro", kind: e.kind, c: e.confidence, talking: e.talking, why: e.reason })))
      .sort((a, b) => b.t - a.t).slice(0, 60);
    list.textContent = "";
    items.forEach((it) => {
      const li = ML.el("li", { class: it.micro ? "micro" : "" });
      li.appendChild(ML.el("span", { class: "t" }, it.t.toFixed(1) + " s"));
      li.appendChild(ML.el("span", { class: "e" }, it.emoji));
      const why = it.why && it.why !== "talking" ? " (" + ML.label(it.why) + ")" : "";  // talking is said below
      li.appendChild(ML.el("span", {}, ML.label(it.label) + why + (it.kind ? " · " + ML.label(it.kind) + " " + Math.round(100 * it.c) + "%" : "") + (it.talking ? " · " + ML.label("talking") : "")));
      li.appendChild(ML.el("span", { class: "d" }, it.d.toFixed(1) + " s"));
      list.appendChild(li);
    });
  }
  function drawTimeline(now) {
    const c = $("live-timeline"), dpr = window.devicePixelRatio || 1, w = c.clientWidth, h = 56;
    c.width = w * dpr; c.height = h * dpr;
    const g = c.getContext("2d"); g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const x = (t) => w - (now - t) / 30 * w;
    history.forEach((hh, i) => {
      const next = history[i + 1] ? history[i + 1].t : now + 0.4;
      g.fillStyle = ML.color(hh.state); g.globalAlpha = hh.state === "neutral" || hh.source === "appearance" ? 0.4 : 0.8;
      g.fillRect(x(hh.t), 8, Math.max(1, x(next) - x(hh.t)), 18);
      if (hh.talking) { g.globalAlpha = 1; g.fillStyle = "#94a3b8"; g.fillRect(x(hh.t), 27, Math.max(1, x(next) - x(hh.t)), 2); }
      hh.events.forEach((e) => {
        g.globalAlpha = 1; g.fillStyle = ML.color(e.label);
        g.fillRect(x(e.start_s), 30, Math.max(4, x(e.end_s) - x(e.start_s)), e.kind === "micro" ? 20 : 12);
      });
    });
    g.globalAlpha = 1; g.fillStyle = "#64748b"; g.font = "10px system-ui, sans-serif";
    g.fillText("-30 s", 4, 54); g.textAlign = "right"; g.fillText("now", w - 4, 54);
  }
  startB.addEventListener("click", start);
  stopB.addEventListener("click", () => { if (ws && ws.readyState === 1) ws.send(JSON.stringify({ action: "stop" })); if (ws) ws.close(); cleanup(); });
  saveB.addEventListener("click", () => {
    if (!ws || ws.readyState !== 1) return;
    saving = true; clearTimeout(timer); timer = null;
    setConn(S.saving); saveB.disabled = true; stopB.disabled = true;
    ws.send(JSON.stringify({ action: "save" }));
  });
  window.addEventListener("beforeunload", () => { if (ws && !saving) ws.close(); });
})();
