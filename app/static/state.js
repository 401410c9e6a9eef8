// The studio's shared state: the pins, the releases, the grid on screen and the toast, in one object
// that the panels' modules read and change.

export const state = {
  pins: [], // {id, kind: "seed" | "latent" | "code", code, model, seed, latent, truncation, label, thumb}
  nextPin: 1,
  pinning: new Set(), // tiles whose pin is on its way (a quick second click must not pin twice)
  releases: [], // from GET /models; empty when the server has none (then the unversioned URLs are used)
  defaultRelease: null,
  runtime: null, // device and dtype, from GET /model
  view: null, // the hash of the grid on screen, e.g. "model=v1&seed=0&count=24&truncation=1&size=128"
  renders: 0, // bumped per grid render, so late images of an older grid are dropped
  gridUrls: [], // object URLs of the grid's images, released when the grid is redrawn
  toastTimer: 0,
  lastControl: null, // the control last pressed or focused: a message keeps clear of it
};
