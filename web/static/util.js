// util.js - what every view shares: the API client, DOM building, the URL as the view state,
// the event stream, tables with CSV export. The page computes no metric: every number it
// shows is a value the API returned, only formatted.

export const $ = (sel, el = document) => el.querySelector(sel);

// h('div.cls#id', {attr: v, onclick: fn}, child, ...): a DOM element. Children may be
// strings, nodes, arrays or null.
export function h(spec, attrs, ...kids) {
  const m = /^([a-z0-9]+)((?:[.#][\w-]+)*)$/i.exec(spec);
  const el = document.createElement(m ? m[1] : spec);
  if (m) for (const part of m[2].match(/[.#][\w-]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1)); else el.id = part.slice(1);
  }
  // A number or string (0 included) where the attributes go is the first child.
  if (attrs !== null && attrs !== undefined &&
      (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    kids.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  const add = (c) => {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) c.forEach(add);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  };
  kids.forEach(add);
  return el;
}

// ---- the API --------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

export async function api(path, opts = {}) {
  const r = await fetch(path, opts);
  const type = r.headers.get('content-type') || '';
  const body = type.startsWith('application/json') ? await r.json() : await r.text();
  if (!r.ok) throw new ApiError(r.status, (body && body.error) || `${r.status} ${r.statusText}`);
  return body;
}

export async function apiBytes(path) {
  const r = await fetch(path);
  if (!r.ok) throw new ApiError(r.status, `${path}: ${r.status}`);
  return r.arrayBuffer();
}

export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== null && v !== undefined) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
}

// ---- the token --------------------------------------------------------------------------

// The token comes from the field the user pastes into, or once from ?token= (then it is
// taken out of the address, so a shared link never carries it). It lives in sessionStorage.
export function token() { return sessionStorage.getItem('sieve.token') || ''; }
export function setToken(t) {
  if (t) sessionStorage.setItem('sieve.token', t.trim()); else sessionStorage.removeItem('sieve.token');
}

// ---- the view state lives in the URL ----------------------------------------------------

export function params() { return new URLSearchParams(location.search); }

let renderFn = null;
export function onNavigate(fn) { renderFn = fn; }

// Goes to the view `p` (an object: empty values are dropped). push: a new history entry.
export function go(p, { push = true } = {}) {
  const url = location.pathname + qs(p);
  if (url === location.pathname + location.search) return renderFn();
  if (push) history.pushState(null, '', url); else history.replaceState(null, '', url);
  return renderFn();
}

// Changes some parameters of the current view.
export function update(changes, opts = { push: false }) {
  const p = Object.fromEntries(params());
  Object.assign(p, changes);
  for (const k of Object.keys(p)) if (p[k] === '' || p[k] === null || p[k] === undefined) delete p[k];
  return go(p, opts);
}

// ---- the event stream -------------------------------------------------------------------

let source = null;
let handlers = [];
// Registers a handler for the current view; every navigation drops them.
export function onEvent(name, fn) { handlers.push({ name, fn }); }
export function dropHandlers() { handlers = []; }

export function connectEvents(liveEl) {
  source = new EventSource('/api/events');
  const dispatch = (name) => (ev) => {
    let data = null;
    try { data = JSON.parse(ev.data); } catch { data = ev.data; }
    for (const hd of handlers) if (hd.name === name || hd.name === '*') hd.fn(data, name);
  };
  for (const name of ['progress', 'run', 'event', 'device', 'gap']) source.addEventListener(name, dispatch(name));
  source.onopen = () => { liveEl.textContent = '● live'; liveEl.classList.add('on'); };
  source.onerror = () => { liveEl.textContent = '○ reconnecting'; liveEl.classList.remove('on'); };
}

// Calls fn at most once per `ms`, the last call winning (live updates come in bursts).
export function throttle(fn, ms) {
  let timer = null, pending = false;
  return () => {
    if (timer) { pending = true; return; }
    fn();
    timer = setTimeout(function tick() {
      timer = null;
      if (pending) { pending = false; fn(); timer = setTimeout(tick, ms); }
    }, ms);
  };
}

// Calls fn once, `ms` after the last call (the final state after a burst: the API keeps read
// answers for 250 ms, so a read right at the end of a burst may predate its last change).
export function debounce(fn, ms) {
  let timer = null;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}

// ---- formatting (no arithmetic on metrics: values are shown as the API gave them) -----------

// Like C's %.4g, which `sieve table --format md` prints.
export function fmt4(v) {
  if (v === null || v === undefined) return '–';
  if (typeof v !== 'number') return String(v);
  return String(Number(v.toPrecision(4)));
}

export function fmtTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtSeconds(startMs, endMs) {
  if (!startMs || !endMs) return '';
  return `${((endMs - startMs) / 1000).toFixed(1)} s`;
}

export function stateBadge(s) { return h('span.state', { class: `state s-${s}` }, s); }

// The matrix assignment as "keep=0.5 vmethod=dycoke".
export function matrixText(m) {
  if (!m || typeof m !== 'object') return m ? String(m) : '';
  return Object.entries(m).map(([k, v]) => `${k}=${v}`).join(' ');
}

// A stacked progress bar from counts the API gave.
export function progressBar(t) {
  const total = t.total || 0;
  const seg = (cls, n) => total && n ? h('span', { class: cls, style: `width:${(100 * n) / total}%`, title: `${cls.slice(2)}: ${n}` }) : null;
  return h('div.progress', { role: 'progressbar', 'aria-valuemax': total, 'aria-valuenow': (t.done || 0) + (t.cached || 0) + (t.failed || 0) },
    seg('p-done', t.done), seg('p-cached', t.cached), seg('p-failed', t.failed));
}

// ---- tables -----------------------------------------------------------------------------

function csvCell(s) { return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; }

// The CSV of a table element as shown: header and body cells, a cell's data-value (the number
// the API sent) rather than its rounded text.
export function tableCsv(table) {
  const lines = [];
  for (const tr of table.querySelectorAll('tr')) {
    const cells = [...tr.children].filter((c) => !c.classList.contains('nocsv'));
    lines.push(cells.map((c) => csvCell(c.dataset.value ?? c.textContent.trim())).join(','));
  }
  return lines.join('\n') + '\n';
}

export function download(name, text, type = 'text/csv') {
  const a = h('a', { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 0);
}

export function csvButton(table, name) {
  return h('button.csv', { type: 'button', onclick: () => download(name, tableCsv(table)) }, 'Export CSV');
}

// A pager: "offset–end of total", previous and next.
export function pager(total, limit, offset, onPage) {
  const end = Math.min(total, offset + limit);
  return h('div.pager',
    h('button', { type: 'button', disabled: offset <= 0, onclick: () => onPage(Math.max(0, offset - limit)) }, '‹ prev'),
    h('span', total ? `${offset + 1}–${end} of ${total}` : 'none'),
    h('button', { type: 'button', disabled: end >= total, onclick: () => onPage(offset + limit) }, 'next ›'));
}

export function toast(msg, bad = false) {
  const t = $('#toast');
  t.textContent = msg;
  t.classList.toggle('bad', bad);
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 6000);
}

export function select(name, options, value, onchange, labels = null) {
  return h('select', { name, onchange: (e) => onchange(e.target.value) },
    options.map((o, i) => h('option', { value: o, selected: String(o) === String(value) }, labels ? labels[i] : o)));
}

// Parses a safetensors file (8-byte little-endian header length, JSON header, data) into
// {name: {dtype, shape, data}} with typed arrays over the bytes; only to draw them.
export function safetensors(buf) {
  const dv = new DataView(buf);
  const n = Number(dv.getBigUint64(0, true));
  const head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, n)));
  const base = 8 + n, out = {};
  const types = { F32: Float32Array, F64: Float64Array, I32: Int32Array, I64: BigInt64Array, U8: Uint8Array, BOOL: Uint8Array };
  for (const [name, t] of Object.entries(head)) {
    if (name === '__metadata__' || !types[t.dtype]) continue;
    const [a, b] = t.data_offsets;
    const T = types[t.dtype];
    out[name] = { dtype: t.dtype, shape: t.shape, data: new T(buf.slice(base + a, base + b)) };
  }
  return out;
}
