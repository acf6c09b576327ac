/* Video upload: drag and drop or file picker, XHR with an upload progress bar, then the job page. */
"use strict";
(function () {
  const S = window.ML.S;
  const form = document.getElementById("upload-form");
  const input = document.getElementById("file-input");
  const zone = document.getElementById("dropzone");
  const name = document.getElementById("drop-file");
  const box = document.getElementById("upload-progress");
  const bar = document.getElementById("upload-bar");
  const pct = document.getElementById("upload-pct");
  const text = document.getElementById("upload-text");
  const err = document.getElementById("upload-error");
  const button = document.getElementById("upload-button");
  let file = null;

  function size(n) { return n >= 1048576 ? (n / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(n / 1024)) + " KB"; }
  function pick(f) { file = f || null; name.textContent = file ? file.name + " · " + size(file.size) : ""; err.classList.add("hidden"); }
  input.addEventListener("change", () => pick(input.files[0]));
  ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.remove("over"); }));
  zone.addEventListener("drop", (e) => { if (e.dataTransfer.files.length) pick(e.dataTransfer.files[0]); });

  function fail(msg) {
    err.textContent = S.upload_failed + ": " + msg;
    err.classList.remove("hidden");
    box.classList.add("hidden");
    button.disabled = false;
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!file) { fail(S.choose_video); return; }
    const data = new FormData();
    data.append("file", file, file.name);
    data.append("model", document.getElementById("model-select").value);
    const options = {};  // only the options changed from their defaults
    document.querySelectorAll("#analysis-options [data-option]").forEach((el) => {
      const value = el.type === "checkbox" ? el.checked : el.value;
      if (String(value) !== el.dataset.default) options[el.dataset.option] = value;
    });
    if (Object.keys(options).length) data.append("options", JSON.stringify(options));
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (ev) => {
      if (!ev.lengthComputable) return;
      const p = Math.round(100 * ev.loaded / ev.total);
      bar.style.width = p + "%";
      pct.textContent = p + "%";
    });
    xhr.upload.addEventListener("load", () => { text.textContent = S.uploaded; bar.style.width = "100%"; pct.textContent = "100%"; });
    xhr.addEventListener("load", () => {
      const body = xhr.response || {};
      if (xhr.status === 202 && body.page_url) { window.location.href = body.page_url; return; }
      fail(body.error || ("HTTP " + xhr.status));
    });
    xhr.addEventListener("error", () => fail("network error"));
    button.disabled = true;
    err.classList.add("hidden");
    box.classList.remove("hidden");
    text.textContent = S.uploading;
    bar.style.width = "0%";
    xhr.send(data);
  });
})();
