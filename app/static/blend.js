// What pins make together: an interpolation between two, and a weighted blend of two or three.

import { api, ApiError, imageUrl, postJson, release, withModel } from "./api.js";
import { guarded, say } from "./messages.js";
import { addPin, codeOf, oneRelease, pinById } from "./pins.js";

const $ = (id) => document.getElementById(id);

const MAX_WEIGHT = 10;
const LATENT_BOUND = 10; // the API accepts latent values with |x| <= 10

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

export function wireBlend() {
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
}
