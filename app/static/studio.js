// Avatar studio: browse, compare, pin, interpolate and blend avatars through the public HTTP API;
// creator.js edits and breeds them. No framework and no build step: the service ships these files as they are.

import { CODE_PATTERN, codePath, decodeCode, isPlain, jsonWithSeed, specLabel } from "./codes.js";
import { EDITOR_KEYS, editorFromUrl, editorParams, fillHairColors, initCreator, openEditor } from "./creator.js";
import { zipBlob } from "./zip.js";

const MAX_SEED = (1n << 63n) - 1n;
const SIZES = [64, 128, 256, 512]; // 512 only where the release has an HD upscaler (GET /models: sizes)
const MAX_WEIGHT = 10;
const LATENT_BOUND = 10; // the API accepts latent values with |x| <= 10
const DEFAULTS = { seed: "0", count: 24, truncation: 1, size: 128 };
const $ = (id) => document.getElementById(id);
const PHONE_TILES = { 64: "64px", 128: "92px", 256: "150px", 512: "100%" }; // the narrowest tile, on a phone
const GRID_FIELDS = { seed: "seed", size: "size", truncation: "truncation" }; // a grid image's query -> its input
const STORE_KEY = "avatar-studio:pins"; // the pins' codes (and labels), kept across reloads
const EXPORT_SIZE = 128; // the zip's and sprite sheet's avatars
const SHARE_SIZE = 256; // Copy URL's avatars, and the <img> snippet's (the same URL, drawn at its size)
const SPRITE_COLUMNS = 8;

const state = {
  pins: [], // {id, kind: "seed" | "latent" | "code", code, model, seed, latent, truncation, label, thumb}
  nextPin: 1,
  pinning: new Set(), // tiles whose pin is on its way (a quick second click must not pin twice)
  releases: [], // from GET /models; empty when the server has none (then the unversioned URLs are used)
  defaultRelease: null,
  runtime: null, // device and dtype, from GET /model
  view: null, // the hash of the grid on screen, e.g. "model=v1&seed=0&count=24&truncation=1&size=128"
  renders: 0, // bumped per grid render, so late images of an older grid are dropped
  gridUrls: [], // object URLs of the grid's images, released when the grid is redrawn
  toastTimer: 0,
  lastControl: null, // the control last pressed or focused: a message keeps clear of it
};

// ------------------------------------------------------------------------------------ API access
class ApiError extends Error {
  constructor(message, field = null, status = null) {
    super(message);
    this.field = field; // the id of the input to fix, if the problem is one
    this.status = status; // the HTTP status, when the server answered
  }
}

function plain(message) {
  // "query.n: Input should be less than or equal to 256" -> "n: Input should be ..."
  return message.replace(/^(body|query|path|header)\.?/, "").replace(/^: /, "");
}

function ordinal(n) {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th");
  return `${n}${suffix}`;
}

// A field's name as its label says it: "Player ids", "Hair colour", "How different"
function fieldName(id) {
  const input = $(id);
  const label = input.closest("label") || document.querySelector(`label[for="${id}"]`);
  if (!label) return id;
  const words = label.cloneNode(true);
  for (const part of words.querySelectorAll("input, select, textarea, .value")) part.remove();
  return words.textContent.replace(/\s+/g, " ").trim() || id;
}

// A 422 names the field it refuses ({detail: [{loc: ["body", "player_ids", 1], msg}], message}): where
// the request came from a field of the page (fields: the API's name -> the input's id), the error is
// that field's, said in its label's words
function fieldRefusal(body, fields) {
  const first = body && Array.isArray(body.detail) ? body.detail[0] : null;
  if (!first || !Array.isArray(first.loc)) return null;
  const [, name, index] = first.loc;
  const id = fields[name];
  if (!id || !$(id)) return null;
  const item = Number.isInteger(index) ? ` (the ${ordinal(index + 1)})` : "";
  return new ApiError(`The server did not accept ${fieldName(id)}${item}: ${first.msg}.`, id, 422);
}

async function explain(response, fields = {}) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  const detail = body && typeof body.detail === "string" ? body.detail : null;
  if (response.status === 422) {
    const refused = fieldRefusal(body, fields);
    if (refused) return refused;
  }
  if (response.status === 422 && body && body.message) {
    return `The server did not accept that: ${plain(body.message)}.`;
  }
  if (response.status === 503) {
    const retry = response.headers.get("Retry-After");
    return `The server is busy right now. Please try again${retry ? ` in ${retry} seconds` : " shortly"}.`;
  }
  if (response.status === 413) return "That request is too large for the server.";
  if (response.status === 410 && detail) return `That release is no longer served: ${detail}`;
  if (detail) return `Something went wrong: ${detail}`;
  return `Something went wrong (HTTP ${response.status}).`;
}

// fields: the request's fields that come from inputs of the page (the API's name -> the input's id),
// so a 422 about one of them is shown at that input
async function api(path, options = {}, fields = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError("The server cannot be reached. Check that it is running.");
  }
  if (!response.ok) {
    const explained = await explain(response, fields);
    throw explained instanceof ApiError ? explained : new ApiError(explained, null, response.status);
  }
  return response;
}

async function imageUrl(path, options, fields = {}) {
  const blob = await (await api(path, options, fields)).blob();
  return URL.createObjectURL(blob);
}

function release(url) {
  // free an image we no longer show, unless a pin still uses it as its thumbnail
  if (url && url.startsWith("blob:") && !state.pins.some((p) => p.thumb === url)) URL.revokeObjectURL(url);
}

function postJson(body, accept = "application/json") {
  return { method: "POST", headers: { "Content-Type": "application/json", Accept: accept }, body: JSON.stringify(body) };
}

// Every image and latent comes from the versioned URLs of a release (immutable, so caches keep them);
// a server without releases gets the unversioned ones.
function prefix(model) {
  return model ? `/models/${encodeURIComponent(model)}` : "";
}

function avatarPath(model, seed, size, truncation) {
  return `${prefix(model)}/avatars/${seed}.png?size=${size}&truncation=${truncation}`;
}

function withModel(model, body) {
  return model ? { model, ...body } : body;
}

// ------------------------------------------------------------------------------------- messages
// One toast, fixed over the page: it never moves the tiles, and taps pass through it to what is below.
// It shows at the bottom of the window, or at the top where it would cover the control last used
// (a button near the bottom of the window, as Create often is on a phone).
function say(text, kind = "error") {
  const box = $("message");
  clearTimeout(state.toastTimer);
  box.className = `message ${kind === "info" ? "info" : ""}`;
  $("message-text").setAttribute("role", kind === "info" ? "status" : "alert");
  box.hidden = false; // shown first, then filled, so screen readers announce the new text
  $("message-text").textContent = text;
  placeMessage();
  if (kind === "info") state.toastTimer = setTimeout(hideMessage, 5000);
}

function placeMessage() {
  const box = $("message");
  box.classList.remove("top");
  const control = state.lastControl && state.lastControl.isConnected ? state.lastControl : null;
  if (!control) return;
  const covered = (element) => {
    const a = box.getBoundingClientRect();
    const b = element.getBoundingClientRect();
    return b.width > 0 && a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  };
  // the control, and the controls of its form or grid (what the person would use next)
  const group = control.closest("form, .grid, .variations-grid, .pin");
  const near = [control, ...(group ? group.querySelectorAll("input, select, button, textarea") : [])];
  // the side that covers none of them, else the one that leaves the control itself clear
  const cost = () => (covered(control) ? 1000 : 0) + near.filter(covered).length;
  const bottom = cost();
  if (bottom === 0) return;
  box.classList.add("top");
  if (cost() >= bottom) box.classList.remove("top");
}

function hideMessage() {
  clearTimeout(state.toastTimer);
  $("message").hidden = true;
}

// A field's own error: said under its form, and tied to the field (aria-invalid, aria-describedby),
// rather than in the toast, which covers the page and is read out of context
function showFieldError(id, text) {
  const field = $(id);
  let note = $("field-error");
  if (!note) {
    note = document.createElement("p");
    note.id = "field-error";
    note.className = "field-error";
    note.setAttribute("role", "alert");
  }
  const form = field.closest("form");
  if (form) form.append(note);
  else (field.closest("label") || field).after(note);
  note.textContent = text;
  field.setAttribute("aria-invalid", "true");
  const described = (field.getAttribute("aria-describedby") || "").split(/\s+/).filter((d) => d && d !== note.id);
  field.dataset.describedBy = described.join(" ");
  field.setAttribute("aria-describedby", [...described, note.id].join(" "));
}

function clearFieldError() {
  for (const field of document.querySelectorAll('[aria-invalid="true"]')) {
    field.removeAttribute("aria-invalid");
    if (field.dataset.describedBy !== undefined) {
      if (field.dataset.describedBy) field.setAttribute("aria-describedby", field.dataset.describedBy);
      else field.removeAttribute("aria-describedby");
      delete field.dataset.describedBy;
    }
  }
  const note = $("field-error");
  if (note) note.remove();
}

function clearMessage() {
  hideMessage();
  clearFieldError();
}

async function guarded(task) {
  clearMessage();
  try {
    await task();
  } catch (error) {
    const text = error instanceof ApiError ? error.message : `Unexpected problem: ${error.message}`;
    if (error.field && $(error.field)) {
      showFieldError(error.field, text);
      $(error.field).focus();
    } else {
      say(text);
    }
  }
}

function wholeInView(element) {
  const box = element.getBoundingClientRect();
  return box.width > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
}

// ---------------------------------------------------------------------------------- releases
function releaseByName(name) {
  return state.releases.find((r) => r.name === name);
}

function servable(name) {
  const found = releaseByName(name);
  return Boolean(found && found.loaded && found.status !== "retired");
}

function sizesOf(name) {
  // a server without releases (or an older one) serves what every release serves
  const found = releaseByName(name);
  return found && found.sizes ? found.sizes : [64, 128, 256];
}

function largest(name) {
  return Math.max(...sizesOf(name));
}

function manyReleases() {
  // pins and downloads name their release only where there is a choice
  return state.releases.filter((r) => servable(r.name)).length > 1;
}

function releaseLabel(entry) {
  const notes = [];
  if (entry.status === "default") notes.push("default");
  if (entry.status === "retired") notes.push(`retired${entry.successor ? `, now ${entry.successor}` : ""}`);
  else if (!entry.loaded) notes.push("not loaded");
  return notes.length ? `${entry.name} (${notes.join(", ")})` : entry.name;
}

function fillReleasePickers() {
  const model = $("model");
  const compare = $("compare");
  const pickedA = model.value || state.defaultRelease;
  const pickedB = compare.value;
  model.replaceChildren();
  compare.replaceChildren(new Option("(nothing)", ""));
  for (const entry of state.releases) {
    const a = new Option(releaseLabel(entry), entry.name);
    a.disabled = !servable(entry.name);
    model.append(a);
    if (servable(entry.name) && entry.name !== pickedA) compare.append(new Option(releaseLabel(entry), entry.name));
  }
  model.value = pickedA;
  compare.value = [...compare.options].some((o) => o.value === pickedB) ? pickedB : "";
  $("model-field").hidden = state.releases.length === 0;
  $("compare-field").hidden = state.releases.filter((r) => servable(r.name)).length < 2;
}

async function loadReleases() {
  const [listing, current] = await Promise.all([
    api("/models").then((r) => r.json()).catch((error) => {
      if (error.status === 404) return null; // a server without releases
      throw error;
    }),
    api("/model").then((r) => r.json()),
  ]);
  state.runtime = current.runtime;
  if (listing) {
    state.releases = listing.releases;
    state.defaultRelease = listing.default;
  } else {
    // an older server: one model, the unversioned URLs
    state.releases = [];
    state.defaultRelease = null;
    state.single = current;
  }
  fillReleasePickers();
}

// ----------------------------------------------------------------------------------- the grid
function currentRelease() {
  return state.releases.length ? $("model").value : null;
}

function compareRelease() {
  return state.releases.length && !$("compare-field").hidden ? $("compare").value || null : null;
}

function readGridControls() {
  const model = currentRelease();
  if (state.releases.length && !servable(model)) throw new ApiError("Pick a release that is served.", "model");
  const countText = $("count").value.trim();
  const count = Number(countText);
  if (!/^\d+$/.test(countText) || count < 1 || count > 256) {
    throw new ApiError("Count must be a whole number from 1 to 256.", "count");
  }
  const seedText = $("seed").value.trim();
  const highest = MAX_SEED - BigInt(count) + 1n; // the page's last seed is at most MAX_SEED
  if (!/^\d+$/.test(seedText) || BigInt(seedText) > highest) {
    throw new ApiError(`First seed must be a whole number from 0 to ${highest} for ${count} avatar${count === 1 ? "" : "s"}.`, "seed");
  }
  const seed = BigInt(seedText);
  const truncation = Number($("truncation").value);
  if (!validTruncation(truncation)) throw new ApiError("Truncation must be from 0.05 to 1.", "truncation");
  const size = Number($("size").value);
  if (!SIZES.includes(size)) throw new ApiError("Size must be 64, 128, 256 or 512 px.", "size");
  const compare = compareRelease();
  for (const name of [model, compare]) {
    if (name && !sizesOf(name).includes(size)) {
      const hd = state.releases.filter((r) => servable(r.name) && sizesOf(r.name).includes(size)).map((r) => r.name);
      throw new ApiError(`Release ${name} serves ${sizesOf(name).join(", ")} px; ${size} px needs an HD upscaler` +
        `${hd.length ? ` (${hd.join(", ")} ${hd.length === 1 ? "has" : "have"} one)` : ""}.`, "size");
    }
  }
  return { model, compare: compare === model ? null : compare, count, seed, truncation, size };
}

function viewHash({ model, compare, seed, count, truncation, size }) {
  const params = new URLSearchParams();
  if (model) params.set("model", model);
  if (compare) params.set("compare", compare);
  for (const [key, value] of Object.entries({ seed, count, truncation, size })) params.set(key, String(value));
  return hashText(params);
}

// the address's text: form-encoded, but with the commas, colons and tildes of lists left readable
function hashText(params) {
  return params.toString().replace(/%2C/gi, ",").replace(/%3A/gi, ":").replace(/%7E/gi, "~");
}

// The address: the grid's view, then the editor's state where it is open (creator.js: editorParams)
function fullHash(view = state.view) {
  const editing = hashText(editorParams());
  return [view, editing].filter(Boolean).join("&");
}

// Write the address for what is on screen: push adds a history entry (Back returns to what was),
// else the current entry is corrected
function writeUrl({ push = false } = {}) {
  if (state.view === null) return; // the first view is not shown yet: it writes the address itself
  const hash = fullHash();
  if (location.hash.slice(1) !== hash) history[push ? "pushState" : "replaceState"](null, "", `#${hash}`);
}

// An address's two parts as this page writes them, to tell what changed (Back, Forward, a link)
function urlParts(hash) {
  const params = new URLSearchParams(hash);
  const grid = new URLSearchParams();
  const editing = new URLSearchParams();
  for (const [key, value] of params) (EDITOR_KEYS.includes(key) ? editing : grid).append(key, value);
  const ordered = new URLSearchParams();
  for (const key of EDITOR_KEYS) if (editing.has(key)) ordered.set(key, editing.get(key));
  return { params, grid: hashText(grid), editing: hashText(ordered) };
}

// Show what the address names: the grid's view and the editor's state, each only where it changed
async function showUrl() {
  const { params, grid, editing } = urlParts(location.hash.slice(1));
  const drawEditor = editing !== hashText(editorParams()) ? editorFromUrl(params) : null; // set before the grid writes
  const jobs = [];
  if (grid !== state.view) jobs.push(showHashView());
  if (drawEditor) {
    jobs.push(drawEditor().catch((error) => {
      writeUrl(); // the state it could not read is taken out of the address
      throw error;
    }));
  }
  await Promise.all(jobs);
}

function makeTile(model, seed, truncation, size, caption) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "tile";
  button.dataset.seed = seed;
  if (model) button.dataset.model = model;
  button.dataset.caption = caption;
  markTile(button, isPinned(model, seed, truncation));
  const img = document.createElement("img");
  img.alt = `Avatar for seed ${seed}${model ? ` in release ${model}` : ""}`;
  img.width = size;
  img.height = size;
  button.append(img, captionOf(caption));
  button.addEventListener("click", (event) => {
    if (event.detail > 1) return; // the second click of a double click
    guarded(() => togglePin(model, seed, truncation));
  });
  return [button, img];
}

// A tile's caption: a seed of up to 19 digits does not fit a small tile, so its start gives way to an
// ellipsis and its last digits (what tells neighbours apart) always show; the whole seed is its title
// (and in the tile's accessible name)
const CAPTION_TAIL = 6;

function captionOf(text) {
  const label = document.createElement("span");
  label.className = "seed";
  label.title = text;
  const cut = Math.max(0, text.length - CAPTION_TAIL);
  const head = document.createElement("span");
  head.className = "head";
  head.textContent = text.slice(0, cut);
  const more = document.createElement("span");
  more.className = "more";
  more.textContent = "…";
  const tail = document.createElement("span");
  tail.className = "tail";
  tail.textContent = text.slice(cut);
  label.append(head, more, tail);
  return label;
}

// Mark the captions whose seed does not fit their tile (.cut: only the last digits after "…");
// again whenever the grid's width changes
function fitCaptions() {
  for (const caption of document.querySelectorAll("#grid .tile .seed")) {
    const head = caption.querySelector(".head");
    const tail = caption.querySelector(".tail");
    const style = getComputedStyle(caption);
    const room = caption.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    caption.classList.toggle("cut", head.scrollWidth + tail.getBoundingClientRect().width > room + 0.5);
  }
}

async function renderGrid({ replace = false } = {}) {
  const view = readGridControls();
  const { model, compare, count, seed, truncation, size } = view;
  const hash = viewHash(view);
  const full = fullHash(hash);
  if (location.hash.slice(1) !== full) history[replace ? "replaceState" : "pushState"](null, "", `#${full}`);
  state.view = hash;
  const render = ++state.renders;
  const grid = $("grid");
  // each size is drawn at least that large (a 256 px avatar is not shrunk to 128); on a phone, four
  // 64s, three 128s, two 256s or one 512 a row
  grid.style.setProperty("--tile", `${size}px`);
  grid.style.setProperty("--tile-phone", PHONE_TILES[size]);
  grid.classList.toggle("compare", Boolean(compare));
  $("compare-hint").hidden = !compare;
  grid.setAttribute("aria-busy", "true");
  grid.replaceChildren();
  state.gridUrls.forEach(release);
  state.gridUrls = [];
  state.gridTruncation = truncation;
  const loads = [];
  const load = (img, path) => imageUrl(path, {}, GRID_FIELDS).then((url) => {
    if (render !== state.renders) { release(url); return; } // a newer grid is on screen
    state.gridUrls.push(url);
    img.src = url;
  });
  for (let i = 0; i < count; i += 1) {
    const tileSeed = (seed + BigInt(i)).toString();
    if (compare) {
      // one figure per seed: release A's avatar next to release B's
      const pair = document.createElement("figure");
      pair.className = "pair";
      pair.dataset.seed = tileSeed;
      const tiles = [model, compare].map((name) => makeTile(name, tileSeed, truncation, size, name));
      const caption = document.createElement("figcaption");
      caption.textContent = `seed ${tileSeed}`;
      pair.append(...tiles.map(([button]) => button), caption);
      grid.append(pair);
      for (const [button, img] of tiles) loads.push(load(img, avatarPath(button.dataset.model, tileSeed, size, truncation)));
    } else {
      const [button, img] = makeTile(model, tileSeed, truncation, size, tileSeed);
      grid.append(button);
      loads.push(load(img, avatarPath(model, tileSeed, size, truncation)));
    }
  }
  fitCaptions();
  showCard(model, compare);
  const results = await Promise.allSettled(loads);
  if (render !== state.renders) return;
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
  readGridControls(); // a bad count is reported before the seed field changes
  const words = crypto.getRandomValues(new Uint32Array(2));
  const seed = ((BigInt(words[0] & 0x7fffffff) << 32n) | BigInt(words[1])) % (MAX_SEED - 256n);
  $("seed").value = seed.toString();
  return renderGrid();
}

// ------------------------------------------------------------------------------ the URL's view
function validTruncation(value) {
  // the slider's values: 0.05 to 1 in steps of 0.05
  return Number.isFinite(value) && value >= 0.05 - 1e-9 && value <= 1 + 1e-9
    && Math.abs(value * 20 - Math.round(value * 20)) < 1e-6;
}

function shown(value) {
  const text = String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

// Put the hash's view into the controls. What is not valid falls back to the default, and is listed:
// the returned text names each bad value (empty when all was fine).
function restoreFromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const problems = [];
  const take = (key, valid, fallback, rule, apply) => {
    if (!params.has(key)) return apply(fallback);
    const raw = params.get(key);
    if (valid(raw)) return apply(raw);
    problems.push(`${key}=${shown(raw)} (${rule}), so ${fallback === "" ? "nothing" : fallback}`);
    return apply(fallback);
  };
  if (state.releases.length) {
    const fallback = (() => {
      const asked = releaseByName(params.get("model"));
      return asked && asked.successor && servable(asked.successor) ? asked.successor : state.defaultRelease;
    })();
    const rule = (() => {
      const asked = releaseByName(params.get("model"));
      if (asked && asked.status === "retired") return "a retired release";
      if (asked) return "a release that is not loaded";
      return `known: ${state.releases.map((r) => r.name).join(", ")}`;
    })();
    take("model", servable, fallback, rule, (v) => { $("model").value = v; });
    fillReleasePickers(); // the compare list leaves out the release picked as A
    take("compare", (v) => v !== $("model").value && servable(v), "", "another served release",
      (v) => { $("compare").value = v; });
  }
  take("count", (v) => /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 256, DEFAULTS.count, "1 to 256",
    (v) => { $("count").value = v; });
  // seeds are 63-bit: digits and BigInt only, never a Number (which keeps 53 bits); the page's last
  // seed is the largest there is, so the first one may go up to MAX_SEED - count + 1
  const count = BigInt($("count").value);
  const highest = MAX_SEED - count + 1n;
  take("seed", (v) => /^\d+$/.test(v) && BigInt(v) <= highest, DEFAULTS.seed,
    `a whole number from 0 to ${highest} for ${count} avatar${count === 1n ? "" : "s"}`,
    (v) => { $("seed").value = BigInt(v).toString(); });
  take("truncation", (v) => v.trim() !== "" && validTruncation(Number(v)), DEFAULTS.truncation,
    "0.05 to 1 in steps of 0.05", (v) => { $("truncation").value = String(Number(v)); });
  take("size", (v) => SIZES.includes(Number(v)) && /^\d+$/.test(v), DEFAULTS.size, "64, 128, 256 or 512",
    (v) => { $("size").value = String(Number(v)); });
  $("truncation-value").textContent = Number($("truncation").value).toFixed(2);
  if (!problems.length) return "";
  return `This link had values the studio cannot show, so it shows defaults instead: ${problems.join("; ")}.`;
}

async function showHashView() {
  const problems = restoreFromHash();
  if (problems) say(problems);
  await pinsFromLink();
  await renderGrid({ replace: true }); // a corrected link replaces the bad one in the history
}

// A share link's pins: #...&pins=code,code&ids=1,4&names=,blend%20%231... (ids: their numbers there;
// names: the names a code does not say by itself, such as a blend's formula, empty where it does).
// They join the pins kept here (once each)
async function pinsFromLink() {
  const params = new URLSearchParams(location.hash.slice(1));
  const listed = params.get("pins");
  if (!listed) return;
  const ids = (params.get("ids") || "").split(",");
  // each name is percent-encoded on its own (commas too): split the raw text, then decode each
  const names = (/(?:^|&)names=([^&]*)/.exec(location.hash.slice(1)) || ["", ""])[1].split(",");
  const seen = new Set();
  const entries = [];
  listed.split(",").forEach((code, k) => {
    if (!CODE_PATTERN.test(code) || seen.has(code)) return;
    seen.add(code);
    let label = null;
    try { label = names[k] ? decodeURIComponent(names[k]).slice(0, 200) : null; } catch { /* a bad name: the code's own */ }
    entries.push({ code, id: /^\d{1,6}$/.test(ids[k] || "") ? Number(ids[k]) : null, label });
  });
  const added = await pinCodes(entries, failedWord(entries.length, "shared pin"));
  if (added) say(`The link added ${added} pin${added === 1 ? "" : "s"}.`, "info");
}

function linkedPins() {
  // the pins as a share link carries them: codes, numbers, and the names their codes do not say
  const kept = state.pins.filter((p) => p.code);
  const names = kept.map((p) => (p.label === codePin(p.code).label ? "" : encodeURIComponent(p.label)));
  return `pins=${kept.map((p) => p.code).join(",")}&ids=${kept.map((p) => p.id).join(",")}`
    + `${names.some(Boolean) ? `&names=${names.join(",")}` : ""}`;
}

// ------------------------------------------------------------------------------------- pinning
function findPin(model, seed, truncation) {
  return state.pins.find((p) => p.kind === "seed" && p.model === model && p.seed === seed && p.truncation === truncation);
}

function isPinned(model, seed, truncation) {
  return findPin(model, seed, truncation) !== undefined;
}

function markTile(button, pinned) {
  const release = button.dataset.model && $("grid").classList.contains("compare") ? ` in ${button.dataset.model}` : "";
  button.setAttribute("aria-pressed", String(pinned));
  button.setAttribute("aria-label", `Avatar ${button.dataset.seed}${release}: ${pinned ? "pinned, press to unpin" : "pin"}`);
}

function markTiles() {
  for (const button of document.querySelectorAll("#grid .tile")) {
    markTile(button, isPinned(button.dataset.model || null, button.dataset.seed, state.gridTruncation));
  }
}

function pinLabel(model, seed, truncation) {
  const psi = truncation < 1 ? ` (ψ ${truncation})` : "";
  return `seed ${seed}${psi}${model && manyReleases() ? ` · ${model}` : ""}`;
}

async function togglePin(model, seed, truncation) {
  const key = `${model}|${seed}|${truncation}`;
  if (state.pinning.has(key)) return; // already on its way
  const pinned = findPin(model, seed, truncation);
  if (pinned) {
    removePin(pinned.id);
    say(`Unpinned seed ${seed}.`, "info");
    return;
  }
  state.pinning.add(key);
  const id = reservePinId(); // numbered in click order, whichever request comes back first
  try {
    const [thumb, code] = await Promise.all([imageUrl(avatarPath(model, seed, 128, truncation)),
      codeOf({ model, truncation }, seed)]);
    const pin = addPin({ id, kind: "seed", code, model, seed, truncation, label: pinLabel(model, seed, truncation), thumb });
    // on a phone the pinned list is far below: say where the pin went
    const row = document.querySelector(`#pins [data-pin="${pin.id}"]`);
    if (!wholeInView(row)) say(`Pinned #${pin.id}, ${pin.label}. ${pinsCount()} — see Pinned below.`, "info");
  } finally {
    state.pinning.delete(key);
  }
}

function pinsCount() {
  return `${state.pins.length} pinned`;
}

function reservePinId() {
  state.nextPin += 1;
  return state.nextPin - 1;
}

function addPin(pin) {
  const added = { ...pin, id: pin.id ?? reservePinId() };
  state.pins.push(added);
  state.pins.sort((a, b) => a.id - b.id);
  renderPins();
  savePins();
  return added;
}

// POST /codes: the code of a seed (digits) or a latent, with its truncation (and the release's default model)
async function codeOf(body, seed = null) {
  const request = withModel(body.model, { truncation: body.truncation, ...(body.latent ? { latent: body.latent } : {}) });
  const options = postJson(request);
  if (seed !== null) options.body = jsonWithSeed(request, seed);
  return (await (await api("/codes", options)).json()).code;
}

// A pin from a code: a plain seed or latent pins as before; an edited or varied avatar is known by its code
function codePin(code, name = null) {
  const spec = decodeCode(code);
  const model = spec.release;
  const base = { code, model, truncation: spec.truncation, thumb: codePath(model, code, 128) };
  if (isPlain(spec) && spec.seed !== null) return { ...base, kind: "seed", seed: spec.seed, label: name || pinLabel(model, spec.seed, spec.truncation) };
  if (isPlain(spec)) return { ...base, kind: "latent", latent: spec.latent, label: name || "blended latent" };
  return { ...base, kind: "code", label: name || codeLabel(spec) };
}

function codeLabel(spec) {
  return specLabel(spec);
}

function addCodePin(code, name = null) {
  return state.pins.find((p) => p.code === code) || addPin(codePin(code, name));
}

// ------------------------------------------------------------------------------ kept pins
function savePins() {
  const kept = state.pins.filter((p) => p.code).map((p) => ({ code: p.code, label: p.label, id: p.id }));
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(kept));
  } catch { /* storage full or off: the pins still work, they are just not kept */ }
}

function storedPins() {
  try {
    const kept = JSON.parse(localStorage.getItem(STORE_KEY) || "[]");
    return Array.isArray(kept) ? kept.filter((p) => p && typeof p.code === "string" && CODE_PATTERN.test(p.code)) : [];
  } catch {
    return [];
  }
}

// Pin codes (from storage or a share link) the server still draws; say which it no longer does.
// Each keeps its number where no pin here has (or had) it, else takes the next one; a name that
// points at pins by number ("blend #1 − #2 + #4") follows them to their numbers here
async function pinCodes(entries, where) {
  const numbers = new Map(); // the entries' numbers -> the numbers here
  for (const entry of entries) {
    const here = state.pins.find((p) => p.code === entry.code);
    if (here && entry.id !== null && entry.id !== undefined) numbers.set(entry.id, here.id);
  }
  const fresh = entries.filter((e) => !state.pins.some((p) => p.code === e.code));
  const checks = await Promise.allSettled(fresh.map((e) => api(`/codes/${e.code}`)));
  const failed = [];
  const drawn = [];
  checks.forEach((check, k) => {
    if (check.status === "fulfilled") drawn.push(fresh[k]);
    else failed.push(check.reason.message);
  });
  drawn.sort((a, b) => (a.id ?? Infinity) - (b.id ?? Infinity));
  const added = drawn.map((entry) => {
    const keep = Number.isInteger(entry.id) && entry.id >= state.nextPin;
    const id = keep ? entry.id : reservePinId();
    if (keep) state.nextPin = id + 1;
    if (Number.isInteger(entry.id)) numbers.set(entry.id, id);
    return { id, entry };
  });
  const renumber = (label) => label && label.replace(/#(\d+)/g, (whole, n) => (numbers.has(Number(n)) ? `#${numbers.get(Number(n))}` : whole));
  for (const { id, entry } of added) {
    if (!state.pins.some((p) => p.code === entry.code)) addPin({ ...codePin(entry.code, renumber(entry.label)), id });
  }
  if (failed.length) say(`${failed.length} ${where} could not be shown: ${failed[0]}`);
  return added.length;
}

function restorePins() {
  return pinCodes(storedPins(), failedWord(storedPins().length, "kept pin"));
}

function failedWord(n, word) {
  return n === 1 ? word : `${word}s`;
}

function removePin(id) {
  const pin = state.pins.find((p) => p.id === id);
  state.pins = state.pins.filter((p) => p.id !== id);
  if (pin && pin.thumb !== $("blend-image").src) release(pin.thumb);
  renderPins();
  savePins();
}

function unpinFromList(id) {
  // keep the keyboard in the list: the next pin's Unpin, else the previous one's, else the list's heading
  const index = state.pins.findIndex((p) => p.id === id);
  removePin(id);
  const neighbour = state.pins[Math.min(index, state.pins.length - 1)];
  const target = neighbour ? document.querySelector(`#pins [data-pin="${neighbour.id}"] .unpin`) : $("pins-title");
  target.focus();
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

// code -> promise of the latent the generator draws for it (GET /codes/{code}: lineage, truncation and
// edits applied), so any pin, edited or varied, joins interpolation and blends; a code never changes
const drawnLatents = new Map();

function latentOf(pin) {
  if (!pin.code) return Promise.reject(new ApiError(`#${pin.id} has no avatar code yet; pin it again.`));
  if (!drawnLatents.has(pin.code)) {
    const load = api(`/codes/${pin.code}`).then((r) => r.json()).then((answer) => answer.drawn_latent)
      .catch((error) => {
        drawnLatents.delete(pin.code); // a failure is not remembered: the next try asks again
        throw error;
      });
    drawnLatents.set(pin.code, load);
  }
  return drawnLatents.get(pin.code);
}

async function downloadPin(pin, size) {
  let url;
  if (pin.kind === "seed") {
    url = await imageUrl(avatarPath(pin.model, pin.seed, size, pin.truncation));
  } else if (pin.code) {
    url = await imageUrl(codePath(pin.model, pin.code, size));
  } else {
    url = await imageUrl("/avatars", postJson(withModel(pin.model, { latents: [pin.latent], size }), "image/png"));
  }
  const link = document.createElement("a");
  link.href = url;
  const release = pin.model && manyReleases() ? `-${pin.model}` : "";
  const what = { seed: pin.seed, latent: `blend-${pin.id}`, code: `edit-${pin.id}` }[pin.kind];
  link.download = `avatar-${what}${release}-${size}.png`;
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
    if (pin.code) item.dataset.code = pin.code;
    const img = document.createElement("img");
    img.src = pin.thumb;
    img.alt = `Pinned ${pin.label}`;
    const view = document.createElement("button");
    view.type = "button";
    view.className = "pin-view";
    view.setAttribute("aria-label", `View #${pin.id} large`);
    view.append(img);
    view.addEventListener("click", () => openDetail(pin));
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
    for (const size of sizesOf(pin.model)) {
      actions.append(actionButton(`${size}px`, `Download #${pin.id} at ${size} pixels`, () => downloadPin(pin, size)));
    }
    actions.append(actionButton("Edit", `Edit #${pin.id}`, () => openEditor(pin)));
    if (pin.code) {
      actions.append(
        actionButton("Copy URL", `Copy the URL of #${pin.id}`, () => share(avatarUrl(pin), `URL of #${pin.id}`, "pins")),
        actionButton("<img>", `Copy an img snippet for #${pin.id}`, () => share(snippet(pin), `<img> snippet for #${pin.id}`, "pins")),
      );
    }
    const unpin = actionButton("Unpin", `Unpin #${pin.id}`, () => unpinFromList(pin.id));
    unpin.classList.add("unpin");
    actions.append(unpin);
    body.append(label, actions);
    item.append(view, body);
    list.append(item);
  }
  $("pin-count").textContent = String(state.pins.length);
  $("pins-empty").hidden = state.pins.length > 0;
  $("pin-tools").hidden = state.pins.length === 0;
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

function oneRelease(pins, field) {
  // latents of different releases do not mix: the networks (and even the latent sizes) differ
  const models = [...new Set(pins.map((p) => p.model))];
  if (models.length > 1) {
    throw new ApiError(`These pins come from different releases (${models.join(", ")}); pick pins of one release.`, field);
  }
  return models[0];
}

// ------------------------------------------------------------------------------- interpolation
const WALK_FIELDS = { steps: "walk-steps", mode: "walk-mode", start: "walk-a", end: "walk-b" };

async function interpolatePins() {
  const a = pinById("walk-a");
  const b = pinById("walk-b");
  if (a.id === b.id) throw new ApiError("Pick two different pinned avatars to interpolate between.", "walk-b");
  const model = oneRelease([a, b], "walk-b");
  const steps = Number($("walk-steps").value);
  if (!Number.isInteger(steps) || steps < 2 || steps > 64) {
    throw new ApiError("Steps must be a whole number from 2 to 64.", "walk-steps");
  }
  const [start, end] = await Promise.all([latentOf(a), latentOf(b)]);
  for (const [pin, latent] of [[a, start], [b, end]]) {
    const peak = Math.max(...latent.map(Math.abs)); // strong edits can carry a latent past what the API takes
    if (peak > LATENT_BOUND) {
      throw new ApiError(`#${pin.id} is drawn from a latent that reaches ${peak.toFixed(1)}, past the ${LATENT_BOUND} `
        + "interpolation takes: soften its edits and pin it again.", pin === a ? "walk-a" : "walk-b");
    }
  }
  // drawn latents have their truncation in them already
  const request = withModel(model, { start, end, steps, mode: $("walk-mode").value, truncation: 1, size: 128 });
  // one after the other: two long walks at once find each other's work ahead of them, which the
  // service's admission answers with 503
  const strip = await imageUrl("/interpolate", postJson({ ...request, format: "png" }, "image/png"), WALK_FIELDS);
  let gif;
  try {
    gif = await imageUrl("/interpolate", postJson({ ...request, format: "gif", frame_ms: 100 }, "image/gif"), WALK_FIELDS);
  } catch (error) {
    release(strip);
    throw error;
  }
  release($("walk-strip").src);
  release($("walk-gif").src);
  $("walk-strip").src = strip;
  $("walk-gif").src = gif;
  $("walk-strip-download").href = strip;
  $("walk-gif-download").href = gif;
  showFrames(strip, steps, `#${a.id} to #${b.id}`);
  $("walk-result").hidden = false;
}

function showFrames(strip, steps, what) {
  // the strip is steps x 128 px wide: rather than shrink it to a line, wrap its frames into rows
  const frames = $("walk-frames");
  frames.setAttribute("aria-label", `${steps} frames from ${what}`);
  frames.replaceChildren();
  for (let i = 0; i < steps; i += 1) {
    const frame = document.createElement("div");
    frame.className = "frame";
    frame.setAttribute("role", "listitem");
    frame.setAttribute("aria-label", `Frame ${i + 1} of ${steps}`);
    frame.style.backgroundImage = `url("${strip}")`;
    frame.style.backgroundSize = `${steps * 100}% 100%`;
    frame.style.backgroundPositionX = `${(i / (steps - 1)) * 100}%`;
    const number = document.createElement("span");
    number.textContent = String(i + 1);
    frame.append(number);
    frames.append(frame);
  }
}

// --------------------------------------------------------------------------------- arithmetic
let lastBlend = null;

function readWeight(id, name) {
  const input = $(id);
  const text = input.value.trim();
  if (input.validity.badInput) throw new ApiError(`${name} is not a number.`, id);
  if (text === "") throw new ApiError(`${name} is blank: enter a number such as 1 or −0.5.`, id);
  const value = Number(text);
  if (!Number.isFinite(value) || Math.abs(value) > MAX_WEIGHT) {
    throw new ApiError(`${name} must be a number from −${MAX_WEIGHT} to ${MAX_WEIGHT}.`, id);
  }
  return value;
}

function formula(terms) {
  // "#1 − #2 + #3", or with weights "0.5×#1 + 0.5×#2"
  return terms
    .map(([pin, w], k) => {
      const sign = w < 0 ? "− " : k ? "+ " : "";
      const size = Math.abs(w) === 1 ? "" : `${Math.abs(w)}×`;
      return `${sign}${size}#${pin.id}`;
    })
    .join(" ");
}

async function blendPins() {
  const a = pinById("blend-a");
  const b = pinById("blend-b");
  const c = pinById("blend-c", false);
  const terms = [[a, readWeight("weight-a", "Weight of A")], [b, readWeight("weight-b", "Weight of B")]];
  if (c) terms.push([c, readWeight("weight-c", "Weight of C")]);
  const model = oneRelease(terms.map(([pin]) => pin), "blend-b");

  // the same pin twice adds up to one term: say so, and refuse a blend that cancels to nothing
  const merged = new Map();
  for (const [pin, w] of terms) merged.set(pin, (merged.get(pin) || 0) + w);
  const effective = [...merged].filter(([, w]) => Math.abs(w) > 1e-9);
  let note = "";
  if (merged.size < terms.length) {
    const names = ["A", "B", "C"];
    const twice = [...merged.keys()].map((pin) => ({ pin, slots: terms.flatMap(([p], k) => (p === pin ? [names[k]] : [])) }))
      .filter(({ slots }) => slots.length > 1)
      .map(({ pin, slots }) => `${slots.join(" and ")} are the same pin (#${pin.id})`)
      .join("; ");
    if (effective.length === 0) {
      throw new ApiError(`${twice} and the weights cancel out: the blend would be the empty latent, a flat grey blur. `
        + "Pick different pins.", "blend-b");
    }
    note = `${twice}, so this blend is ${formula(effective)}.`;
  }
  const latents = await Promise.all(effective.map(([pin]) => latentOf(pin)));
  const mixed = latents[0].map((_, i) => effective.reduce((sum, [, w], k) => sum + w * latents[k][i], 0));
  const peak = Math.max(...mixed.map(Math.abs));
  if (peak > LATENT_BOUND) {
    throw new ApiError(`These weights go too far: the blend reaches ${peak.toFixed(1)} where the model takes at most `
      + `${LATENT_BOUND}. Use smaller weights.`, "weight-a");
  }
  const url = await imageUrl("/avatars", postJson(withModel(model, { latents: [mixed], truncation: 1, size: 256 }), "image/png"));
  release($("blend-image").src);
  $("blend-image").src = url;
  $("blend-result").hidden = false;
  const label = formula(effective);
  $("blend-image").alt = `Blend ${label}`;
  lastBlend = { kind: "latent", model, latent: mixed, truncation: 1, label: `blend ${label}`, thumb: url };
  if (note) say(note, "info");
}

// ------------------------------------------------------------------------------ sharing
function avatarUrl(pin, size = SHARE_SIZE) {
  return `${location.origin}${codePath(pin.model, pin.code, size)}`;
}

function escapeAttribute(text) {
  return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

function snippet(pin) {
  return `<img src="${avatarUrl(pin)}" width="${SHARE_SIZE}" height="${SHARE_SIZE}" alt="${escapeAttribute(`Avatar: ${pin.label}`)}">`;
}

function withTimeout(promise, ms) {
  // a clipboard request the browser never answers must not leave the button hanging
  return Promise.race([promise, new Promise((resolve) => { setTimeout(() => resolve(false), ms); })]);
}

// Show the text (so it can be selected by hand where copying is not allowed), then try to copy it
async function share(text, what, where) {
  const [box, label, area] = where === "detail"
    ? [$("detail-text"), $("detail-text-label"), $("detail-text")]
    : [$("share-box"), $("share-label"), $("share-text")];
  label.textContent = what;
  area.value = text;
  box.hidden = false;
  label.hidden = false;
  const copied = await withTimeout(copyText(text).catch(() => false), 1500);
  if (where === "detail") return; // the dialog covers the toast: the text under the buttons says it
  say(copied ? `Copied the ${what}.` : `This browser did not allow copying: select the ${what} below.`, "info");
}

function shareLink() {
  const codes = state.pins.filter((p) => p.code).map((p) => p.code);
  if (!codes.length) throw new ApiError("Pin an avatar first: the link carries the pins.");
  return `${location.origin}${location.pathname}#${[fullHash(), linkedPins()].filter(Boolean).join("&")}`;
}

// ------------------------------------------------------------------------------ the large view
let detailPin = null;

function openDetail(pin) {
  if (!pin.code) return;
  detailPin = pin;
  $("detail-title").textContent = pin.id ? `#${pin.id} · ${pin.label}` : pin.label;
  // the release's largest size: 512 px drawn by its HD upscaler where it has one
  const side = largest(pin.model);
  $("detail-image").src = codePath(pin.model, pin.code, side);
  $("detail-image").alt = `Avatar: ${pin.label}, ${side} pixels`;
  $("detail-text").hidden = true;
  $("detail-text-label").hidden = true;
  $("detail").showModal(); // Escape closes it, and the focus goes back where it was
}

// ------------------------------------------------------------------------------ exports
async function pinBytes(pin, size) {
  const path = pin.code ? codePath(pin.model, pin.code, size) : avatarPath(pin.model, pin.seed, size, pin.truncation);
  return new Uint8Array(await (await api(path)).arrayBuffer());
}

function fileName(pin, k) {
  const slug = pin.label.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 40);
  return `${String(k + 1).padStart(2, "0")}-${slug || "avatar"}.png`;
}

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000); // the download has the bytes by then
}

function exportedPins() {
  if (!state.pins.length) throw new ApiError("Pin some avatars first.");
  return state.pins;
}

async function downloadZip() {
  const pins = exportedPins();
  const files = await Promise.all(pins.map(async (pin, k) => ({ name: fileName(pin, k), data: await pinBytes(pin, EXPORT_SIZE) })));
  saveBlob(zipBlob(files), "avatars.zip");
  await showUsage(pins, `${pins.length} avatars of ${EXPORT_SIZE} px, one PNG each`);
}

async function downloadSprite() {
  const pins = exportedPins();
  const columns = Math.min(SPRITE_COLUMNS, pins.length);
  const rows = Math.ceil(pins.length / columns);
  const canvas = document.createElement("canvas");
  canvas.width = columns * EXPORT_SIZE;
  canvas.height = rows * EXPORT_SIZE;
  const draw = canvas.getContext("2d");
  const images = await Promise.all(pins.map(async (pin) => createImageBitmap(new Blob([await pinBytes(pin, EXPORT_SIZE)]))));
  images.forEach((image, k) => draw.drawImage(image, (k % columns) * EXPORT_SIZE, Math.floor(k / columns) * EXPORT_SIZE));
  const blob = await new Promise((resolve) => { canvas.toBlob(resolve, "image/png"); });
  saveBlob(blob, "avatars-sprite.png");
  await showUsage(pins, `${pins.length} avatars of ${EXPORT_SIZE} px, ${columns} a row, in pin order`);
}

// What the model cards say about the training data, quoted, so whoever uses the avatars knows
async function showUsage(pins, what) {
  const models = [...new Set(pins.map((p) => p.model).filter(Boolean))];
  const lines = await Promise.all(models.map(async (name) => {
    const card = await api(`/models/${encodeURIComponent(name)}`).then((r) => r.json()).then((m) => m.card || {})
      .catch(() => (releaseByName(name) || {}).card || {});
    return card.data_license
      ? `Release ${name}'s model card says of its training data: “${card.data_license}”.`
      : `Release ${name}'s model card states no data licence: ask its owners before you publish these avatars.`;
  }));
  const note = $("usage-note");
  note.textContent = `Downloaded ${what}. ${lines.join(" ")} Check that your use fits.`;
  note.hidden = false;
}

function wireSharing() {
  $("share-pins").addEventListener("click", () => guarded(() => share(shareLink(), "share link", "pins")));
  $("zip-pins").addEventListener("click", () => guarded(downloadZip));
  $("sprite-pins").addEventListener("click", () => guarded(downloadSprite));
  $("detail-close").addEventListener("click", () => $("detail").close());
  $("detail-url").addEventListener("click", () => guarded(() => share(avatarUrl(detailPin), "URL", "detail")));
  $("detail-snippet").addEventListener("click", () => guarded(() => share(snippet(detailPin), "<img> snippet", "detail")));
  // a click on the backdrop (outside the dialog's box) closes it too
  $("detail").addEventListener("click", (event) => { if (event.target === $("detail")) $("detail").close(); });
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
  const rows = [];
  if (model.name) rows.push(["Release", `${model.name}${model.status === "default" ? " (default)" : ""}`]);
  rows.push(
    ["Version", model.model_version],
    ["Resolution", model.upscaler
      ? `drawn at ${side} × ${side} px; ${model.upscaler.sizes.join(", ")} px by its HD upscaler (${model.upscaler.architecture} ×${model.upscaler.scale}), other sizes Lanczos`
      : `${side} × ${side} px (larger sizes are enlarged with Lanczos)`],
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
  );
  if (metrics.fid !== undefined) rows.push(["FID", Number(metrics.fid).toFixed(1)]);
  if (card.notes) rows.push(["Notes", card.notes]);
  if (card.data_license) rows.push(["Data", card.data_license]);
  rows.push(["Created", card.created ?? "—"]);
  if (state.runtime) rows.push(["Runs on", `${state.runtime.device} (${state.runtime.dtype})`]);
  return rows;
}

function showCard(name, compare) {
  const model = name ? releaseByName(name) : state.single;
  if (!model) return;
  const list = $("card");
  list.replaceChildren();
  for (const [key, value] of cardRows(model)) {
    const dt = document.createElement("dt");
    dt.textContent = key;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    list.append(dt, dd);
  }
  const other = compare ? releaseByName(compare) : null;
  $("model-line").textContent = [
    name ? `Release ${name}` : null,
    `model ${model.model_version}`,
    `${model.generator.resolution}px`,
    other ? `compared with ${other.name} (${other.model_version}, ${other.generator.resolution}px)` : null,
  ].filter(Boolean).join(" · ");
}

// ---------------------------------------------------------------------------------- wiring
function wire() {
  $("message-close").addEventListener("click", clearMessage);
  const noteControl = (event) => {
    const control = event.target instanceof Element && event.target.closest("button, input, select, textarea, a");
    if (control && control.id !== "message-close") state.lastControl = control;
  };
  document.addEventListener("pointerdown", noteControl, true);
  document.addEventListener("focusin", noteControl, true);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("message").hidden) clearMessage();
  });
  // Back and Forward (and an edited address) show the view the URL names, and the editor's state
  const followUrl = () => {
    if (location.hash.slice(1) !== fullHash()) guarded(showUrl);
  };
  window.addEventListener("popstate", followUrl);
  window.addEventListener("hashchange", followUrl);
  $("grid-form").addEventListener("submit", (event) => { event.preventDefault(); guarded(renderGrid); });
  $("model").addEventListener("change", () => {
    fillReleasePickers();
    guarded(renderGrid);
    guarded(() => fillHairColors(currentRelease()));
  });
  $("compare").addEventListener("change", () => guarded(renderGrid));
  $("prev").addEventListener("click", () => guarded(() => shiftPage(-1)));
  $("next").addEventListener("click", () => guarded(() => shiftPage(1)));
  $("random").addEventListener("click", () => guarded(randomPage));
  $("truncation").addEventListener("input", () => {
    $("truncation-value").textContent = Number($("truncation").value).toFixed(2);
  });
  $("walk-form").addEventListener("submit", (event) => { event.preventDefault(); guarded(interpolatePins); });
  $("blend-form").addEventListener("submit", (event) => { event.preventDefault(); guarded(blendPins); });
  $("blend-pin").addEventListener("click", () => guarded(async () => {
    if (!lastBlend) return;
    const blend = lastBlend;
    lastBlend = null;
    const pin = addPin({ ...blend, code: await codeOf(blend) });
    say(`Pinned #${pin.id}, ${pin.label}.`, "info");
  }));
  for (const select of document.querySelectorAll(".pin-select")) {
    select.addEventListener("change", () => { select.dataset.touched = "1"; });
  }
  new ResizeObserver(fitCaptions).observe($("grid"));
  // a skip link moves the keyboard, not the address: the hash is the view's
  for (const link of document.querySelectorAll(".skip-link")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      const target = document.getElementById(link.getAttribute("href").slice(1));
      target.focus();
      target.scrollIntoView({ block: "start" });
    });
  }
}

wire();
wireSharing();
initCreator({
  api, imageUrl, postJson, guarded, say, ApiError, release, prefix, actionButton, addCodePin, openDetail,
  currentRelease, defaultModel: () => currentRelease() || state.defaultRelease, writeUrl,
});
renderPins();
guarded(async () => {
  await loadReleases();
  await restorePins();
  await showUrl();
  await fillHairColors(currentRelease());
});
