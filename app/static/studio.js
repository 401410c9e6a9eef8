// Avatar studio: browse, compare, pin, interpolate and blend avatars through the public HTTP API;
// creator.js edits and breeds them. No framework and no build step: the service ships these files as
// they are, as ES modules, one per panel (grid, pins, blend, share, detail, creator), over api.js,
// messages.js, releases.js, url.js and state.js. This one wires them and starts the page.

import { wireBlend } from "./blend.js";
import { fillHairColors, initCreator } from "./creator.js";
import { wireDetail } from "./detail.js";
import { wireGrid } from "./grid.js";
import { guarded, wireMessages } from "./messages.js";
import { renderPins, restorePins } from "./pins.js";
import { currentRelease, loadReleases } from "./releases.js";
import { wireSharing } from "./share.js";
import { showUrl, wireUrl } from "./url.js";

// a skip link moves the keyboard, not the address: the hash is the view's
function wireSkipLinks() {
  for (const link of document.querySelectorAll(".skip-link")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      const target = document.getElementById(link.getAttribute("href").slice(1));
      target.focus();
      target.scrollIntoView({ block: "start" });
    });
  }
}

wireMessages();
wireUrl();
wireGrid();
wireBlend();
wireSkipLinks();
wireSharing();
wireDetail();
initCreator();
renderPins();
guarded(async () => {
  await loadReleases();
  await restorePins();
  await showUrl();
  await fillHairColors(currentRelease());
});
