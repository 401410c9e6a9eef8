// The grid: a page of seeds (or two releases side by side), its controls, and its tiles, which pin
// and unpin.

import { ApiError, avatarPath, imageUrl, release } from "./api.js";
import { fillHairColors } from "./creator.js";
import { guarded } from "./messages.js";
import { isPinned, togglePin } from "./pins.js";
import { compareRelease, currentRelease, fillReleasePickers, servable, showCard, sizesOf } from "./releases.js";
import { state } from "./state.js";
import { fullHash, viewHash } from "./url.js";

const $ = (id) => document.getElementById(id);

export const MAX_SEED = (1n << 63n) - 1n;
export const SIZES = [64, 128, 256, 512]; // 512 only where the release has an HD upscaler (GET /models: sizes)
export const DEFAULTS = { seed: "0", count: 24, truncation: 1, size: 128 };
const PHONE_TILES = { 64: "64px", 128: "92px", 256: "150px", 512: "100%" }; // the narrowest tile, on a phone
const GRID_FIELDS = { seed: "seed", size: "size", truncation: "truncation" }; // a grid image's query -> its input

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

export async function renderGrid({ replace = false } = {}) {
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

export function validTruncation(value) {
  // the slider's values: 0.05 to 1 in steps of 0.05
  return Number.isFinite(value) && value >= 0.05 - 1e-9 && value <= 1 + 1e-9
    && Math.abs(value * 20 - Math.round(value * 20)) < 1e-6;
}

function markTile(button, pinned) {
  const release = button.dataset.model && $("grid").classList.contains("compare") ? ` in ${button.dataset.model}` : "";
  button.setAttribute("aria-pressed", String(pinned));
  button.setAttribute("aria-label", `Avatar ${button.dataset.seed}${release}: ${pinned ? "pinned, press to unpin" : "pin"}`);
}

export function markTiles() {
  for (const button of document.querySelectorAll("#grid .tile")) {
    markTile(button, isPinned(button.dataset.model || null, button.dataset.seed, state.gridTruncation));
  }
}

export function wireGrid() {
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
  new ResizeObserver(fitCaptions).observe($("grid"));
}
