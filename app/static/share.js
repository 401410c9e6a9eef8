// Sharing: share links that carry the pins, avatar URLs and <img> snippets, and the exports (a zip,
// a sprite sheet) with what the model cards say about their use.

import { api, ApiError, avatarPath } from "./api.js";
import { CODE_PATTERN, codePath } from "./codes.js";
import { guarded, say } from "./messages.js";
import { codePin, copyText, failedWord, pinCodes } from "./pins.js";
import { releaseByName } from "./releases.js";
import { state } from "./state.js";
import { fullHash } from "./url.js";
import { zipBlob } from "./zip.js";

const $ = (id) => document.getElementById(id);

const EXPORT_SIZE = 128; // the zip's and sprite sheet's avatars
const SHARE_SIZE = 256; // Copy URL's avatars, and the <img> snippet's (the same URL, drawn at its size)
const SPRITE_COLUMNS = 8;

// A share link's pins: #...&pins=code,code&ids=1,4&names=,blend%20%231... (ids: their numbers there;
// names: the names a code does not say by itself, such as a blend's formula, empty where it does).
// They join the pins kept here (once each)
export async function pinsFromLink() {
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

export function avatarUrl(pin, size = SHARE_SIZE) {
  return `${location.origin}${codePath(pin.model, pin.code, size)}`;
}

function escapeAttribute(text) {
  return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

export function snippet(pin) {
  return `<img src="${avatarUrl(pin)}" width="${SHARE_SIZE}" height="${SHARE_SIZE}" alt="${escapeAttribute(`Avatar: ${pin.label}`)}">`;
}

function withTimeout(promise, ms) {
  // a clipboard request the browser never answers must not leave the button hanging
  return Promise.race([promise, new Promise((resolve) => { setTimeout(() => resolve(false), ms); })]);
}

// Show the text (so it can be selected by hand where copying is not allowed), then try to copy it
export async function share(text, what, where) {
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

export function wireSharing() {
  $("share-pins").addEventListener("click", () => guarded(() => share(shareLink(), "share link", "pins")));
  $("zip-pins").addEventListener("click", () => guarded(downloadZip));
  $("sprite-pins").addEventListener("click", () => guarded(downloadSprite));
}
