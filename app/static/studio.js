// Avatar studio: browse, pin, interpolate and blend avatars through the public HTTP API.
// No framework and no build step: the service ships this file as it is.

const MAX_SEED = (1n << 63n) - 1n;
const $ = (id) => document.getElementById(id);

const state = {
  pins: [], // {id, kind: "seed" | "latent", seed, latent, truncation, label, thumb}
  nextPin: 1,
  gridTruncation: 1,
  gridUrls: [], // object URLs of the grid's images, released when the grid is redrawn
};

// ------------------------------------------------------------------------------------ API access
class ApiError extends Error {
  constructor(message, field = null) {
    super(message);
    this.field = field; // the id of the input to fix, if the problem is one
  }
}

function plain(message) {
  // "query.n: Input should be less than or equal to 256" -> "n: Input should be ..."
  return message.replace(/^(body|query|path|header)\.?/, "").replace(/^: /, "");
}

async function explain(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  if (response.status === 422 && body && body.message) {
    return `The server did not accept that: ${plain(body.message)}.`;
  }
  if (response.status === 503) {
    const retry = response.headers.get("Retry-After");
    return `The server is busy right now. Please try again${retry ? ` in ${retry} seconds` : " shortly"}.`;
  }
  if (response.status === 413) return "That request is too large for the server.";
  if (body && typeof body.detail === "string") return `Something went wrong: ${body.detail}`;
  return `Something went wrong (HTTP ${response.status}).`;
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError("The server cannot be reached. Check that it is running.");
  }
  if (!response.ok) throw new ApiError(await explain(response));
  return response;
}

async function imageUrl(path, options) {
  const blob = await (await api(path, options)).blob();
  return URL.createObjectURL(blob);
}

function release(url) {
  // free an image we no longer show, unless a pin still uses it as its thumbnail
  if (url && url.startsWith("blob:") && !state.pins.some((p) => p.thumb === url)) URL.revokeObjectURL(url);
}

function postJson(body, accept = "application/json") {
  return { method: "POST", headers: { "Content-Type": "application/json", Accept: accept }, body: JSON.stringify(body) };
}

// ------------------------------------------------------------------------------------- messages
function say(text, kind = "error") {
  const box = $("message");
  box.className = `message ${kind === "info" ? "info" : ""}`;
  box.hidden = false; // shown first, then filled, so screen readers announce the new text
  $("message-text").textContent = text;
}

function clearMessage() {
  $("message").hidden = true;
  for (const field of document.querySelectorAll('[aria-invalid="true"]')) field.removeAttribute("aria-invalid");
}

async function guarded(task) {
  clearMessage();
  try {
    await task();
  } catch (error) {
    say(error instanceof ApiError ? error.message : `Unexpected problem: ${error.message}`);
    if (error.field) {
      $(error.field).setAttribute("aria-invalid", "true");
      $(error.field).focus();
    }
  }
}

// ----------------------------------------------------------------------------------- the grid
function readGridControls() {
  const count = Number($("count").value);
  if (!Number.isInteger(count) || count < 1 || count > 256) {
    throw new ApiError("Count must be a whole number from 1 to 256.", "count");
  }
  const seedText = $("seed").value.trim();
  if (!/^\d+$/.test(seedText) || BigInt(seedText) > MAX_SEED) {
    throw new ApiError(`First seed must be a whole number from 0 to ${MAX_SEED}.`, "seed");
  }
  const seed = BigInt(seedText);
  if (seed + BigInt(count) - 1n > MAX_SEED) throw new ApiError("First seed is too large for that many avatars.", "seed");
  return { count, seed, truncation: Number($("truncation").value), size: Number($("size").value) };
}

function avatarPath(seed, size, truncation) {
  return `/avatars/${seed}.png?size=${size}&truncation=${truncation}`;
}

async function renderGrid() {
  const { count, seed, truncation, size } = readGridControls();
  location.hash = new URLSearchParams({ seed, count, truncation, size }).toString();
  const grid = $("grid");
  grid.style.setProperty("--tile", `${Math.min(size, 128)}px`);
  grid.setAttribute("aria-busy", "true");
  grid.replaceChildren();
  state.gridUrls.forEach(release);
  state.gridUrls = [];
  state.gridTruncation = truncation;
  const loads = [];
  for (let i = 0; i < count; i += 1) {
    const tileSeed = (seed + BigInt(i)).toString();
    const button = document.createElement("button");
    button.type = "button";
    button.className = "tile";
    button.dataset.seed = tileSeed;
    markTile(button, isPinned(tileSeed, truncation));
    const img = document.createElement("img");
    img.alt = `Avatar for seed ${tileSeed}`;
    img.width = size;
    img.height = size;
    const label = document.createElement("span");
    label.className = "seed";
    label.textContent = tileSeed;
    button.append(img, label);
    button.addEventListener("click", () => guarded(() => togglePin(tileSeed, truncation)));
    grid.append(button);
    loads.push(imageUrl(avatarPath(tileSeed, size, truncation)).then((url) => {
      state.gridUrls.push(url);
      img.src = url;
    }));
  }
  const results = await Promise.allSettled(loads);
  grid.setAttribute("aria-busy", "false");
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}

function shiftPage(direction) {
  const { count, seed } = readGridControls();
  let next = seed + BigInt(direction * count);
  if (next < 0n) next = 0n;
  if (next + BigInt(count) - 1n > MAX_SEED) next = MAX_SEED - BigInt(count) + 1n;
  $("seed").value = next.toString();
  return renderGrid();
}

function randomPage() {
  const words = crypto.getRandomValues(new Uint32Array(2));
  const seed = ((BigInt(words[0] & 0x7fffffff) << 32n) | BigInt(words[1])) % (MAX_SEED - 256n);
  $("seed").value = seed.toString();
  return renderGrid();
}

// ------------------------------------------------------------------------------------- pinning
function findPin(seed, truncation) {
  return state.pins.find((p) => p.kind === "seed" && p.seed === seed && p.truncation === truncation);
}

function isPinned(seed, truncation) {
  return findPin(seed, truncation) !== undefined;
}

function markTile(button, pinned) {
  button.setAttribute("aria-pressed", String(pinned));
  button.setAttribute("aria-label", `Avatar ${button.dataset.seed}: ${pinned ? "pinned, press to unpin" : "pin"}`);
}

function markTiles() {
  for (const button of document.querySelectorAll("#grid .tile")) {
    markTile(button, isPinned(button.dataset.seed, state.gridTruncation));
  }
}

async function togglePin(seed, truncation) {
  const pinned = findPin(seed, truncation);
  if (pinned) {
    removePin(pinned.id);
    say(`Unpinned seed ${seed}.`, "info");
    return;
  }
  const thumb = await imageUrl(avatarPath(seed, 128, truncation));
  addPin({ kind: "seed", seed, truncation, label: `seed ${seed}${truncation < 1 ? ` (ψ ${truncation})` : ""}`, thumb });
}

function addPin(pin) {
  state.pins.push({ id: state.nextPin, ...pin });
  state.nextPin += 1;
  renderPins();
}

function removePin(id) {
  const pin = state.pins.find((p) => p.id === id);
  state.pins = state.pins.filter((p) => p.id !== id);
  if (pin && pin.thumb !== $("blend-image").src) release(pin.thumb);
  renderPins();
}

async function copyText(text) {
  // the Clipboard API needs a secure context (https or localhost); elsewhere fall back to a selection
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return true;
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  return copied;
}

async function latentOf(pin) {
  // the vector the pinned image was drawn from, truncation included
  let latent = pin.latent;
  if (pin.kind === "seed") {
    const body = await (await api(`/latents/${pin.seed}`)).json();
    latent = body.latent.map((x) => x * pin.truncation);
  }
  return latent;
}

async function downloadPin(pin, size) {
  let url;
  if (pin.kind === "seed") {
    url = await imageUrl(avatarPath(pin.seed, size, pin.truncation));
  } else {
    url = await imageUrl("/avatars", postJson({ latents: [pin.latent], size }, "image/png"));
  }
  const link = document.createElement("a");
  link.href = url;
  link.download = `avatar-${pin.kind === "seed" ? pin.seed : `blend-${pin.id}`}-${size}.png`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000); // the download has the bytes by then
}

function actionButton(text, label, handler) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = text;
  button.setAttribute("aria-label", label);
  button.addEventListener("click", () => guarded(handler));
  return button;
}

function renderPins() {
  const list = $("pins");
  list.replaceChildren();
  for (const pin of state.pins) {
    const item = document.createElement("li");
    item.className = "pin";
    item.dataset.pin = String(pin.id);
    const img = document.createElement("img");
    img.src = pin.thumb;
    img.alt = `Pinned ${pin.label}`;
    const body = document.createElement("div");
    const label = document.createElement("div");
    label.className = "label";
    label.textContent = `#${pin.id} · ${pin.label}`;
    const actions = document.createElement("div");
    actions.className = "actions";
    if (pin.kind === "seed") {
      actions.append(actionButton("Copy seed", `Copy seed ${pin.seed}`, async () => {
        const copied = await copyText(pin.seed).catch(() => false);
        say(copied ? `Seed ${pin.seed} copied.` : `This browser did not allow copying; the seed is ${pin.seed}.`, "info");
      }));
    }
    for (const size of [64, 128, 256]) {
      actions.append(actionButton(`${size}px`, `Download #${pin.id} at ${size} pixels`, () => downloadPin(pin, size)));
    }
    actions.append(actionButton("Unpin", `Unpin #${pin.id}`, () => removePin(pin.id)));
    body.append(label, actions);
    item.append(img, body);
    list.append(item);
  }
  $("pin-count").textContent = String(state.pins.length);
  $("pins-empty").hidden = state.pins.length > 0;
  refreshPinSelects();
  markTiles();
}

function refreshPinSelects() {
  for (const select of document.querySelectorAll(".pin-select")) {
    const previous = select.value;
    const optional = select.id === "blend-c";
    select.replaceChildren();
    if (optional) select.append(new Option("(none)", ""));
    else if (state.pins.length === 0) select.append(new Option("pin an avatar", ""));
    for (const pin of state.pins) select.append(new Option(`#${pin.id} ${pin.label}`, String(pin.id)));
    if ([...select.options].some((o) => o.value === previous)) select.value = previous;
  }
  // sensible defaults: the first two (three) different pins
  const ids = state.pins.map((p) => String(p.id));
  const defaults = { "walk-a": ids[0], "walk-b": ids[1], "blend-a": ids[0], "blend-b": ids[1] };
  for (const [id, value] of Object.entries(defaults)) {
    const select = $(id);
    if (value && !select.dataset.touched) select.value = value;
  }
}

function pinById(selectId, required = true) {
  const value = $(selectId).value;
  const pin = state.pins.find((p) => String(p.id) === value);
  if (!pin && required) throw new ApiError("Pin at least two avatars first, then pick them here.");
  return pin;
}

// ------------------------------------------------------------------------------- interpolation
async function interpolatePins() {
  const a = pinById("walk-a");
  const b = pinById("walk-b");
  if (a.id === b.id) throw new ApiError("Pick two different pinned avatars to interpolate between.", "walk-b");
  const steps = Number($("walk-steps").value);
  if (!Number.isInteger(steps) || steps < 2 || steps > 64) {
    throw new ApiError("Steps must be a whole number from 2 to 64.", "walk-steps");
  }
  const [start, end] = await Promise.all([latentOf(a), latentOf(b)]);
  const request = { start, end, steps, mode: $("walk-mode").value, size: 128 };
  const [strip, gif] = await Promise.all([
    imageUrl("/interpolate", postJson({ ...request, format: "png" }, "image/png")),
    imageUrl("/interpolate", postJson({ ...request, format: "gif", frame_ms: 100 }, "image/gif")),
  ]);
  release($("walk-strip").src);
  release($("walk-gif").src);
  $("walk-strip").src = strip;
  $("walk-gif").src = gif;
  $("walk-strip-download").href = strip;
  $("walk-gif-download").href = gif;
  $("walk-result").hidden = false;
}

// --------------------------------------------------------------------------------- arithmetic
let lastBlend = null;

async function blendPins() {
  const terms = [
    [pinById("blend-a"), Number($("weight-a").value)],
    [pinById("blend-b"), Number($("weight-b").value)],
    [pinById("blend-c", false), Number($("weight-c").value)],
  ].filter(([pin]) => pin);
  if (terms.some(([, w]) => !Number.isFinite(w))) throw new ApiError("Weights must be numbers.");
  const latents = await Promise.all(terms.map(([pin]) => latentOf(pin)));
  const mixed = latents[0].map((_, i) => {
    const value = terms.reduce((sum, [, w], k) => sum + w * latents[k][i], 0);
    return Math.max(-10, Math.min(10, value)); // the API accepts |x| <= 10
  });
  const url = await imageUrl("/avatars", postJson({ latents: [mixed], size: 256 }, "image/png"));
  release($("blend-image").src);
  $("blend-image").src = url;
  $("blend-result").hidden = false;
  // "#1 − #2 + #3", or with weights "0.5×#1 + 0.5×#2"
  const label = terms
    .map(([pin, w], k) => {
      const sign = w < 0 ? "− " : k ? "+ " : "";
      const size = Math.abs(w) === 1 ? "" : `${Math.abs(w)}×`;
      return `${sign}${size}#${pin.id}`;
    })
    .join(" ");
  lastBlend = { kind: "latent", latent: mixed, truncation: 1, label: `blend ${label}`, thumb: url };
}

// --------------------------------------------------------------------------------- model card
function duration(seconds) {
  const minutes = Math.round(seconds / 60);
  return minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function percent(value) {
  return `${(value * 100).toFixed(1)}%`;
}

function cardRows(model) {
  const card = model.card || {};
  const recipe = card.recipe || {};
  const data = card.data || {};
  const training = card.training || {};
  const metrics = card.metrics || {};
  const side = model.generator.resolution;
  const rows = [
    ["Version", model.model_version],
    ["Resolution", `${side} × ${side} px (larger sizes are upscaled)`],
    ["Latent size", model.generator.latent_dim],
    ["Recipe", recipe.preset ? [recipe.preset, recipe.loss && `${recipe.loss} loss`].filter(Boolean).join(", ") : "—"],
    ["Training data", data.images ? `${data.images.toLocaleString("en")} images${data.source ? ` (${data.source})` : ""}` : "—"],
    ["Trained", training.steps
      ? [`${training.steps.toLocaleString("en")} steps${training.epochs ? ` (${training.epochs} epoch${training.epochs === 1 ? "" : "s"})` : ""}`,
        training.device && `on ${training.device}`, training.wall_time_s && duration(training.wall_time_s)]
        .filter(Boolean).join(", ")
      : "—"],
    ["Face rate", metrics.face_rate !== undefined
      ? `${percent(metrics.face_rate)}${metrics.real_face_rate !== undefined ? ` (real images ${percent(metrics.real_face_rate)})` : ""}`
      : "—"],
  ];
  if (metrics.fid !== undefined) rows.push(["FID", Number(metrics.fid).toFixed(1)]);
  if (card.notes) rows.push(["Notes", card.notes]);
  if (card.data_license) rows.push(["Data", card.data_license]);
  rows.push(["Created", card.created ?? "—"], ["Runs on", `${model.runtime.device} (${model.runtime.dtype})`]);
  return rows;
}

async function loadModel() {
  const model = await (await api("/model")).json();
  const list = $("card");
  list.replaceChildren();
  for (const [name, value] of cardRows(model)) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    list.append(dt, dd);
  }
  $("model-line").textContent = `Model ${model.model_version} · ${model.generator.resolution}px`;
}

// ---------------------------------------------------------------------------------- wiring
function restoreFromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  for (const [key, id] of [["seed", "seed"], ["count", "count"], ["truncation", "truncation"], ["size", "size"]]) {
    if (params.has(key)) $(id).value = params.get(key);
  }
  $("truncation-value").textContent = Number($("truncation").value).toFixed(2);
}

function wire() {
  $("message-close").addEventListener("click", clearMessage);
  $("grid-form").addEventListener("submit", (event) => { event.preventDefault(); guarded(renderGrid); });
  $("prev").addEventListener("click", () => guarded(() => shiftPage(-1)));
  $("next").addEventListener("click", () => guarded(() => shiftPage(1)));
  $("random").addEventListener("click", () => guarded(randomPage));
  $("truncation").addEventListener("input", () => {
    $("truncation-value").textContent = Number($("truncation").value).toFixed(2);
  });
  $("walk-form").addEventListener("submit", (event) => { event.preventDefault(); guarded(interpolatePins); });
  $("blend-form").addEventListener("submit", (event) => { event.preventDefault(); guarded(blendPins); });
  $("blend-pin").addEventListener("click", () => { if (lastBlend) addPin(lastBlend); lastBlend = null; });
  for (const select of document.querySelectorAll(".pin-select")) {
    select.addEventListener("change", () => { select.dataset.touched = "1"; });
  }
}

wire();
restoreFromHash();
renderPins();
guarded(async () => {
  await Promise.all([loadModel(), renderGrid()]);
});
