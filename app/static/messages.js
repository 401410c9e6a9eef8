// Messages: one toast over the page, and a field's own error under its form. guarded() runs a task
// and shows what went wrong where it belongs.

import { ApiError } from "./api.js";
import { state } from "./state.js";

const $ = (id) => document.getElementById(id);

// One toast, fixed over the page: it never moves the tiles, and taps pass through it to what is below.
// It shows at the bottom of the window, or at the top where it would cover the control last used
// (a button near the bottom of the window, as Create often is on a phone).
export function say(text, kind = "error") {
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

export async function guarded(task) {
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

export function wholeInView(element) {
  const box = element.getBoundingClientRect();
  return box.width > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
}

export function wireMessages() {
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
}
