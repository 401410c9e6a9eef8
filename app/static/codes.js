// Avatar codes on the client: read one without a round trip, and name the URLs that draw one.
// The layout is gan/codes.py's (version 1); the server checks a code's check digits, this only reads it.

export const CODE_PATTERN = /^[A-Za-z][A-Za-z0-9_-]*$/; // seeds are digits, codes start with a letter

function base64urlBytes(code) {
  const padded = code.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (code.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

// {release, seed (digits, or null), latent (or null), truncation, variations: [{seed, strength}], edits: {}}.
// Seeds are 63-bit, more than a JSON number keeps exactly, so they come back as digit strings.
export function decodeCode(code) {
  if (!CODE_PATTERN.test(code)) throw new Error("not an avatar code");
  const bytes = base64urlBytes(code);
  const payload = bytes.subarray(0, bytes.length - 2); // the last two bytes are the check digits
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  let at = 0;
  const byte = () => {
    if (at >= payload.length) throw new Error("the code ends early");
    return payload[at++];
  };
  const varint = () => {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = byte();
      value |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return value;
    }
  };
  const f32 = () => { const x = view.getFloat32(at, true); at += 4; return x; };
  const text = () => { const n = byte(); const s = new TextDecoder().decode(payload.subarray(at, at + n)); at += n; return s; };
  const [version, flags] = [byte(), byte()];
  if (version !== 1) throw new Error(`code version ${version} is not known here`);
  const release = text();
  let seed = null;
  let latent = null;
  if (flags & 1) latent = Array.from({ length: Number(varint()) }, () => f32());
  else seed = varint().toString();
  const truncation = flags & 2 ? tidy(f32()) : 1;
  const variations = Array.from({ length: Number(varint()) }, () => ({ seed: varint().toString(), strength: tidy(f32()) }));
  const edits = Object.fromEntries(Array.from({ length: Number(varint()) }, () => [text(), tidy(f32())]));
  return { release, seed, latent, truncation, variations, edits };
}

// a code keeps float32: 0.7 comes back as 0.699999988; show (and compare) it as the 0.7 it was
export function tidy(value) {
  return Number(value.toPrecision(6));
}

export function isPlain(spec) {
  return spec.variations.length === 0 && Object.keys(spec.edits).length === 0;
}

export function codePath(model, code, size = 128) {
  return `/models/${encodeURIComponent(model)}/avatars/${code}.png?size=${size}`;
}

// "name:strength,name:strength", the edits query of GET /avatars/{seed}.png: zero edits left out, and
// sorted by name as a code keeps them, so one avatar has one URL (and one cache entry)
export function editsText(edits) {
  return Object.entries(edits).filter(([, v]) => v !== 0).sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, v]) => `${name}:${v}`).join(",");
}

// JSON with a 63-bit seed as a number: JSON.stringify cannot write one exactly, so splice in the digits
export function jsonWithSeed(body, seed) {
  const marker = "\u0000seed\u0000";
  return JSON.stringify({ ...body, seed: marker }).replace(JSON.stringify(marker), seed);
}

// One way to name an avatar, wherever it is shown (pins, the editor's title, the large view):
// where it comes from, then how many variation steps and edits it has, e.g. "seed 5 · 1 variation · 2 edits"
export function withCounts(origin, steps, edits) {
  const parts = [origin];
  if (steps) parts.push(`${steps} variation${steps === 1 ? "" : "s"}`);
  if (edits) parts.push(`${edits} edit${edits === 1 ? "" : "s"}`);
  return parts.join(" · ");
}

export function seedOrigin(seed, truncation) {
  return `seed ${seed}${truncation < 1 ? ` (ψ ${truncation})` : ""}`;
}

export function specLabel(spec) {
  const origin = spec.seed !== null ? seedOrigin(spec.seed, spec.truncation) : "blend";
  return withCounts(origin, spec.variations.length, Object.keys(spec.edits).length);
}

// "alice (black) · 1 variation · 2 edits" -> "alice (black)": a label without its counts, which the
// editor counts again as the avatar changes
export function originOf(label) {
  return label.replace(/( · \d+ variations?)?( · \d+ edits?)?$/, "");
}

