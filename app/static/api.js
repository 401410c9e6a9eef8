// The public HTTP API as the studio calls it: fetch helpers, the release-versioned paths, and the
// server's refusals said in people's words (an ApiError names the input to fix, where it is one).

import { state } from "./state.js";

const $ = (id) => document.getElementById(id);

export class ApiError extends Error {
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
export async function api(path, options = {}, fields = {}) {
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

export async function imageUrl(path, options, fields = {}) {
  const blob = await (await api(path, options, fields)).blob();
  return URL.createObjectURL(blob);
}

export function release(url) {
  // free an image we no longer show, unless a pin still uses it as its thumbnail
  if (url && url.startsWith("blob:") && !state.pins.some((p) => p.thumb === url)) URL.revokeObjectURL(url);
}

export function postJson(body, accept = "application/json") {
  return { method: "POST", headers: { "Content-Type": "application/json", Accept: accept }, body: JSON.stringify(body) };
}

// Every image and latent comes from the versioned URLs of a release (immutable, so caches keep them);
// a server without releases gets the unversioned ones.
export function prefix(model) {
  return model ? `/models/${encodeURIComponent(model)}` : "";
}

export function avatarPath(model, seed, size, truncation) {
  return `${prefix(model)}/avatars/${seed}.png?size=${size}&truncation=${truncation}`;
}

export function withModel(model, body) {
  return model ? { model, ...body } : body;
}
