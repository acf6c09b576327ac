/* Results page review panel: accept, reject or relabel the selected event (with a note), add an
   event the machine missed by marking its onset and offset at the playhead, and the table of every
   event with its verdict. Talks to /api/analyses/<id>/review (review_api.py). */
"use strict";
window.ML = window.ML || {};
window.ML.reviewPanel = function (opts) {
  const ML = window.ML, S = ML.S;
  const $ = (id) => document.getElementById(id);
  const base = opts.url;  // /api/analyses/<id>/review
  let V = { events: [], added: [], labels: [], counts: {}, stats: {} };
  let selected = null;  // index of the selected machine event
  const marks = { on: null, off: null };

  function verdictOf(i) { return (V.events[i] || {}).verdict ? V.events[i] : null; }
  function verdictText(v) {
    if (!v) return "—";
    if (v.verdict === "accept") return "✓ " + S.accepted;
    if (v.verdict === "reject") return "✗ " + S.rejected;
    return "→ " + ML.emoji(v.label) + " " + ML.label(v.label);
  }
  function fillLabels(select) {
    const keep = select.value;
    select.textContent = "";
    V.labels.forEach((k) => select.appendChild(ML.el("option", { value: k }, ML.emoji(k) + " " + ML.label(k))));
    if (keep && V.labels.includes(keep)) select.value = keep;
  }
  async function send(method, url, body) {
    const r = await fetch(url, { method, headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.error || String(r.status));
    return data;
  }
  async function load() {
    V = await send("GET", base);
    fillLabels($("v-label"));
    fillLabels($("add-label"));
    render();
    opts.onChange(V);
    return V;
  }
  function showSelected() {
    const e = selected === null ? null : opts.events()[selected];
    $("sel-none").classList.toggle("hidden", !!e);
    $("sel-panel").classList.toggle("hidden", !e);
    if (!e) return;
    $("sel-title").textContent = "#" + selected + " · " + ML.emoji(e.label) + " " + ML.label(e.label) + " · " + ML.label(e.kind) + " · " + e.start_s.toFixed(3) + "–" + e.end_s.toFixed(3) + " s · " + Math.round(100 * e.confidence) + "%";
    const v = verdictOf(selected);
    $("sel-verdict").textContent = S.your_verdict + ": " + verdictText(v) + (v && v.note ? " · " + v.note : "");
    $("v-note").value = v ? v.note || "" : "";
    if (v && v.verdict === "relabel") $("v-label").value = v.label;
    $("v-clear").disabled = !v;
  }
  function row(cells, onClick) {
    const tr = ML.el("tr");
    cells.forEach((c) => { const td = ML.el("td"); if (c instanceof Node) td.appendChild(c); else td.textContent = c; tr.appendChild(td); });
    if (onClick) tr.addEventListener("click", onClick);
    return tr;
  }
  function render() {
    const body = document.querySelector("#review-table tbody");
    body.textContent = "";
    opts.events().forEach((e, i) => {
      const v = verdictOf(i);
      const tr = row([String(i), e.start_s.toFixed(2) + "–" + e.end_s.toFixed(2) + " s", ML.label(e.kind),
        ML.emoji(e.label) + " " + ML.label(e.label), verdictText(v), v ? v.note || "" : "", ""], () => opts.select(i));
      tr.dataset.event = String(i);
      tr.dataset.verdict = v ? v.verdict : "";
      if (i === selected) tr.classList.add("selected");
      body.appendChild(tr);
    });
    (V.added || []).forEach((a) => {
      const del = ML.el("button", { type: "button", class: "btn btn-small btn-ghost", "data-added": String(a.id) }, S.delete_added);
      del.addEventListener("click", async (ev) => { ev.stopPropagation(); await send("DELETE", base + "/added/" + a.id); await load(); });
      const tr = row(["+", a.start_s.toFixed(2) + "–" + a.end_s.toFixed(2) + " s", ML.label(a.kind), "—",
        "✚ " + ML.emoji(a.label) + " " + ML.label(a.label), a.note || "", del], () => opts.seek(a.start_s));
      tr.classList.add("added-row");
      body.appendChild(tr);
    });
    const c = V.counts || {};
    $("review-counts").textContent = [S.accepted + " " + (c.accepted || 0), S.relabelled + " " + (c.relabelled || 0),
      S.rejected + " " + (c.rejected || 0), S.unreviewed + " " + (c.unreviewed || 0), S.added + " " + (c.added || 0)].join(" · ");
    showSelected();
  }
  async function verdict(kind) {
    if (selected === null) return;
    const body = { verdict: kind, note: $("v-note").value };
    if (kind === "relabel") body.label = $("v-label").value;
    try { await send("PUT", base + "/events/" + selected, body); $("review-error").textContent = ""; await load(); }
    catch (err) { $("review-error").textContent = err.message; }
  }
  function mark(which) {
    marks[which] = opts.time();
    $("mark-" + which + "-t").textContent = marks[which].toFixed(3) + " s";
    opts.redraw();
  }
  async function addEvent() {
    const on = marks.on, off = marks.off;
    if (on === null || off === null || off <= on) { $("add-error").textContent = S.mark_both; return; }
    try {
      await send("POST", base + "/added", { start_s: on, end_s: off, label: $("add-label").value, note: $("add-note").value });
      marks.on = marks.off = null;
      $("mark-on-t").textContent = $("mark-off-t").textContent = "–";
      $("add-note").value = ""; $("add-error").textContent = "";
      await load();
    } catch (err) { $("add-error").textContent = err.message; }
  }
  $("v-accept").addEventListener("click", () => verdict("accept"));
  $("v-reject").addEventListener("click", () => verdict("reject"));
  $("v-relabel").addEventListener("click", () => verdict("relabel"));
  $("v-clear").addEventListener("click", async () => {
    if (selected === null) return;
    try { await send("DELETE", base + "/events/" + selected); } catch (err) { /* none to clear */ }
    await load();
  });
  $("mark-on").addEventListener("click", () => mark("on"));
  $("mark-off").addEventListener("click", () => mark("off"));
  $("add-event").addEventListener("click", addEvent);
  return {
    load, mark,
    select: (i) => { selected = i; render(); },
    selected: () => selected,
    marks: () => marks,
    review: () => V,
    verdictOf,
  };
};
