// The address: the grid's view and the editor's state live in the URL's hash, so Back, reload and
// links show what was on screen.

import { EDITOR_KEYS, editorFromUrl, editorParams } from "./creator.js";
import { DEFAULTS, MAX_SEED, renderGrid, SIZES, validTruncation } from "./grid.js";
import { guarded, say } from "./messages.js";
import { fillReleasePickers, releaseByName, servable } from "./releases.js";
import { pinsFromLink } from "./share.js";
import { state } from "./state.js";

const $ = (id) => document.getElementById(id);

export function viewHash({ model, compare, seed, count, truncation, size }) {
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
export function fullHash(view = state.view) {
  const editing = hashText(editorParams());
  return [view, editing].filter(Boolean).join("&");
}

// Write the address for what is on screen: push adds a history entry (Back returns to what was),
// else the current entry is corrected
export function writeUrl({ push = false } = {}) {
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
export async function showUrl() {
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

export function shown(value) {
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

// Back and Forward (and an edited address) show the view the URL names, and the editor's state
export function wireUrl() {
  const followUrl = () => {
    if (location.hash.slice(1) !== fullHash()) guarded(showUrl);
  };
  window.addEventListener("popstate", followUrl);
  window.addEventListener("hashchange", followUrl);
}
