// overlay.js - which tokens each method kept: a sample's decoded frame with the kept patches
// of each chosen variant drawn over it (dropped patches dimmed), side by side, and the audio
// tokens on a time strip over the mel spectrogram with the kept ones marked.
//
// The frame and the kept mask come from /api/artifacts/{decode}/overlay?mask={prune} (pixels
// and the mask's bits for the frame's temporal group); the audio from the artifact files
// (safetensors) of decode (`mel`) and prune-audio (`mask`).
import { h, api, apiBytes, qs, update, matrixText, select, safetensors } from './util.js';

const DIM = 'rgba(8, 10, 22, 0.72)';
const KEPT = 'rgba(255, 214, 10, 0.95)';

async function allTasks(run, node) {
  const out = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await api(`/api/runs/${run.id}/tasks${qs({ node, limit: 1000, offset })}`);
    out.push(...page.items);
    if (out.length >= page.total || !page.items.length) return out;
  }
}

function b64bytes(s) {
  const bin = atob(s);
  const out = new Uint8ClampedArray(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// Draws the frame and dims every cell whose bit is '0'; kept cells get a thin outline on
// their border (their inside keeps the frame's own pixels).
export function drawOverlay(canvas, ov) {
  const { width: w, height: hgt } = ov;
  canvas.width = w;
  canvas.height = hgt;
  const ctx = canvas.getContext('2d');
  const rgb = b64bytes(ov.pixels);
  const img = ctx.createImageData(w, hgt);
  for (let i = 0, j = 0; i < w * hgt; i++, j += 3) {
    img.data[4 * i] = rgb[j]; img.data[4 * i + 1] = rgb[j + 1]; img.data[4 * i + 2] = rgb[j + 2]; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  const m = ov.mask;
  if (!m) return;
  const cw = w / m.cols, ch = hgt / m.rows;
  ctx.fillStyle = DIM;
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) {
    if (m.bits[r * m.cols + c] === '0') ctx.fillRect(Math.round(c * cw), Math.round(r * ch), Math.round((c + 1) * cw) - Math.round(c * cw), Math.round((r + 1) * ch) - Math.round(r * ch));
  }
  ctx.strokeStyle = KEPT;
  ctx.lineWidth = 1;
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) {
    if (m.bits[r * m.cols + c] === '1') ctx.strokeRect(Math.round(c * cw) + 0.5, Math.round(r * ch) + 0.5, Math.round(cw) - 1, Math.round(ch) - 1);
  }
}

// The mel spectrogram (bins × frames, low frequencies at the bottom) with the N audio tokens
// spread evenly over its time axis as a strip below it: kept ones bright, dropped ones dimmed
// (over the strip and the spectrogram's columns alike).
function drawAudio(canvas, mel, mask) {
  const [bins, frames] = mel.shape;
  const stripH = Math.max(12, Math.round(bins / 5));
  canvas.width = frames;
  canvas.height = bins + stripH;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(frames, bins);
  let lo = Infinity, hi = -Infinity; // display range of this picture only
  for (const v of mel.data) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const span = hi > lo ? hi - lo : 1;
  for (let b = 0; b < bins; b++) for (let f = 0; f < frames; f++) {
    const g = Math.round((255 * (mel.data[b * frames + f] - lo)) / span);
    const o = 4 * ((bins - 1 - b) * frames + f);
    img.data[o] = g * 0.55; img.data[o + 1] = g * 0.8; img.data[o + 2] = g; img.data[o + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  if (!mask) return;
  const n = mask.data.length, tw = frames / n;
  for (let i = 0; i < n; i++) {
    const x0 = Math.round(i * tw), x1 = Math.round((i + 1) * tw);
    if (mask.data[i]) {
      ctx.fillStyle = KEPT;
      ctx.fillRect(x0, bins + 2, Math.max(1, x1 - x0), stripH - 2);
    } else {
      ctx.fillStyle = DIM;
      ctx.fillRect(x0, 0, Math.max(1, x1 - x0), bins);
      ctx.fillStyle = 'rgba(128,128,128,0.35)';
      ctx.fillRect(x0, bins + 2, Math.max(1, x1 - x0), stripH - 2);
    }
  }
}

// The artifact a task wrote: its key and the output port (the built-in plugins have one,
// "out"); the API derives the key as the planner does.
const outputs = new Map();
async function artifactOf(task, port = 'out') {
  if (!outputs.has(task.key)) outputs.set(task.key, api(`/api/tasks/${task.key}/outputs/${port}`).then((o) => o.artifact));
  return outputs.get(task.key);
}

const subset = (a, b) => Object.entries(a || {}).every(([k, v]) => b && b[k] === v);

export async function overlayView(body, run, p) {
  const graph = await api(`/api/runs/${run.id}/graph`);
  const byPlugin = (name) => graph.nodes.filter((n) => n.plugin === name).map((n) => n.node);
  const decodeNode = byPlugin('decode')[0];
  const visNodes = byPlugin('prune-visual'), audNodes = byPlugin('prune-audio');
  if (!decodeNode || !visNodes.length) {
    body.replaceChildren(h('p.muted', 'This pipeline has no decode and prune-visual nodes: nothing to overlay.'));
    return;
  }
  const visNode = visNodes.includes(p.get('node')) ? p.get('node') : visNodes[0];
  const decodes = (await allTasks(run, decodeNode)).filter((t) => t.state === 'done' || t.state === 'cached');
  if (!decodes.length) {
    body.replaceChildren(h('p.muted#no-overlay', 'No decoded sample yet.'));
    return;
  }
  const samples = decodes.map((t) => t.sample);
  const sample = samples.includes(p.get('sample')) ? p.get('sample') : samples[0];
  const dec = decodes.find((t) => t.sample === sample);
  const prunes = (await allTasks(run, visNode)).filter((t) => t.sample === sample);
  const ready = prunes.filter((t) => t.state === 'done' || t.state === 'cached');
  const chosen = (p.get('variants') || '').split(',').filter(Boolean).map(Number);
  // By default two variants that differ in one matrix value other than the keep ratio (two
  // methods at the same keep ratio), else the first two.
  const differing = (a, b) => Object.keys(a.matrix || {}).filter((k) => a.matrix[k] !== (b.matrix || {})[k]);
  const partner = ready.find((t) => t !== ready[0] && differing(t, ready[0]).length === 1 && !differing(t, ready[0]).includes('keep'));
  const pick = chosen.length ? ready.filter((t) => chosen.includes(t.variant))
    : ready.length ? [ready[0], partner || ready[1]].filter(Boolean) : [];
  const frame = Math.max(0, Number(p.get('frame') || 0));
  const audio = p.get('audio') !== '0' && audNodes.length > 0;

  const frameKey = await artifactOf(dec);
  const first = await api(`/api/artifacts/${frameKey}/overlay${qs({ frame: 0, pixels: 0 })}`);
  const frames = first.frames;
  const f = Math.min(frame, frames - 1);
  const setVariants = (ids) => update({ variants: ids.join(',') });
  const checks = h('div.bar', 'variants:', ready.map((t) => h('label', h('input', {
    type: 'checkbox', checked: pick.includes(t), dataset: { variant: t.variant },
    onchange: (e) => {
      const cur = new Set(pick.map((x) => x.variant));
      if (e.target.checked) cur.add(t.variant); else cur.delete(t.variant);
      setVariants([...cur].sort((a, b) => a - b));
    },
  }), matrixText(t.matrix))));
  body.replaceChildren(
    h('div.bar',
      h('label', 'sample', select('sample', samples, sample, (v) => update({ sample: v }))),
      visNodes.length > 1 ? h('label', 'node', select('node', visNodes, visNode, (v) => update({ node: v }))) : null,
      h('label', 'frame', h('input#frame', {
        type: 'range', min: 0, max: frames - 1, value: f,
        onchange: (e) => update({ frame: e.target.value }),
      }), h('span', `${f} (0–${frames - 1})`)),
      audNodes.length ? h('label', h('input', { type: 'checkbox', checked: audio, onchange: (e) => update({ audio: e.target.checked ? '' : '0' }) }), 'audio tokens') : null),
    checks);
  if (!pick.length) { body.append(h('p.muted', 'No pruned variant of this sample yet.')); return; }

  // The audio: the decode output's mel once, each variant's prune-audio mask.
  let mel = null, audTasks = [];
  if (audio) {
    try {
      mel = safetensors(await apiBytes(`/api/artifacts/${frameKey}/file`)).mel || null;
      audTasks = (await allTasks(run, audNodes[0])).filter((t) => t.sample === sample && (t.state === 'done' || t.state === 'cached'));
    } catch { mel = null; }
  }

  const row = h('div.overlays#overlays');
  body.append(row);
  for (const t of pick) {
    const maskKey = await artifactOf(t);
    const ov = await api(`/api/artifacts/${frameKey}/overlay${qs({ frame: f, mask: maskKey })}`);
    const canvas = h('canvas.frame', { dataset: { variant: t.variant, artifact: maskKey, frame: f } });
    drawOverlay(canvas, ov);
    const m = ov.mask;
    const card = h('div.overlay', { dataset: { variant: t.variant } },
      h('div.cap', h('b', matrixText(t.matrix)), ` · ${m.kept} of ${m.rows * m.cols} patches kept in group ${m.group}`),
      canvas);
    if (mel) {
      const at = audTasks.find((a) => subset(a.matrix, t.matrix));
      let mask = null;
      if (at) mask = safetensors(await apiBytes(`/api/artifacts/${await artifactOf(at)}/file`)).mask || null;
      const strip = h('canvas.strip', { title: 'mel spectrogram; audio tokens below (bright: kept)' });
      drawAudio(strip, mel, mask);
      card.append(strip, h('div.cap.muted', mask ? `audio: ${mask.shape[0]} tokens over the mel spectrogram, kept ones bright` : 'audio: no pruned tokens yet'));
    }
    row.append(card);
  }
}
