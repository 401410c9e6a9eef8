// Pins: the avatars kept aside (in localStorage too), their list with its actions, and the pickers
// of the interpolation and blend forms.

import { api, ApiError, avatarPath, imageUrl, postJson, release, withModel } from "./api.js";
import { CODE_PATTERN, codePath, decodeCode, isPlain, jsonWithSeed, specLabel } from "./codes.js";
import { openEditor } from "./creator.js";
import { openDetail } from "./detail.js";
import { markTiles } from "./grid.js";
import { guarded, say, wholeInView } from "./messages.js";
import { manyReleases, sizesOf } from "./releases.js";
import { avatarUrl, share, snippet } from "./share.js";
import { state } from "./state.js";

const $ = (id) => document.getElementById(id);

const STORE_KEY = "avatar-studio:pins"; // the pins' codes (and labels), kept across reloads

function findPin(model, seed, truncation) {
  return state.pins.find((p) => p.kind === "seed" && p.model === model && p.seed === seed && p.truncation === truncation);
}

export function isPinned(model, seed, truncation) {
  return findPin(model, seed, truncation) !== undefined;
}

function pinLabel(model, seed, truncation) {
  const psi = truncation < 1 ? ` (ψ ${truncation})` : "";
  return `seed ${seed}${psi}${model && manyReleases() ? ` · ${model}` : ""}`;
}

export async function togglePin(model, seed, truncation) {
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

export function addPin(pin) {
  const added = { ...pin, id: pin.id ?? reservePinId() };
  state.pins.push(added);
  state.pins.sort((a, b) => a.id - b.id);
  renderPins();
  savePins();
  return added;
}

// POST /codes: the code of a seed (digits) or a latent, with its truncation (and the release's default model)
export async function codeOf(body, seed = null) {
  const request = withModel(body.model, { truncation: body.truncation, ...(body.latent ? { latent: body.latent } : {}) });
  const options = postJson(request);
  if (seed !== null) options.body = jsonWithSeed(request, seed);
  return (await (await api("/codes", options)).json()).code;
}

// A pin from a code: a plain seed or latent pins as before; an edited or varied avatar is known by its code
export function codePin(code, name = null) {
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

export function addCodePin(code, name = null) {
  return state.pins.find((p) => p.code === code) || addPin(codePin(code, name));
}

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
export async function pinCodes(entries, where) {
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

export function restorePins() {
  return pinCodes(storedPins(), failedWord(storedPins().length, "kept pin"));
}

export function failedWord(n, word) {
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

export async function copyText(text) {
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

export function actionButton(text, label, handler) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = text;
  button.setAttribute("aria-label", label);
  button.addEventListener("click", () => guarded(handler));
  return button;
}

export function renderPins() {
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

export function pinById(selectId, required = true) {
  const value = $(selectId).value;
  const pin = state.pins.find((p) => String(p.id) === value);
  if (!pin && required) throw new ApiError("Pin at least two avatars first, then pick them here.");
  return pin;
}

export function oneRelease(pins, field) {
  // latents of different releases do not mix: the networks (and even the latent sizes) differ
  const models = [...new Set(pins.map((p) => p.model))];
  if (models.length > 1) {
    throw new ApiError(`These pins come from different releases (${models.join(", ")}); pick pins of one release.`, field);
  }
  return models[0];
}
