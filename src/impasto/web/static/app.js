// impasto's page: choose images, set options, start a job, and poll it for progress and a live preview.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { content: null, styles: [], job: null, previewVersion: 0, setup: null, timer: null };

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
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
  if (state.styles.length >= state.setup.limits.max_styles) {
    showError(`at most ${state.setup.limits.max_styles} style images`);
    return;
  }
  const item = { reference, weight: 1 };
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
  });
  li.append(img, label, remove);
  $("styles").appendChild(li);
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
  button.textContent = `Example: ${example.name}`;
  button.addEventListener("click", () => onPick(`example:${example.name}`, example.name, `/examples/${example.name}`));
  return button;
}

function options() {
  const number = (id) => ($(id).value === "" ? null : Number($(id).value));
  return {
    size: number("size"),
    style_weight: Number((10 ** Number($("strength").value)).toPrecision(2)),
    iterations: number("iterations"),
    time_budget: number("time-budget"),
    preserve_colors: $("preserve_colors").value,
    style_scale: number("style_scale"),
    model: $("model").value,
    precision: $("precision").value,
    seed: number("seed"),
    init: $("init").value,
    optimizer: $("optimizer").value,
    tv_weight: number("tv_weight"),
    pooling: $("pooling").value,
    style_loss: $("style_loss").value,
    multiscale: $("multiscale").checked,
  };
}

function drawCurve(losses) {
  if (losses.length < 2) return;
  const logs = losses.map((v) => Math.log(Math.max(v, 1e-12)));
  const low = Math.min(...logs), high = Math.max(...logs), span = high - low || 1;
  const points = logs.map((v, i) => `${(i / (logs.length - 1)) * 300},${58 - ((v - low) / span) * 56}`);
  $("curve-line").setAttribute("points", points.join(" "));
  $("curve").hidden = false;
  $("curve-label").hidden = false;
  $("curve-label").textContent = `loss ${losses[0].toPrecision(3)} → ${losses[losses.length - 1].toPrecision(3)} (log scale)`;
}

function describe(status) {
  if (status.state === "queued") return `Waiting in the queue: position ${status.position}.`;
  if (status.state === "running") {
    if (!status.total) return "Starting…";
    const scale = status.scales > 1 ? ` (scale ${status.scale} of ${status.scales})` : "";
    const eta = status.eta == null ? "" : `, about ${Math.ceil(status.eta)} s left`;
    return `Iteration ${status.iteration} of ${status.total}${scale}${eta}.`;
  }
  if (status.state === "done") return `Done in ${status.elapsed} s. ${status.message || ""}`;
  if (status.state === "stopped") return `Stopped after ${status.elapsed} s. ${status.message || ""}`;
  return "The run failed.";
}

async function poll() {
  const id = state.job;
  let status;
  try {
    status = await api(`/api/jobs/${id}`);
  } catch (error) {
    showError(error.message);
    finish();
    return;
  }
  if (id !== state.job) return;
  $("status").textContent = describe(status);
  $("progress").value = status.progress;
  drawCurve(status.losses);
  if (status.preview_version > state.previewVersion) {
    state.previewVersion = status.preview_version;
    $("preview").src = `/api/jobs/${id}/preview?v=${status.preview_version}`;
    $("preview").hidden = false;
    $("preview").dataset.version = status.preview_version;
  }
  if (status.state === "failed") showError(status.message);
  if (["done", "stopped", "failed"].includes(status.state)) {
    if (status.result_size) {
      $("download").href = `/api/jobs/${id}/result`;
      $("download").setAttribute("download", `impasto-${status.result_size[0]}x${status.result_size[1]}.png`);
      $("command").textContent = status.command;
      $("finished").hidden = false;
    }
    finish();
    return;
  }
  state.timer = setTimeout(poll, 400);
}

function finish() {
  $("start").disabled = false;
  $("stop").disabled = true;
}

async function start() {
  showError("");
  if (!state.content) return showError("choose a content image first");
  if (!state.styles.length) return showError("add at least one style image");
  $("finished").hidden = true;
  $("start").disabled = true;
  try {
    const job = await api("/api/jobs", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        content: state.content,
        styles: state.styles.map((s) => ({ image: s.reference, weight: s.weight })),
        options: options(),
      }),
    });
    state.job = job.id;
    state.previewVersion = 0;
    $("stop").disabled = false;
    $("status").textContent = "Starting…";
    poll();
  } catch (error) {
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
}

// A file input whose chosen file is uploaded, then handed to `use(uploaded, file)`; errors go to the page.
function onUpload(id, use) {
  $(id).addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    showError("");
    try {
      use(await upload(file), file);
    } catch (error) {
      showError(error.message);
    }
    event.target.value = "";
  });
}

async function init() {
  state.setup = await api("/api/setup");
  const { defaults, choices, limits } = state.setup;
  $("size").max = limits.max_size;
  $("size").value = defaults.size || 384;
  $("size-value").textContent = $("size").value;
  $("size").addEventListener("input", () => { $("size-value").textContent = $("size").value; });
  $("strength").value = Math.log10(defaults.style_weight);
  const showStrength = () => { $("strength-value").textContent = `β/α = ${(10 ** Number($("strength").value)).toPrecision(2)}`; };
  $("strength").addEventListener("input", showStrength);
  showStrength();
  $("iterations").max = limits.max_iterations;
  $("iterations").value = defaults.iterations || 200;
  $("style_scale").value = defaults.style_scale;
  $("style-scale-value").textContent = `${defaults.style_scale}×`;
  $("style_scale").addEventListener("input", () => { $("style-scale-value").textContent = `${$("style_scale").value}×`; });
  $("seed").value = defaults.seed;
  $("tv_weight").value = defaults.tv_weight;
  $("multiscale").checked = defaults.multiscale;
  for (const [id, list] of Object.entries(choices)) fillSelect(id, list, defaults[id]);
  for (const example of state.setup.examples) {
    if (example.role === "content") $("content-examples").appendChild(exampleButton(example, setContent));
    else $("style-examples").appendChild(exampleButton(example, addStyle));
  }
  onUpload("content-file", (uploaded, file) =>
    setContent(uploaded.id, `${uploaded.name} (${uploaded.width} × ${uploaded.height})`, URL.createObjectURL(file)));
  onUpload("style-file", (uploaded, file) => addStyle(uploaded.id, uploaded.name, URL.createObjectURL(file)));
  $("start").addEventListener("click", start);
  $("stop").addEventListener("click", stop);
  document.body.dataset.ready = "true";
}

init().catch((error) => showError(`the page could not start: ${error.message}`));
