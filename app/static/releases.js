// The releases the server offers (GET /models, GET /model), their pickers, and the model card.

import { api } from "./api.js";
import { state } from "./state.js";

const $ = (id) => document.getElementById(id);

export function releaseByName(name) {
  return state.releases.find((r) => r.name === name);
}

export function servable(name) {
  const found = releaseByName(name);
  return Boolean(found && found.loaded && found.status !== "retired");
}

export function sizesOf(name) {
  // a server without releases (or an older one) serves what every release serves
  const found = releaseByName(name);
  return found && found.sizes ? found.sizes : [64, 128, 256];
}

export function largest(name) {
  return Math.max(...sizesOf(name));
}

export function manyReleases() {
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

export function fillReleasePickers() {
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

export async function loadReleases() {
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

export function currentRelease() {
  return state.releases.length ? $("model").value : null;
}

export function compareRelease() {
  return state.releases.length && !$("compare-field").hidden ? $("compare").value || null : null;
}

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

export function showCard(name, compare) {
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

// the release a new avatar comes from: the one picked, else the server's default
export function defaultModel() {
  return currentRelease() || state.defaultRelease;
}
