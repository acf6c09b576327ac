/* Results page transport: the original video (master) and the face-crop video (follower) played in
   step, at 1x, 0.5x or 0.25x, stepped frame by frame at the report's frame rate, and looped around a
   time range (the selected event, onset - 0.5 s to offset + 0.5 s). */
"use strict";
window.ML = window.ML || {};
window.ML.player = function (master, follower, fps) {
  const videos = [master, follower].filter(Boolean);
  const main = videos[0] || null;
  const frame = 1 / (fps > 0 ? fps : 30);
  let loop = null;  // [a, b] seconds, or null
  const listeners = [];

  function time() { return main ? main.currentTime || 0 : 0; }
  function notify() { listeners.forEach((fn) => fn(time())); }
  function follow() {  // the face video keeps to the master's time, rate and play state
    if (!follower || follower === main) return;
    if (Math.abs(follower.currentTime - main.currentTime) > (main.paused ? 0.01 : 0.12)) follower.currentTime = main.currentTime;
    if (follower.playbackRate !== main.playbackRate) follower.playbackRate = main.playbackRate;
    if (main.paused && !follower.paused) follower.pause();
    if (!main.paused && follower.paused) follower.play().catch(() => {});
  }
  function seek(t) {
    const dur = main && isFinite(main.duration) ? main.duration : Infinity;
    const to = Math.max(0, Math.min(t, dur));
    videos.forEach((v) => { v.currentTime = to; });
    notify();
  }
  // the frame shown at time t (frame k covers [k/fps, (k+1)/fps)); a step seeks a tenth of a frame
  // into the next one, so that rounding never shows its neighbour
  function frameAt(t) { return Math.max(0, Math.floor(t / frame + 1e-3)); }
  function step(k) {
    videos.forEach((v) => v.pause());
    seek((frameAt(time()) + k + 0.1) * frame);
  }
  function rate(r) { videos.forEach((v) => { v.playbackRate = r; }); notify(); }
  function play() {
    if (!main) return;
    if (loop && (time() < loop[0] - 0.05 || time() >= loop[1])) seek(loop[0]);
    videos.forEach((v) => v.play().catch(() => {}));
  }
  function pause() { videos.forEach((v) => v.pause()); notify(); }
  function toggle() { if (main && main.paused) play(); else pause(); }
  function setLoop(range) { loop = range; }
  function tick() {
    if (!main) return;
    if (loop && !main.paused && time() >= loop[1]) seek(loop[0]);
    follow();
    notify();
    if (!main.paused) requestAnimationFrame(tick);
  }
  if (main) {
    ["seeked", "timeupdate", "loadedmetadata", "pause", "ratechange"].forEach((ev) => main.addEventListener(ev, () => { follow(); notify(); }));
    main.addEventListener("play", () => { follow(); requestAnimationFrame(tick); });
  }
  return {
    main, time, seek, step, rate, play, pause, toggle, setLoop, frameAt,
    playing: () => !!main && !main.paused,
    rateNow: () => (main ? main.playbackRate : 1),
    loop: () => loop,
    onUpdate: (fn) => listeners.push(fn),
  };
};
