// The creator: edit one avatar with sliders, breed it through variations (with undo), and create
// characters of a chosen hair colour. Everything it makes is an avatar code, so pins, share links
// and downloads of its avatars are exact.

import {
  CODE_PATTERN, codePath, decodeCode, editsText, jsonWithSeed, originOf, seedOrigin, withCounts,
} from "./codes.js";
import { api, ApiError, imageUrl, postJson, prefix, release } from "./api.js";
import { openDetail } from "./detail.js";
import { guarded, say } from "./messages.js";
import { actionButton, addCodePin } from "./pins.js";
import { currentRelease, defaultModel } from "./releases.js";
import { writeUrl } from "./url.js";

const $ = (id) => document.getElementById(id);
const PREVIEW_SIZE = 256;
const CHILD_SIZE = 128;
const VARIATIONS = 16;
const DEBOUNCE_MS = 200; // a slider sends many inputs per second; draw once the hand rests
const GROUPS = [
  ["attribute", "Attributes"],
  ["hair_color", "Hair colour"],
  ["explore", "Explore"],
];

const directionsOf = new Map(); // release -> promise of GET /models/{release}/directions
const editor = {
  model: null,
  avatar: null, // {seed | latent | code (a base, with its own edits as baseEdits), truncation, edits}
  origin: "", // what the avatar came from ("seed 5", "alice (black)", "blend #1 − #2"): its label's start
  code: null, // the current avatar's code, once asked for (dropped when a slider moves)
  codeUrl: null, // and its URL, where POST /codes answered it
  codeKey: "",
  history: [], // earlier avatars, each with the variations grid it was left from
  opener: null, // the button that opened the editor: the keyboard goes back to it on closing
  showing: false, // whether the variations of the avatar are on screen (the URL says so too)
  variationRenders: 0,
  requestSeed: 0,
  renders: 0,
  timer: 0,
};

// ------------------------------------------------------------------------------------ directions
export function directions(model) {
  if (!directionsOf.has(model)) {
    const load = api(`/models/${encodeURIComponent(model)}/directions`).then((r) => r.json())
      .catch((error) => {
        directionsOf.delete(model); // a failure is not remembered: the next try asks again
        if (error.status === 404) return { directions: [], hair_colors: [] }; // an older server
        throw error;
      });
    directionsOf.set(model, load);
  }
  return directionsOf.get(model);
}

// "hair_lightness" -> "hair lightness"; "hair_blonde" (a hair colour) -> "blonde"; "explore_0" -> "explore 0"
// (the number stays the API's, so a slider and an `edits` query string name the same direction)
export function directionLabel(direction) {
  const name = direction.name;
  if (direction.kind === "hair_color") return name.replace(/^hair_/, "").replace(/_/g, " ");
  const explore = /^explore_(\d+)$/.exec(name);
  if (explore) return `explore ${explore[1]}`;
  return name.replace(/_/g, " ");
}

function step(direction) {
  const [low, high] = direction.range;
  return (high - low) / 60 >= 0.1 ? 0.1 : 0.05;
}

function sliderRow(direction, value) {
  // the value is beside the label, not in it, so the slider's accessible name is just its words
  const row = document.createElement("div");
  row.className = "slider";
  const input = document.createElement("input");
  input.id = `slider-${direction.name}`;
  const name = document.createElement("label");
  name.htmlFor = input.id;
  name.textContent = directionLabel(direction);
  const shown = document.createElement("output");
  shown.className = "value";
  shown.htmlFor = input.id;
  Object.assign(input, { type: "range", min: direction.range[0], max: direction.range[1], step: step(direction) });
  input.value = String(value);
  input.dataset.direction = direction.name;
  if (direction.note) input.title = direction.note;
  shown.textContent = Number(input.value).toFixed(2);
  fillFromZero(input);
  input.addEventListener("input", () => {
    shown.textContent = Number(input.value).toFixed(2);
    fillFromZero(input);
    slidersMoved();
  });
  row.append(name, shown, input);
  return row;
}

// A direction's 0 (no edit) sits where its range puts it, often the middle: the track is filled from
// that 0 to the thumb, and 0 is marked (studio.css reads --zero, --low and --high, fractions of the range)
function fillFromZero(input) {
  const [low, high] = [Number(input.min), Number(input.max)];
  const at = (value) => Math.min(1, Math.max(0, (value - low) / (high - low)));
  const zero = at(0);
  const value = at(Number(input.value));
  input.style.setProperty("--zero", String(zero));
  input.style.setProperty("--low", String(Math.min(zero, value)));
  input.style.setProperty("--high", String(Math.max(zero, value)));
}

async function showSliders() {
  const found = await directions(editor.model);
  const box = $("sliders");
  box.replaceChildren();
  const note = $("sliders-note");
  note.hidden = true;
  if (!found.directions.length) {
    note.textContent = `Release ${editor.model} has no directions yet, so there are no sliders.`;
    note.hidden = false;
    return;
  }
  for (const [kind, title] of GROUPS) {
    const group = found.directions.filter((d) => d.kind === kind);
    if (!group.length) continue;
    const set = document.createElement("fieldset");
    set.className = "slider-group";
    const legend = document.createElement("legend");
    legend.textContent = title;
    set.append(legend, ...group.map((d) => sliderRow(d, editor.avatar.edits[d.name] ?? 0)));
    box.append(set);
  }
}

function readSliders() {
  const edits = {};
  for (const input of document.querySelectorAll("#sliders input[type=range]")) {
    const value = Number(Number(input.value).toFixed(2)); // 0.30000000000000004 -> 0.3
    if (value !== 0) edits[input.dataset.direction] = value;
  }
  return edits;
}

function slidersMoved() {
  editor.avatar = { ...editor.avatar, edits: readSliders() };
  showLabel();
  editor.code = null;
  clearTimeout(editor.timer);
  editor.timer = setTimeout(() => {
    writeUrl({ push: false }); // the address follows the sliders, without an entry per move
    guarded(showPreview);
  }, DEBOUNCE_MS);
}

// ---------------------------------------------------------------------------------- the avatar
function seedBody(avatar) {
  const body = { model: editor.model, truncation: avatar.truncation, edits: avatar.edits };
  return avatar.latent ? { ...body, latent: avatar.latent } : body;
}

function avatarKey(avatar) {
  return JSON.stringify([editor.model, avatar.seed, avatar.latent, avatar.code, avatar.truncation, avatar.edits]);
}

// A code-based avatar whose sliders are where its code has them: the code itself draws it
function unedited(avatar) {
  return avatar.code && editsText(avatar.edits) === editsText(avatar.baseEdits);
}

// The request that names the current avatar: a base code takes the sliders' edits in place of its own
// (the base stays the code that was picked, so edits replace rather than stack); a seed or latent takes
// its truncation and the edits
function codeBody(avatar) {
  if (avatar.code) return JSON.stringify({ model: editor.model, base: avatar.code, edits: avatar.edits });
  return avatar.seed !== undefined && avatar.seed !== null
    ? jsonWithSeed(seedBody(avatar), avatar.seed)
    : JSON.stringify(seedBody(avatar));
}

// The current avatar's code: its own while its sliders are untouched, else POST /codes
export async function currentCode() {
  const avatar = editor.avatar;
  if (unedited(avatar)) return avatar.code;
  const key = avatarKey(avatar);
  if (editor.code && editor.codeKey === key) return editor.code;
  const options = { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body: codeBody(avatar) };
  const { code, url } = await (await api("/codes", options)).json();
  editor.code = code;
  editor.codeUrl = url;
  editor.codeKey = key;
  return code;
}

function sized(url, size) {
  // the code URL POST /codes answers is the 64 px one; it takes ?size (and nothing else)
  return `${url.replace(/\?.*$/, "")}?size=${size}`;
}

async function previewPath() {
  const avatar = editor.avatar;
  if (avatar.seed !== undefined && avatar.seed !== null && !avatar.code) {
    // a seed draws straight from its URL, edits in the query: no code needed until one is kept
    const edits = editsText(avatar.edits);
    return `${prefix(editor.model)}/avatars/${avatar.seed}.png?size=${PREVIEW_SIZE}`
      + `&truncation=${avatar.truncation}${edits ? `&edits=${edits}` : ""}`;
  }
  const code = await currentCode();
  if (!unedited(editor.avatar) && editor.code === code && editor.codeUrl) return sized(editor.codeUrl, PREVIEW_SIZE);
  return codePath(editor.model, code, PREVIEW_SIZE);
}

async function showPreview() {
  const render = ++editor.renders;
  const img = $("editor-preview");
  img.setAttribute("aria-busy", "true");
  const path = await previewPath();
  img.dataset.path = path;
  const url = await imageUrl(path);
  if (render !== editor.renders) { release(url); return; } // a slider moved again meanwhile
  release(img.src);
  img.src = url;
  img.dataset.shown = path; // what the image on screen is of (the tests wait on it)
  img.removeAttribute("aria-busy");
  img.alt = editorLabel();
}

// An avatar as the editor holds it, from a code: a plain seed or latent with edits draws from its own
// URLs; a variation is known by its code, which stays the base its sliders' edits replace the edits of
export function avatarFromCode(code) {
  const spec = decodeCode(code);
  const base = { truncation: spec.truncation, edits: spec.edits, from: code };
  if (spec.variations.length) return { ...base, code, baseEdits: spec.edits };
  return spec.seed !== null ? { ...base, seed: spec.seed } : { ...base, latent: spec.latent };
}

// The avatar's one label, wherever the editor shows it (title, preview, large view, a pin of it):
// where it came from, its variation steps (its code's lineage) and its edits (the sliders)
export function editorLabel() {
  const avatar = editor.avatar;
  const steps = avatar.code ? decodeCode(avatar.code).variations.length : 0;
  return withCounts(editor.origin, steps, Object.keys(avatar.edits).length);
}

function showLabel() {
  const label = editorLabel();
  $("editor-title").textContent = `Edit ${label}`;
  $("editor-detail").setAttribute("aria-label", `Open the large view of ${label}`);
}

// ------------------------------------------------------------------------------- open / close
// pin: a studio pin ({model, kind, seed, latent, truncation, code, label}) or {model, code, label}
export async function openEditor(pin) {
  const from = document.activeElement;
  editor.opener = from && from !== document.body && !$("editor").contains(from)
    ? { element: from, label: from.getAttribute("aria-label") } : editor.opener;
  editor.model = pin.model || (await defaultModel());
  // `from`: the code the avatar is read from, so the URL can name it
  if (pin.kind === "seed") editor.avatar = { seed: pin.seed, truncation: pin.truncation, edits: {}, from: pin.code };
  else if (pin.kind === "latent") editor.avatar = { latent: pin.latent, truncation: 1, edits: {}, from: pin.code };
  else editor.avatar = avatarFromCode(pin.code);
  // a seed pin's label may name its release (the editor says that apart); other labels lose their counts
  editor.origin = pin.kind === "seed" ? seedOrigin(pin.seed, pin.truncation) : originOf(pin.label);
  editor.code = null;
  editor.history = [];
  editor.requestSeed = 0;
  editor.showing = false;
  editor.variationRenders += 1;
  $("variations").replaceChildren();
  $("editor").hidden = false;
  writeUrl({ push: true }); // Back closes the editor again, rather than leaving the studio
  await showAvatar();
  $("editor").scrollIntoView({ block: "start" });
  $("editor-title").focus({ preventScroll: true });
}

async function showAvatar() {
  showLabel();
  const psi = editor.avatar.truncation < 1 ? ` at truncation ${editor.avatar.truncation}` : "";
  $("editor-source").textContent = `Release ${editor.model}${psi}`;
  $("editor-undo").disabled = editor.history.length === 0;
  $("editor-undo").textContent = editor.history.length ? `Undo (${editor.history.length})` : "Undo";
  showHistory();
  await Promise.all([showSliders(), showPreview()]);
}

export function editorOpen() {
  return !$("editor").hidden;
}

// fromUrl: the address closed it (Back): it is written already
export function closeEditor({ fromUrl = false } = {}) {
  clearTimeout(editor.timer);
  editor.renders += 1;
  editor.variationRenders += 1;
  const hadFocus = $("editor").contains(document.activeElement);
  $("editor").hidden = true;
  if (!fromUrl) writeUrl({ push: true }); // Back opens it again
  if (hadFocus || document.activeElement === document.body) focusOpener();
}

// The keyboard goes back where the editor was opened from: the same button, or (the pins were drawn
// again meanwhile) the button of the same name, else the pinned list's heading
function focusOpener() {
  const { element, label } = editor.opener || {};
  const again = label && [...document.querySelectorAll("button[aria-label]")].find((b) => b.getAttribute("aria-label") === label);
  const target = element && element.isConnected ? element : again || $("pins-title");
  target.focus();
}

// The new preview takes the keyboard where the control that had it goes away (a picked variation's
// tile) or is disabled (Undo at the start)
function focusPreview() {
  $("editor-detail").focus({ preventScroll: true });
}

// ------------------------------------------------------------------------------- variations
function strength() {
  return Number(Number($("strength").value).toFixed(2));
}

async function showVariations() {
  const render = ++editor.variationRenders;
  const grid = $("variations");
  grid.setAttribute("aria-busy", "true");
  editor.showing = true;
  const of = await currentCode();
  const body = { model: editor.model, of, n: VARIATIONS, strength: strength(), seed: editor.requestSeed, size: CHILD_SIZE };
  const answer = await (await api("/variations", postJson(body), { strength: "strength" })).json();
  if (render !== editor.variationRenders) return; // another avatar (Back, a pick) is on screen now
  grid.replaceChildren(...answer.variations.map((child) => childTile(child)));
  grid.dataset.parent = answer.parent;
  grid.dataset.seed = String(answer.seed);
  grid.setAttribute("aria-busy", "false");
}

function childTile(child) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "tile child";
  button.dataset.code = child.code;
  button.setAttribute("aria-label", `Variation ${child.index + 1}: go on from it`);
  const img = document.createElement("img");
  img.src = child.url; // an immutable code URL: the browser may keep it
  img.alt = "";
  img.width = CHILD_SIZE;
  img.height = CHILD_SIZE;
  img.addEventListener("error", () => say(`Variation ${child.index + 1} could not be drawn.`));
  button.append(img);
  button.addEventListener("click", () => guarded(() => pickChild(child)));
  return button;
}

async function pickChild(child) {
  focusPreview(); // its tile is about to be replaced by the new avatar's children
  const code = await currentCode();
  const codeUrl = editor.code === code ? editor.codeUrl : null;
  editor.history.push({ avatar: editor.avatar, code, codeUrl, requestSeed: editor.requestSeed, strength: strength() });
  editor.avatar = avatarFromCode(child.code);
  editor.requestSeed = 0;
  editor.showing = true;
  writeUrl({ push: true }); // Back returns to the parent and its variations
  // go on from it: its own children at once. No toast over them: the preview that has the keyboard
  // is named for the pick, and Undo says how many steps it holds
  await Promise.all([showAvatar(), showVariations()]);
}

async function undo() {
  const last = editor.history.pop();
  if (!last) return;
  editor.avatar = last.avatar;
  editor.code = last.code;
  editor.codeUrl = last.codeUrl;
  editor.codeKey = avatarKey(last.avatar);
  editor.requestSeed = last.requestSeed;
  $("strength").value = String(last.strength);
  $("strength-value").textContent = last.strength.toFixed(2);
  editor.showing = true;
  writeUrl({ push: true }); // Back redoes the pick
  if (editor.history.length === 0 && document.activeElement === $("editor-undo")) focusPreview(); // Undo is disabled now
  await Promise.all([showAvatar(), showVariations()]); // the grid it was picked from, as it was
}

function showHistory() {
  const list = $("editor-history");
  list.replaceChildren();
  for (const [k, step] of editor.history.entries()) {
    const item = document.createElement("li");
    const img = document.createElement("img");
    img.src = codePath(editor.model, step.code, 64);
    img.alt = k === 0 ? "Start" : `Step ${k}`;
    img.width = 48;
    img.height = 48;
    item.append(img);
    list.append(item);
  }
  list.hidden = editor.history.length === 0;
}

// ------------------------------------------------------------------------------ the URL's editor
// The editor's state in the address (after the grid's view), so Back, reload and share links keep it:
//   edit=CODE          the avatar, read from its code (a pin's, a picked variation's)
//   edits=a:0.2,b:-1   the sliders, where they differ from the code's own edits (empty: none)
//   origin=TEXT        where it came from, where its code does not say ("alice (black)", a blend)
//   trail=CODE~SEED~STRENGTH,...   the avatars picked from, for Undo, each with its variations grid
//   variations=SEED&strength=0.3   the variations on screen
export const EDITOR_KEYS = ["edit", "edits", "origin", "trail", "variations", "strength"];

function codeOrigin(spec) {
  return spec.seed !== null ? seedOrigin(spec.seed, spec.truncation) : "blend";
}

export function editorParams() {
  const params = new URLSearchParams();
  const avatar = editor.avatar;
  if (!editorOpen() || !avatar || !avatar.from) return params;
  const spec = decodeCode(avatar.from);
  params.set("edit", avatar.from);
  if (editsText(avatar.edits) !== editsText(spec.edits)) params.set("edits", editsText(avatar.edits));
  if (editor.origin !== codeOrigin(spec)) params.set("origin", editor.origin);
  if (editor.history.length) {
    params.set("trail", editor.history.map((step) => `${step.code}~${step.requestSeed}~${step.strength}`).join(","));
  }
  if (editor.showing) {
    params.set("variations", String(editor.requestSeed));
    params.set("strength", String(strength()));
  }
  return params;
}

function readCode(text) {
  if (!CODE_PATTERN.test(text || "")) throw new Error("not a code");
  decodeCode(text);
  return text;
}

function readEdits(text) {
  const edits = {};
  for (const part of text.split(",").filter(Boolean)) {
    const match = /^([A-Za-z0-9_]{1,64}):(-?\d+(?:\.\d+)?)$/.exec(part);
    if (!match) throw new Error(`edit ${part}`);
    if (Number(match[2]) !== 0) edits[match[1]] = Number(match[2]);
  }
  return edits;
}

function readTrail(text) {
  return text.split(",").filter(Boolean).map((part) => {
    const [code, seed, power] = part.split("~");
    const value = Number(power);
    if (!/^\d{1,9}$/.test(seed || "") || !(value > 0 && value <= 1)) throw new Error(`step ${part}`);
    return { avatar: avatarFromCode(readCode(code)), code, codeUrl: null, requestSeed: Number(seed), strength: value };
  });
}

// Take the editor's state from the address (a reload, Back, Forward or a share link): set at once, so
// the address written next has it; returns the drawing of it, to await. An address without it closes
// the editor. A state that cannot be read is said, and the editor stays closed.
export function editorFromUrl(params) {
  if (!params.get("edit")) {
    if (editorOpen()) closeEditor({ fromUrl: true });
    return async () => {};
  }
  let avatar;
  let history;
  let requestSeed = 0;
  let power = strength();
  try {
    avatar = avatarFromCode(readCode(params.get("edit")));
    if (params.has("edits")) avatar.edits = readEdits(params.get("edits"));
    history = readTrail(params.get("trail") || "");
    if (params.has("variations")) {
      if (!/^\d{1,9}$/.test(params.get("variations"))) throw new Error("variations");
      requestSeed = Number(params.get("variations"));
      const asked = Number(params.get("strength") || power);
      if (!(asked >= 0.05 && asked <= 1)) throw new Error("strength");
      power = asked;
    }
  } catch {
    if (editorOpen()) closeEditor({ fromUrl: true });
    return async () => {
      throw new ApiError("This link's editor state could not be read, so the editor stays closed.");
    };
  }
  const wasOpen = editorOpen();
  clearTimeout(editor.timer);
  editor.model = decodeCode(avatar.from).release;
  editor.avatar = avatar;
  editor.origin = params.get("origin") || codeOrigin(decodeCode(avatar.from));
  editor.history = history;
  editor.requestSeed = requestSeed;
  editor.showing = params.has("variations");
  editor.code = null;
  editor.variationRenders += 1;
  $("strength").value = String(power);
  $("strength-value").textContent = power.toFixed(2);
  $("variations").replaceChildren();
  $("editor").hidden = false;
  return async () => {
    if (!wasOpen) $("editor").scrollIntoView({ block: "start" });
    await Promise.all([showAvatar(), editor.showing ? showVariations() : null]);
  };
}

// ------------------------------------------------------------------------- character creation
let pickedHair = ""; // the hair colour the person picked: kept through releases that lack it

// The release's hair colours. Where the colour shown so far is not among them, the picker moves to
// another, and says so beside it; the colour picked comes back with a release that has it
export async function fillHairColors(model) {
  const found = model ? await directions(model) : { hair_colors: [] };
  const select = $("hair-color");
  const shown = select.value;
  const wanted = pickedHair || shown;
  select.replaceChildren(...found.hair_colors.map((color) => new Option(color, color)));
  const note = $("hair-note");
  note.hidden = true;
  if (found.hair_colors.includes(wanted)) select.value = wanted;
  else if (wanted && found.hair_colors.length) {
    note.textContent = `Release ${model} has no ${wanted} hair, so Create uses ${select.value}.`;
    note.hidden = false;
  }
  const none = found.hair_colors.length === 0;
  $("create-unavailable").hidden = !none;
  $("create").disabled = none;
}

function readPlayerIds() {
  const ids = $("player-ids").value.split(",").map((id) => id.trim()).filter(Boolean);
  if (!ids.length) throw new ApiError("Enter a player id, such as player-1.", "player-ids");
  if (ids.length > 16) throw new ApiError("Create at most 16 characters at a time.", "player-ids");
  return ids;
}

async function createCharacters() {
  const model = currentRelease();
  const ids = readPlayerIds();
  const hair = $("hair-color").value;
  if (!hair) throw new ApiError("This release offers no hair colours.", "hair-color");
  const body = { ...(model ? { model } : {}), player_ids: ids, hair_color: hair, size: 128 };
  const fields = { player_ids: "player-ids", hair_color: "hair-color" };
  const answer = await (await api("/avatars", postJson(body), fields)).json();
  const list = $("created");
  list.replaceChildren(...answer.avatars.map((item) => createdItem(answer.model || model, item, hair)));
}

/** What the label adds when the player did not get their own face with exactly this colour. */
function createdNote(item) {
  if (item.hair_color_matched === false) return " (closest found)";
  if (item.hair_color_same_face === false) return " (a related face: theirs cannot take this colour)";
  return "";
}

function createdItem(model, item, hair) {
  const row = document.createElement("li");
  row.className = "pin created-item";
  const img = document.createElement("img");
  img.src = `data:image/png;base64,${item.png_base64}`;
  img.alt = `${item.player_id} with ${hair} hair`;
  img.width = 64;
  img.height = 64;
  const body = document.createElement("div");
  const label = document.createElement("div");
  label.className = "label";
  label.textContent = `${item.player_id} · ${hair}${createdNote(item)}`;
  const actions = document.createElement("div");
  actions.className = "actions";
  const name = `${item.player_id} (${hair})`;
  actions.append(
    actionButton("Pin", `Pin ${item.player_id}`, () => addCodePin(item.code, name)),
    actionButton("Edit", `Edit ${item.player_id}`, () => openEditor({ model, code: item.code, label: name })),
  );
  body.append(label, actions);
  row.append(img, body);
  return row;
}

// ---------------------------------------------------------------------------------- wiring
export function initCreator() {
  $("editor-close").addEventListener("click", closeEditor);
  // Escape closes the editor, unless the large view is open over it (then Escape closes that)
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.defaultPrevented && editorOpen() && !$("detail").open) closeEditor();
  });
  $("editor-undo").addEventListener("click", () => guarded(undo));
  $("editor-reset").addEventListener("click", () => {
    for (const input of document.querySelectorAll("#sliders input[type=range]")) {
      input.value = "0";
      input.dispatchEvent(new Event("input"));
    }
  });
  $("editor-pin").addEventListener("click", () => guarded(async () => {
    const pin = await addCodePin(await currentCode(), editorLabel());
    say(`Pinned #${pin.id}, ${pin.label}.`, "info");
  }));
  $("editor-detail").addEventListener("click", () => guarded(async () => {
    openDetail({ model: editor.model, code: await currentCode(), label: editorLabel() });
  }));
  $("strength").addEventListener("input", () => { $("strength-value").textContent = strength().toFixed(2); });
  const showAndWrite = async () => {
    await showVariations();
    writeUrl({ push: false }); // a reload (or a link) shows the same children
  };
  $("variations-form").addEventListener("submit", (event) => { event.preventDefault(); guarded(showAndWrite); });
  $("variations-new").addEventListener("click", () => {
    editor.requestSeed += 1; // a new request seed: other children of the same parent
    guarded(showAndWrite);
  });
  $("create-form").addEventListener("submit", (event) => { event.preventDefault(); guarded(createCharacters); });
  $("hair-color").addEventListener("change", () => {
    pickedHair = $("hair-color").value;
    $("hair-note").hidden = true;
  });
}

