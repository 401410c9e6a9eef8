// The large view: a pin (or the editor's avatar) at its release's largest size, in a dialog.

import { codePath } from "./codes.js";
import { guarded } from "./messages.js";
import { largest } from "./releases.js";
import { avatarUrl, share, snippet } from "./share.js";

const $ = (id) => document.getElementById(id);

let detailPin = null;

export function openDetail(pin) {
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

export function wireDetail() {
  $("detail-close").addEventListener("click", () => $("detail").close());
  $("detail-url").addEventListener("click", () => guarded(() => share(avatarUrl(detailPin), "URL", "detail")));
  $("detail-snippet").addEventListener("click", () => guarded(() => share(snippet(detailPin), "<img> snippet", "detail")));
  // a click on the backdrop (outside the dialog's box) closes it too
  $("detail").addEventListener("click", (event) => { if (event.target === $("detail")) $("detail").close(); });
}
