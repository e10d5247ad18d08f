// impasto's page: choose images, set options, start a job, and follow its progress and live preview
// (server-sent events from /api/jobs/ID/events: the server pushes the job's state at each change).
// A job's first picture is its quick sketch (a feed-forward network's, in about a second), labelled as
// such until the optimization's own picture replaces it; "Sketch only" makes the sketch alone.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { content: null, styles: [], job: null, previewVersion: 0, setup: null, events: null, queueTimer: null };
// The tabs of this browser share its session, and so its jobs: each tells the others when it starts or
// stops one, and they show the queue again (loadQueue).
const tabs = "BroadcastChannel" in window ? new BroadcastChannel("impasto") : null;

// An error shows next to what caused it: "content-error", "style-error", or the result's "error".
function showError(message, where = "error") {
  for (const id of ["error", "content-error", "style-error"]) {
    if (id === where || !message) {
      $(id).textContent = id === where ? message : "";
      $(id).hidden = id !== where || !message;
    }
  }
  if (message) $(where).scrollIntoView({ block: "nearest", behavior: "smooth" });
}

async function api(path, options = {}) {
  // Every POST carries the server's token (from /api/setup): proof that it comes from this page.
  const headers = { ...(options.headers || {}) };
  if (options.method === "POST" && state.setup) headers["X-Impasto-Token"] = state.setup.token;
  const response = await fetch(path, { credentials: "same-origin", ...options, headers });
  const body = response.headers.get("Content-Type") === "application/json" ? await response.json() : null;
  if (!response.ok) throw new Error((body && body.error) || `the server answered ${response.status}`);
  return body;
}

async function upload(file) {
  const limit = state.setup.limits.max_upload_bytes;
  if (file.size > limit) {
    throw new Error(`${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MB; this server takes at most ${Math.round(limit / 2 ** 20)} MB`);
  }
  return api("/api/uploads", {
    method: "POST",
    headers: { "X-Filename": encodeURIComponent(file.name).slice(0, 200) },
    body: file,
  });
}

function setContent(reference, name, src) {
  state.content = reference;
  $("content-name").textContent = name;
  $("content-thumb").src = src;
  $("content-thumb").hidden = false;
}

function addStyle(reference, name, src) {
  if (state.styles.some((s) => s.reference === reference)) {
    showError(`${name} is already a style`, "style-error");
    return;
  }
  if (state.styles.length >= state.setup.limits.max_styles) {
    showError(`at most ${state.setup.limits.max_styles} style images`, "style-error");
    return;
  }
  $("style-hint").hidden = true;
  const item = { reference, weight: 1, src, name, mask: null };
  state.styles.push(item);
  const li = document.createElement("li");
  li.className = "style";
  const img = document.createElement("img");
  img.src = src;
  img.alt = name;
  const label = document.createElement("label");
  label.textContent = `${name} · weight `;
  const weight = document.createElement("input");
  weight.type = "range"; weight.min = "0.05"; weight.max = "1"; weight.step = "0.05"; weight.value = "1";
  weight.className = "style-weight";
  weight.addEventListener("input", () => { item.weight = Number(weight.value); });
  label.appendChild(weight);
  const remove = document.createElement("button");
  remove.type = "button"; remove.textContent = "✕"; remove.title = "remove this style";
  remove.addEventListener("click", () => {
    state.styles.splice(state.styles.indexOf(item), 1);
    li.remove();
    $("style-hint").hidden = state.styles.length > 0;
  });
  const mask = document.createElement("div");
  mask.className = "mask";
  const maskThumb = document.createElement("img");
  maskThumb.alt = "mask";
  maskThumb.hidden = true;
  const maskName = document.createElement("span");
  maskName.className = "muted";
  maskName.textContent = "everywhere";
  const draw = document.createElement("button");
  draw.type = "button"; draw.className = "draw-mask"; draw.textContent = "Draw where…";
  draw.addEventListener("click", () => openMaskEditor(item));
  const pick = document.createElement("label");
  pick.className = "button"; pick.textContent = "Mask file…";
  const file = document.createElement("input");
  file.type = "file"; file.accept = "image/*"; file.hidden = true; file.className = "mask-file";
  file.addEventListener("change", async () => {
    if (file.files[0]) await useMask(item, file.files[0]);
    file.value = "";
  });
  pick.appendChild(file);
  const clear = document.createElement("button");
  clear.type = "button"; clear.textContent = "✕"; clear.title = "this style everywhere"; clear.hidden = true;
  clear.addEventListener("click", () => setMask(item, null));
  mask.append("Where: ", maskThumb, maskName, draw, pick, clear);
  item.showMask = (src, name) => {
    maskThumb.src = src || ""; maskThumb.hidden = !src;
    maskName.textContent = name || "everywhere";
    clear.hidden = !src;
  };
  li.append(img, label, remove, mask);
  $("styles").appendChild(li);
}

// A style's mask (white where it goes): uploaded like any image, shown beside the style.
async function useMask(item, file) {
  showError("");
  try {
    const uploaded = await upload(file);
    setMask(item, { reference: uploaded.id, src: URL.createObjectURL(file), name: uploaded.name });
  } catch (error) {
    showError(error.message, "style-error");
  }
}

function setMask(item, mask) {
  item.mask = mask;
  item.showMask(mask && mask.src, mask && mask.name);
}

// The mask editor: paint on a canvas over the photo; "Use this mask" uploads it (white on black).
function openMaskEditor(item) {
  if (!state.content) return showError("choose a content image first", "content-error");
  const photo = $("mask-photo");
  photo.src = $("content-thumb").src;
  $("mask-style").textContent = item.name;
  $("mask-editor").hidden = false;
  const canvas = $("mask-canvas");
  const ready = () => {
    const scale = 512 / Math.max(photo.naturalWidth, photo.naturalHeight, 1);
    canvas.width = Math.max(1, Math.round(photo.naturalWidth * scale));
    canvas.height = Math.max(1, Math.round(photo.naturalHeight * scale));
    const context = canvas.getContext("2d");
    context.fillStyle = "#000";
    context.fillRect(0, 0, canvas.width, canvas.height);
  };
  if (photo.complete && photo.naturalWidth) ready(); else photo.onload = ready;
  state.maskItem = item;
  $("mask-editor").scrollIntoView({ block: "nearest" });
}

function paintOnMask() {
  const canvas = $("mask-canvas");
  let down = false;
  const paint = (event) => {
    if (!down) return;
    const box = canvas.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * canvas.width;
    const y = ((event.clientY - box.top) / box.height) * canvas.height;
    const context = canvas.getContext("2d");
    context.fillStyle = $("mask-erase").checked ? "#000" : "#fff";
    context.beginPath();
    context.arc(x, y, Number($("mask-brush").value) / 2, 0, 2 * Math.PI);
    context.fill();
  };
  canvas.addEventListener("pointerdown", (event) => { down = true; canvas.setPointerCapture(event.pointerId); paint(event); });
  canvas.addEventListener("pointermove", paint);
  canvas.addEventListener("pointerup", () => { down = false; });
  $("mask-clear").addEventListener("click", () => {
    const context = canvas.getContext("2d");
    context.fillStyle = "#000";
    context.fillRect(0, 0, canvas.width, canvas.height);
  });
  $("mask-cancel").addEventListener("click", () => { $("mask-editor").hidden = true; });
  $("mask-done").addEventListener("click", () => {
    const item = state.maskItem;
    canvas.toBlob(async (blob) => {
      $("mask-editor").hidden = true;
      await useMask(item, new File([blob], `mask-${item.name.replace(/\.[^.]*$/, "")}.png`, { type: "image/png" }));
    }, "image/png");
  });
}

function fillSelect(id, choices, value) {
  const select = $(id);
  for (const choice of choices) {
    const option = document.createElement("option");
    option.value = option.textContent = choice;
    select.appendChild(option);
  }
  select.value = value;
}

function exampleButton(example, onPick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "example";
  const thumb = document.createElement("img");
  thumb.src = `/examples/${example.name}`;
  thumb.alt = "";
  button.append(thumb, `Example: ${example.name}`);
  button.addEventListener("click", () => onPick(`example:${example.name}`, example.name, `/examples/${example.name}`));
  return button;
}

// The request's options: each setting of the form (/api/setup's settings) read from its control; the
// style weight from the strength slider's power of ten.
function options() {
  const number = (id) => ($(id).value === "" ? null : Number($(id).value));
  const read = (id) => $(id).type === "checkbox" ? $(id).checked : $(id).tagName === "SELECT" ? $(id).value : number(id);
  const chosen = { time_budget: number("time-budget") };
  for (const { name } of state.setup.settings) {
    chosen[name] = name === "style_weight" ? Number((10 ** Number($("strength").value)).toPrecision(2)) : read(name);
  }
  return chosen;
}

// Each setting's control, drawn from the option table (/api/setup's settings) on the form's face or
// under Advanced, unless the page has a control of its own for it (a slider with data-option).
function drawSettings(settings, defaults) {
  for (const setting of settings) {
    if (document.querySelector(`[data-option="${setting.name}"]`)) continue;
    const label = document.createElement("label");
    label.id = `${setting.name}-label`;
    label.title = setting.help;
    const control = document.createElement(setting.control === "menu" ? "select" : "input");
    control.id = setting.name;
    if (setting.control === "switch") {
      control.type = "checkbox";
      label.className = "inline";
      label.append(control, ` ${setting.label}`);
    } else {
      if (setting.control !== "menu") {
        control.type = "number";
        control.step = setting.control === "whole" ? "1" : "any";
        if (setting.low !== undefined) control.min = setting.low;
        if (setting.high !== undefined) control.max = setting.high;
      }
      label.append(`${setting.label} `, control);
    }
    $(setting.main ? "settings-main" : "settings-advanced").appendChild(label);
    if (setting.control === "menu") fillSelect(setting.name, setting.choices, defaults[setting.name]);
    else if (setting.control === "switch") control.checked = Boolean(defaults[setting.name]);
    else control.value = defaults[setting.name] ?? "";
    SETTINGS.push(setting.name);
  }
}

function drawCurve(losses) {
  if (losses.length < 2) return;
  const logs = losses.map((v) => Math.log(Math.max(v, 1e-12)));
  const low = Math.min(...logs), high = Math.max(...logs), span = high - low || 1;
  const points = logs.map((v, i) => `${(i / (logs.length - 1)) * 300},${58 - ((v - low) / span) * 56}`);
  $("curve-line").setAttribute("points", points.join(" "));
  $("curve").removeAttribute("hidden"); // an SVG element has no .hidden property
  $("curve-label").hidden = false;
  $("curve-label").textContent = `loss ${losses[0].toPrecision(3)} → ${losses[losses.length - 1].toPrecision(3)} (log scale)`;
}

const SKETCH_LABELS = {
  job: "Quick sketch — the painting is on its way",
  only: "Quick sketch by a feed-forward network — Start paints it properly",
};

function describe(status) {
  if (status.sketch_only) {
    if (status.state === "done") return `Quick sketch made in ${status.elapsed} s.`;
    if (["queued", "running"].includes(status.state)) return "Sketching…";
  }
  const meanwhile = status.sketch ? " Meanwhile, a quick sketch." : "";
  if (status.state === "queued") return `Waiting in the queue: position ${status.position}.${meanwhile}`;
  if (status.state === "running") {
    if (!status.total) return status.sketch ? "Quick sketch shown; the painting is on its way…" : "Starting…";
    const scale = status.scales > 1 ? ` (scale ${status.scale} of ${status.scales})` : "";
    const eta = status.eta == null ? "" : `, about ${Math.ceil(status.eta)} s left`;
    return `Iteration ${status.iteration} of ${status.total}${scale}${eta}.`;
  }
  if (status.state === "done") return `Done in ${status.elapsed} s. ${status.message || ""}`;
  if (status.state === "stopped") return `Stopped after ${status.elapsed} s. ${status.message || ""}`;
  return "The run failed.";
}

// Follow job `id`: its state is pushed at each change until it ends (the browser reconnects a
// dropped stream by itself; a stream that cannot be had at all ends the wait with an error).
function follow(id) {
  if (state.events) state.events.close();
  const events = (state.events = new EventSource(`/api/jobs/${id}/events`));
  events.onmessage = (message) => {
    if (id !== state.job) return events.close();
    if (show(id, JSON.parse(message.data))) events.close();
  };
  events.onerror = async () => {
    if (events.readyState !== EventSource.CLOSED || id !== state.job) return;
    try {
      if (show(id, await api(`/api/jobs/${id}`))) return;  // it ended meanwhile
      setTimeout(() => follow(id), 1000);
    } catch (error) {
      showError(error.message);
      finish();
    }
  };
}

// Show a job's state → whether it has ended.
function show(id, status) {
  $("status").textContent = describe(status);
  $("progress").value = status.progress;
  drawCurve(status.losses.filter((loss) => loss !== null));  // null: a step that diverged
  if (status.preview_version > state.previewVersion) {
    state.previewVersion = status.preview_version;
    // The sketch from its own address: what shows under the sketch's label is the sketch, even if the
    // run's first picture replaced it in between.
    $("preview").src = status.sketch
      ? `/api/jobs/${id}/sketch`
      : `/api/jobs/${id}/preview?v=${status.preview_version}`;
    $("preview").hidden = false;
    $("preview").dataset.version = status.preview_version;
    $("preview").dataset.sketch = String(status.sketch);
  }
  $("sketch-label").textContent = SKETCH_LABELS[status.sketch_only ? "only" : "job"];
  $("sketch-label").hidden = !status.sketch;
  if (status.state === "failed") showError(status.message);
  if (!["done", "stopped", "failed"].includes(status.state)) return false;
  if (status.result_size) {
    showComparison(`/api/jobs/${id}/result`);
    $("download").href = `/api/jobs/${id}/result`;
    $("download").setAttribute("download", status.download);
    $("command").textContent = status.command;
    $("finished").hidden = false;
  }
  finish();
  loadHistory();
  loadQueue();
  tabs?.postMessage("queue");
  return true;
}

// Before and after: the result over the photo, uncovered up to the slider.
function showComparison(result) {
  $("compare-before").src = $("content-thumb").src;
  $("compare-after").src = result;
  const cut = () => { $("compare-after").style.clipPath = `inset(0 0 0 ${$("compare-slider").value}%)`; };
  $("compare-slider").oninput = cut;
  cut();
  $("preview").hidden = true;
  $("compare").hidden = false;
}

function finish() {
  $("start").disabled = $("sketch-only").disabled = false;
  $("stop").disabled = true;
}

// Start a job: the optimization (its quick sketch first), or with sketchOnly the sketch alone.
async function start(sketchOnly = false) {
  showError("");
  if (!state.content) return showError("choose a content image first", "content-error");
  if (!state.styles.length) return showError("add at least one style image", "style-error");
  $("finished").hidden = true;
  $("compare").hidden = true;
  $("sketch-label").hidden = true;
  $("start").disabled = $("sketch-only").disabled = true;
  $("status").textContent = "Sending…";
  $("progress").value = 0;
  try {
    const job = await api("/api/jobs", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        content: state.content,
        styles: state.styles.map((s) => ({ image: s.reference, weight: s.weight, mask: s.mask ? s.mask.reference : null })),
        options: options(),
        sketch_only: sketchOnly,
      }),
    });
    state.job = job.id;
    state.previewVersion = 0;
    tabs?.postMessage("queue");
    loadQueue();
    $("stop").disabled = sketchOnly;
    $("status").textContent = sketchOnly ? "Sketching…" : "Starting…";
    follow(job.id);
  } catch (error) {
    $("status").textContent = "Nothing is running.";
    showError(error.message);
    finish();
  }
}

async function stop() {
  if (!state.job) return;
  $("stop").disabled = true;
  try {
    await api(`/api/jobs/${state.job}/stop`, { method: "POST" });
  } catch (error) {
    showError(error.message);
  }
  tabs?.postMessage("queue");
}

// A file the user gave for a role ("content" or "style"), from the file picker, a drop or a paste:
// uploaded, then shown; an error shows beside that role's images.
async function useFile(file, role) {
  showError("");
  if (!file.type.startsWith("image/")) return showError(`${file.name || "that"} is not an image`, `${role}-error`);
  try {
    const uploaded = await upload(file);
    const src = URL.createObjectURL(file);
    if (role === "content") setContent(uploaded.id, `${uploaded.name} (${uploaded.width} × ${uploaded.height})`, src);
    else addStyle(uploaded.id, uploaded.name, src);
    offerSettings(role, uploaded.made_with);
  } catch (error) {
    showError(error.message, `${role}-error`);
  }
}

// A picture impasto made carries the options that made it: the page offers them (the server read
// those the page may set: the upload's made_with).
function offerSettings(role, settings) {
  $(`${role}-made-with`).hidden = !settings;
  $(`${role}-made-with-use`).onclick = settings ? () => {
    applyOptions(settings);
    $(`${role}-made-with`).hidden = true;
    $("status").textContent = "The settings that picture was made with: Start makes it again with this photo.";
  } : null;
}

function onUpload(id, role) {
  $(id).addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) await useFile(file, role);
    event.target.value = "";
  });
}

function onDrop(card) {
  const role = card.dataset.role;
  card.addEventListener("dragover", (event) => { event.preventDefault(); card.classList.add("dragging"); });
  card.addEventListener("dragleave", () => card.classList.remove("dragging"));
  card.addEventListener("drop", (event) => {
    event.preventDefault();
    card.classList.remove("dragging");
    const file = event.dataTransfer.files[0];
    if (file) useFile(file, role);
  });
}

// A pasted image is the content while there is none, a style after that.
function onPaste(event) {
  const item = [...(event.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
  if (!item) return;
  event.preventDefault();
  useFile(item.getAsFile(), state.content ? "style" : "content");
}

// The settings are kept in this browser (local storage) and come back on reload; Reset forgets them.
// The controls whose values are kept: the page's own, and those drawSettings adds.
const SETTINGS = ["size", "strength", "time-budget", "style_scale"];
const STORE = "impasto.settings";

function saveSettings() {
  const kept = {};
  for (const id of SETTINGS) kept[id] = $(id).type === "checkbox" ? $(id).checked : $(id).value;
  try { localStorage.setItem(STORE, JSON.stringify(kept)); } catch { /* private mode: not kept */ }
}

function setControl(id, value) {
  const control = $(id);
  if (control.type === "checkbox") control.checked = Boolean(value);
  else if (control.tagName === "SELECT" && ![...control.options].some((o) => o.value === String(value))) return;
  else control.value = value;
  control.dispatchEvent(new Event("input"));
}

function restoreSettings() {
  let kept = {};
  try { kept = JSON.parse(localStorage.getItem(STORE) || "{}"); } catch { kept = {}; }
  for (const id of SETTINGS) if (id in kept && kept[id] !== null) setControl(id, kept[id]);
}

// A job's options put back in the form (the history's "Use these settings").
function applyOptions(chosen) {
  const { defaults } = state.setup;
  for (const id of SETTINGS) {
    const name = id === "time-budget" ? "time_budget" : id;
    if (id === "strength") setControl(id, Math.log10(chosen.style_weight ?? defaults.style_weight));
    else setControl(id, chosen[name] ?? defaults[name] ?? "");
  }
  saveSettings();
}

// This browser's jobs that wait or run, whichever tab started them: each with its place and a Stop.
// Looked at again every 2 s while there are some, every 10 s while there are none, and whenever a
// tab starts or stops one.
async function loadQueue() {
  clearTimeout(state.queueTimer);
  let jobs = [];
  try { jobs = await api("/api/jobs"); } catch { /* the server is away: try again later */ }
  const active = jobs.filter((job) => ["queued", "running"].includes(job.state)).reverse();  // oldest first
  const list = $("queue");
  list.replaceChildren();
  for (const job of active) {
    const li = document.createElement("li");
    li.dataset.job = job.id;
    const about = document.createElement("span");
    const where = job.state === "running" ? `running, ${Math.round(job.progress * 100)}%`
      : `waiting, ${job.position === 1 ? "next" : `number ${job.position} in line`}`;
    about.textContent = `${job.names[0]} in ${job.names[1].join(" + ")} · ${where}` +
      (job.id === state.job ? " · this tab" : "");
    const stop = document.createElement("button");
    stop.type = "button"; stop.className = "stop-job"; stop.textContent = "Stop";
    stop.addEventListener("click", async () => {
      stop.disabled = true;
      try { await api(`/api/jobs/${job.id}/stop`, { method: "POST" }); } catch (error) { showError(error.message); }
      tabs?.postMessage("queue");
      loadQueue();
    });
    li.append(about, " ", stop);
    list.appendChild(li);
  }
  $("queue-card").hidden = !active.length;
  state.queueTimer = setTimeout(loadQueue, active.length ? 2000 : 10000);
}

async function loadHistory() {
  let jobs;
  try { jobs = await api("/api/jobs"); } catch { return; }
  const list = $("history");
  list.replaceChildren();
  for (const job of jobs.filter((j) => j.result_size)) {
    const li = document.createElement("li");
    li.dataset.job = job.id;
    const img = document.createElement("img");
    img.src = job.picture;
    img.alt = job.download;
    const about = document.createElement("div");
    about.className = "summary";
    const options = job.request.options || {};
    about.textContent = `${job.download} · ${job.state} in ${job.elapsed} s` +
      (options.size ? ` · ${options.size} px` : "") + (options.style_weight ? ` · style weight ${options.style_weight}` : "");
    const again = document.createElement("button");
    again.type = "button"; again.className = "again"; again.textContent = "Use these settings";
    again.addEventListener("click", () => {
      applyOptions(options);
      restoreImages(job);
      $("status").textContent = "Settings of that result restored: Start makes it again.";
    });
    const download = document.createElement("a");
    download.className = "button"; download.textContent = "Download";
    download.href = img.src; download.setAttribute("download", job.download);
    const remove = document.createElement("button");
    remove.type = "button"; remove.className = "delete"; remove.textContent = "Delete";
    remove.title = "Remove it from the history and delete its file";
    remove.addEventListener("click", async () => {
      try {
        await api(`/api/history/${encodeURIComponent(job.id)}/delete`, { method: "POST" });
        li.remove();
        $("history-card").hidden = !list.children.length;
      } catch (error) {
        showError(error.message);
      }
    });
    about.append(document.createElement("br"), again, download, remove);
    li.append(img, about);
    list.appendChild(li);
  }
  $("history-card").hidden = !list.children.length;
}

// A past job's images back in the cards: examples by name, uploads as long as the server keeps them,
// and the inputs of a result kept in the outputs folder ("kept:…") as long as it is there.
function restoreImages(job) {
  const known = new Map(state.styles.map((s) => [s.reference, s.src]));
  // The images as the server keeps them (an upload it has forgotten shows as a broken picture, and
  // Start then says to upload it again).
  const picture = (reference) => reference.startsWith("example:") ? `/examples/${reference.slice(8)}`
    : known.get(reference) || `/api/uploads/${encodeURIComponent(reference)}`;
  const [contentName, styleNames] = [job.names[0], job.names[1]];
  setContent(job.request.content, contentName, picture(job.request.content));
  state.styles = [];
  $("styles").replaceChildren();
  job.request.styles.forEach((style, i) => {
    addStyle(style.image, styleNames[i] || style.image, picture(style.image));
    state.styles[i].weight = style.weight;
    $("styles").children[i].querySelector("input").value = style.weight;
    if (style.mask) setMask(state.styles[i], { reference: style.mask, src: picture(style.mask), name: "the mask used then" });
  });
}

function describeStrength() {
  const offset = Number($("strength").value) - Math.log10(state.setup.defaults.style_weight);
  const words = offset < -0.75 ? "much more photo" : offset < -0.25 ? "more photo"
    : offset <= 0.25 ? "balanced" : offset <= 0.75 ? "more painting" : "much more painting";
  $("strength-value").textContent = `(${words})`;
  $("strength-ratio").textContent = `Style weight β/α = ${(10 ** Number($("strength").value)).toPrecision(2)}`;
}

async function init() {
  state.setup = await api("/api/setup");
  const { defaults, limits } = state.setup;
  $("size").max = limits.max_size;
  $("size").value = defaults.size || 384;
  $("size-value").textContent = $("size").value;
  $("size").addEventListener("input", () => { $("size-value").textContent = $("size").value; });
  $("strength").value = Math.log10(defaults.style_weight);
  $("strength").addEventListener("input", describeStrength);
  describeStrength();
  $("style_scale").value = defaults.style_scale;
  $("style-scale-value").textContent = `${defaults.style_scale}×`;
  $("style_scale").addEventListener("input", () => { $("style-scale-value").textContent = `${$("style_scale").value}×`; });
  drawSettings(state.setup.settings, defaults);
  // The seed draws the noise a noise (or blend) start begins from; from the photo it does nothing.
  const showSeed = () => { $("seed-label").hidden = !["noise", "blend"].includes($("init").value); };
  $("init").addEventListener("change", showSeed);
  $("init").addEventListener("input", showSeed);
  showSeed();
  restoreSettings();
  for (const id of SETTINGS) {
    $(id).addEventListener("change", saveSettings);
    $(id).addEventListener("input", saveSettings);
  }
  $("reset-settings").addEventListener("click", () => {
    try { localStorage.removeItem(STORE); } catch { /* nothing kept */ }
    applyOptions({});
  });
  loadHistory();
  loadQueue();
  if (tabs) tabs.onmessage = () => { loadQueue(); loadHistory(); };
  for (const example of state.setup.examples) {
    if (example.role === "content") $("content-examples").appendChild(exampleButton(example, setContent));
    else $("style-examples").appendChild(exampleButton(example, addStyle));
  }
  onUpload("content-file", "content");
  onUpload("style-file", "style");
  onDrop($("content-card"));
  onDrop($("style-card"));
  document.addEventListener("paste", onPaste);
  paintOnMask();
  $("start").addEventListener("click", () => start(false));
  $("sketch-only").addEventListener("click", () => start(true));
  $("stop").addEventListener("click", stop);
  document.body.dataset.ready = "true";
}

init().catch((error) => showError(`the page could not start: ${error.message}`));
