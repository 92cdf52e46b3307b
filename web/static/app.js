// app.js - sieve's page: the router and the views of runs, one run (overview, tasks) and
// compare. results.js draws the results table and plots, overlay.js the token overlays.
// The whole view state is in the address (?view=run&run=3&tab=tasks&node=pv...), so any
// view can be shared as a link and the back button works.
import {
  $, h, api, qs, params, go, update, onNavigate, onEvent, dropHandlers, connectEvents,
  throttle, debounce, fmtTime, fmtSeconds, fmt4, stateBadge, matrixText, progressBar, csvButton, pager,
  toast, select, token, setToken, ApiError,
} from './util.js';
import { resultsView, plotsView } from './results.js';
import { overlayView } from './overlay.js';

const PAGE = 25;
const view = $('#view');

// ---- runs ---------------------------------------------------------------------------------

async function runsView(p) {
  const offset = Number(p.get('offset') || 0);
  const state = p.get('state') || '', name = p.get('name') || '';
  const page = await api(`/api/runs${qs({ state, name, limit: PAGE, offset })}`);
  const picked = new Set((p.get('pick') || '').split(',').filter(Boolean));
  const nameIn = h('input', { type: 'search', name: 'name', value: name, placeholder: 'name contains…' });
  const filter = h('form.bar', {
    onsubmit: (e) => { e.preventDefault(); update({ name: nameIn.value, offset: '' }); },
  },
  h('label', 'state', select('state', ['', 'pending', 'running', 'done', 'failed', 'cancelled'], state,
    (v) => update({ state: v, offset: '' }), ['any', 'pending', 'running', 'done', 'failed', 'cancelled'])),
  h('label', 'name', nameIn), h('button', { type: 'submit' }, 'Filter'),
  h('span.spacer'),
  h('button#compare-picked', {
    type: 'button', disabled: picked.size < 2,
    onclick: () => go({ view: 'compare', runs: [...picked].join(',') }),
  }, `Compare selected (${picked.size})`));

  const table = h('table#runs',
    h('thead', h('tr', h('th.nocsv', ''), h('th.num', 'run'), h('th', 'name'), h('th', 'state'),
      h('th', 'created'), h('th', 'progress'), h('th.num', 'done'), h('th.num', 'cached'),
      h('th.num', 'failed'), h('th.num', 'tasks'), h('th', 'pipeline'))),
    h('tbody', page.items.map((r) => h('tr.click', {
      dataset: { run: r.id },
      onclick: (e) => { if (e.target.type !== 'checkbox') go({ view: 'run', run: r.id }); },
    },
    h('td.nocsv', h('input', {
      type: 'checkbox', checked: picked.has(String(r.id)), title: 'select to compare',
      onchange: (e) => {
        if (e.target.checked) picked.add(String(r.id)); else picked.delete(String(r.id));
        update({ pick: [...picked].join(',') });
      },
    })),
    h('td.num', r.id), h('td', h('a', { href: `?view=run&run=${r.id}`, 'data-nav': '' }, r.name)),
    h('td', stateBadge(r.state)), h('td', fmtTime(r.created_ms)), h('td', progressBar(r.tasks)),
    h('td.num', r.tasks.done), h('td.num', r.tasks.cached), h('td.num', r.tasks.failed),
    h('td.num', r.tasks.total), h('td.muted', r.pipeline || '')))));

  view.replaceChildren(
    h('h1', 'Runs'), filter,
    h('div.wrap', table),
    h('div.bar', pager(page.total, PAGE, offset, (o) => update({ offset: o || '' })),
      h('span.spacer'), csvButton(table, 'runs.csv')),
    page.items.length ? '' : h('p.muted', 'No runs match. Start one with `sieve submit PIPELINE.yaml`.'));
  // New runs and ends of runs show up without a reload (not while the name is being typed).
  const refresh = throttle(() => {
    if ((params().get('view') || 'runs') === 'runs' && document.activeElement !== nameIn) render();
  }, 1500);
  const settle = debounce(refresh, 800);
  onEvent('run', () => { refresh(); settle(); });
  onEvent('progress', () => { refresh(); settle(); });
}

// ---- one run ------------------------------------------------------------------------------

const TABS = [['overview', 'Overview'], ['tasks', 'Tasks'], ['results', 'Results'], ['plots', 'Plots'], ['overlay', 'Token overlays']];

// Lays the graph out in columns by depth (a node sits one column right of its deepest input).
function dagSvg(graph, counts) {
  const byName = new Map(graph.nodes.map((n) => [n.node, n]));
  const depth = new Map();
  const depthOf = (name, seen = new Set()) => {
    if (depth.has(name)) return depth.get(name);
    const n = byName.get(name);
    let d = 0;
    if (n && !seen.has(name)) {
      seen.add(name);
      for (const i of n.inputs) if (byName.has(i.node)) d = Math.max(d, depthOf(i.node, seen) + 1);
    }
    depth.set(name, d);
    return d;
  };
  const cols = [];
  for (const n of graph.nodes) (cols[depthOf(n.node)] ||= []).push(n.node);
  const W = 176, H = 64, GX = 54, GY = 16, pos = new Map();
  cols.forEach((names, c) => names.forEach((name, r) => pos.set(name, { x: 10 + c * (W + GX), y: 10 + r * (H + GY) })));
  const width = 20 + cols.length * (W + GX) - GX;
  const height = 20 + Math.max(...cols.map((c) => c.length)) * (H + GY) - GY;
  const NS = 'http://www.w3.org/2000/svg';
  const s = (tag, attrs, ...kids) => {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    el.append(...kids);
    return el;
  };
  // An edge that skips columns would cross the nodes between: it runs in a lane of its own
  // below them instead.
  const edges = [];
  for (const n of graph.nodes) for (const i of n.inputs) {
    const a = pos.get(i.node), b = pos.get(n.node);
    if (a && b) edges.push({ a, b, skip: depth.get(n.node) - depth.get(i.node) > 1 });
  }
  const lanes = edges.filter((e) => e.skip).length;
  const svg = s('svg', { class: 'dag', id: 'dag', width, height: height + lanes * 10, viewBox: `0 0 ${width} ${height + lanes * 10}` });
  let lane = 0;
  for (const { a, b, skip } of edges) {
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
    if (!skip) {
      svg.append(s('path', { class: 'edge', d: `M${x1},${y1} C${x1 + GX / 2},${y1} ${x2 - GX / 2},${y2} ${x2},${y2}` }));
      continue;
    }
    const ly = height + lane++ * 10 - 2, r = GX / 2;
    svg.append(s('path', { class: 'edge', d: `M${x1},${y1} C${x1 + r},${y1} ${x1 + r},${ly} ${x1 + GX},${ly} L${x2 - GX},${ly} C${x2 - r},${ly} ${x2 - r},${y2} ${x2},${y2}` }));
  }
  for (const n of graph.nodes) {
    const { x, y } = pos.get(n.node);
    const c = counts.get(n.node) || { total: 0, states: {} };
    const st = c.states || {};
    const g = s('g', { class: 'node', transform: `translate(${x},${y})`, 'data-node': n.node,
      'data-done': st.done || 0, 'data-total': c.total || 0 });
    g.append(s('rect', { width: W, height: H, rx: 6, class: 'box' }));
    g.append(s('text', { x: 8, y: 17 }, n.node), s('text', { x: W - 8, y: 17, 'text-anchor': 'end', class: 'plugin' }, n.plugin || ''));
    // The bar: done, cached, failed, running, the rest; widths from the API's counts.
    let bx = 8;
    const bw = W - 16;
    for (const k of ['done', 'cached', 'failed', 'running']) {
      const w = c.total ? (bw * (st[k] || 0)) / c.total : 0;
      if (w > 0) g.append(s('rect', { x: bx, y: 25, width: w, height: 8, class: `seg-${k}` }));
      bx += w;
    }
    if (bx < 8 + bw) g.append(s('rect', { x: bx, y: 25, width: 8 + bw - bx, height: 8, class: 'seg-rest' }));
    const parts = [`${st.done || 0} done`];
    if (st.cached) parts.push(`${st.cached} cached`);
    if (st.running) parts.push(`${st.running} run`);
    if (st.failed) parts.push(`${st.failed} failed`);
    const waiting = (st.pending || 0) + (st.ready || 0);
    if (waiting) parts.push(`${waiting} wait`);
    g.append(s('text', { x: 8, y: 52, class: 'counts' }, `${parts.join(' · ')} / ${c.total || 0}`));
    svg.append(g);
  }
  return svg;
}

function runHeader(run) {
  const t = run.tasks;
  const card = (id, n, label) => h('div.card', h('b', { id }, n), h('span', label));
  return h('div#run-head',
    h('div.cards',
      card('total-count', t.total, 'tasks'), card('done-count', t.done, 'done'),
      card('cached-count', t.cached, 'cached'), card('failed-count', t.failed, 'failed')),
    progressBar(t),
    run.error ? h('p.err', run.error) : null);
}

async function action(run, what) {
  const headers = {};
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const msg = $('#action-msg');
  try {
    await api(`/api/runs/${run}/${what}`, { method: 'POST', headers });
    msg.textContent = `${what} accepted`;
    msg.className = 'muted';
    toast(`run ${run}: ${what} accepted`);
  } catch (e) {
    msg.textContent = `${what} refused (${e.status}): ${e.message}`;
    msg.className = 'err';
    toast(`run ${run}: ${what} refused: ${e.message}`, true);
  }
}

async function runView(p) {
  const id = p.get('run');
  const tab = p.get('tab') || 'overview';
  const run = await api(`/api/runs/${id}`);
  const title = h('h1', `Run ${run.id}: ${run.name || ''} `, h('span#run-state', stateBadge(run.state)));
  const buttons = h('div.bar',
    h('button#cancel.danger', { type: 'button', onclick: () => action(id, 'cancel') }, 'Cancel'),
    h('button#resume', { type: 'button', onclick: () => action(id, 'resume') }, 'Resume'),
    h('span#action-msg.muted', token() ? '' : 'writes need the token (field above, or ?token=)'),
    h('span.spacer'),
    h('span.muted', `created ${fmtTime(run.created_ms)}`, run.finished_ms ? ` · finished ${fmtTime(run.finished_ms)}` : ''));
  const tabs = h('nav.tabs', TABS.map(([k, label]) => h('a', {
    href: `?view=run&run=${id}&tab=${k}`, class: k === tab ? 'on' : '', 'data-nav': '', id: `tab-${k}`,
  }, label)));
  const body = h('div#tab-body');
  let head = runHeader(run);
  view.replaceChildren(title, buttons, head, tabs, body);

  let renderTab = null; // re-renders the live parts of the tab
  if (tab === 'overview') renderTab = await overviewTab(body, run);
  else if (tab === 'tasks') renderTab = await tasksTab(body, run, p);
  else if (tab === 'results') await resultsView(body, run, p);
  else if (tab === 'plots') await plotsView(body, run, p);
  else if (tab === 'overlay') await overlayView(body, run, p);

  // Live: the stream says something changed in this run; the run is read again from the API
  // (the per-node counts come from there), at most every 400 ms.
  let latest = run;
  const reload = throttle(async () => {
    try {
      latest = await api(`/api/runs/${id}`);
    } catch { return; }
    if (params().get('run') !== String(id)) return;
    const fresh = runHeader(latest);
    head.replaceWith(fresh);
    head = fresh;
    $('#run-state').replaceChildren(stateBadge(latest.state));
    if (renderTab) renderTab(latest);
  }, 400);
  const settle = debounce(reload, 800);
  const live = () => { reload(); settle(); };
  const mine = (d) => d && String(d.run) === String(id);
  onEvent('progress', (d) => { if (mine(d)) live(); });
  onEvent('run', (d) => {
    if (!mine(d)) return;
    if (d.state) $('#run-state').replaceChildren(stateBadge(d.state)); // the end, as the stream says
    live();
  });
  onEvent('event', (d) => { if (mine(d)) live(); });
  onEvent('device', live);
  onEvent('gap', live);
}

async function overviewTab(body, run) {
  const graph = await api(`/api/runs/${run.id}/graph`);
  const dagBox = h('div.wrap');
  const devBox = h('div');
  const logBox = h('div');
  const draw = (r) => {
    dagBox.replaceChildren(dagSvg(graph, new Map(r.nodes.map((n) => [n.node, n]))));
    const devs = r.devices || [];
    const devEvents = (r.events || []).filter((e) => e.kind === 'device' || /device|quarantin/i.test(e.kind || ''));
    const dt = h('table#devices',
      h('thead', h('tr', h('th', 'device'), h('th', 'health'), h('th', 'kind'), h('th', 'updated'))),
      h('tbody', devs.map((d) => h('tr', h('td', d.name), h('td', stateBadge(d.state)),
        h('td', d.gpu === undefined ? (d.info && d.info.model) || '' : d.gpu ? 'gpu' : 'cpu'),
        h('td', fmtTime(d.updated_ms))))));
    devBox.replaceChildren(
      h('div.bar', h('div.wrap', dt), csvButton(dt, `run-${r.id}-devices.csv`)),
      h('p.muted', devEvents.length ? 'Device history:' : 'No device events in this run.'),
      devEvents.length ? h('pre.log', devEvents.map((e) => `${fmtTime(e.time_ms)}  ${e.kind}  ${e.message || ''}\n`)) : '');
    const events = r.events || [];
    logBox.replaceChildren(h('pre.log#log-tail', events.length
      ? events.map((e) => `${fmtTime(e.time_ms)}  ${(e.kind || '').padEnd(9)} ${e.task >= 0 ? `task ${e.task}  ` : ''}${e.message || ''}\n`)
      : 'no events yet'));
    const pre = logBox.querySelector('pre');
    pre.scrollTop = pre.scrollHeight;
  };
  draw(run);
  body.replaceChildren(
    h('h2', 'Pipeline graph'), dagBox,
    h('h2', 'Devices'), devBox,
    h('h2', 'Log tail (newest events)'), logBox);
  return draw;
}

const TASK_STATES = ['', 'pending', 'ready', 'running', 'done', 'cached', 'failed', 'cancelled'];

async function tasksTab(body, run, p) {
  const node = p.get('node') || '', state = p.get('state') || '';
  const offset = Number(p.get('offset') || 0);
  const pickedTask = p.get('task');
  const box = h('div');
  const logBox = h('div#task-log');
  const load = async () => {
    const page = await api(`/api/runs/${run.id}/tasks${qs({ node, state, limit: PAGE, offset })}`);
    const table = h('table#tasks',
      h('thead', h('tr', h('th.num', 'task'), h('th', 'node'), h('th', 'sample'), h('th', 'variant'),
        h('th', 'state'), h('th', 'device'), h('th', 'finished'), h('th.num', 'duration'), h('th.num', 'attempts'), h('th', 'error'))),
      h('tbody', page.items.map((t) => h('tr.click', {
        class: String(t.idx) === pickedTask ? 'click sel' : 'click',
        dataset: { idx: t.idx }, onclick: () => update({ task: t.idx }),
      },
      h('td.num', t.idx), h('td', t.node), h('td', t.sample || ''), h('td', matrixText(t.matrix)),
      h('td', stateBadge(t.state)), h('td', t.device || ''), h('td', fmtTime(t.finished_ms)),
      h('td.num', fmtSeconds(t.started_ms, t.finished_ms)),
      h('td.num', t.attempts), h('td.err', { title: t.error || '' }, (t.error || '').slice(0, 80))))));
    box.replaceChildren(h('div.wrap', table),
      h('div.bar', pager(page.total, PAGE, offset, (o) => update({ offset: o || '' })), h('span.spacer'),
        csvButton(table, `run-${run.id}-tasks.csv`)));
  };
  await load();
  if (pickedTask !== null) {
    try {
      const text = await api(`/api/runs/${run.id}/tasks/${pickedTask}/log`);
      logBox.replaceChildren(h('h2', `Log of task ${pickedTask}`), h('pre.log', text || '(empty)'));
    } catch (e) {
      logBox.replaceChildren(h('h2', `Log of task ${pickedTask}`), h('p.muted', e.status === 404 ? 'no log yet (the task has not run)' : e.message));
    }
  }
  const nodes = run.nodes.map((n) => n.node);
  body.replaceChildren(
    h('div.bar',
      h('label', 'node', select('node', ['', ...nodes], node, (v) => update({ node: v, offset: '' }), ['any', ...nodes])),
      h('label', 'state', select('state', TASK_STATES, state, (v) => update({ state: v, offset: '' }), ['any', ...TASK_STATES.slice(1)]))),
    box, logBox);
  return throttle(() => load().catch(() => {}), 2000);
}

// ---- compare ------------------------------------------------------------------------------

async function compareView(p) {
  const ids = (p.get('runs') || '').split(',').map((s) => s.trim()).filter(Boolean);
  const metric = p.get('metric') || '', pivot = p.get('pivot') || '';
  const idsIn = h('input#compare-runs', { value: ids.join(','), placeholder: 'run ids, e.g. 3,4', size: 16 });
  const bar = h('form.bar', { onsubmit: (e) => { e.preventDefault(); update({ runs: idsIn.value.replace(/\s+/g, '') }); } },
    h('label', 'runs', idsIn), h('button', { type: 'submit' }, 'Compare'));
  view.replaceChildren(h('h1', 'Compare runs'), bar);
  if (ids.length < 2) {
    view.append(h('p.muted', 'Pick two or more runs (tick them in the runs list, or type their ids).'));
    return;
  }
  const metas = await Promise.all(ids.map((id) => api(`/api/runs/${id}/metrics`)));
  const metrics = [...new Set(metas.flatMap((m) => m.metrics))];
  const m = metric || (metrics.includes('retention') ? 'retention' : metrics[0] || '');
  const tables = await Promise.all(ids.map((id) => api(`/api/runs/${id}/table${qs({ metric: m, pivot })}`)
    .catch((e) => ({ error: e.message }))));
  const vars = [...new Set(tables.flatMap((t) => (t.keys || []).concat(pivot ? [pivot] : [])))];
  bar.append(
    h('label', 'metric', select('metric', metrics, m, (v) => update({ metric: v }))),
    h('label', 'pivot', select('pivot', ['', ...vars], pivot, (v) => update({ pivot: v }), ['none', ...vars])));
  // A cell differs when its value is not the first run's value for the same row and column.
  const first = tables[0];
  const rowKey = (t, r) => JSON.stringify((t.keys || []).map((k) => r[k]));
  const ref = new Map();
  if (first && first.rows) for (const r of first.rows) ref.set(rowKey(first, r), r.values);
  const box = h('div.overlays');
  tables.forEach((t, i) => {
    const head = h('div.cap', h('a', { href: `?view=run&run=${ids[i]}&tab=results`, 'data-nav': '' }, `run ${ids[i]}`));
    if (t.error) { box.append(h('div.overlay', head, h('p.err', t.error))); return; }
    const table = h('table.compare', { dataset: { run: ids[i] } },
      h('thead', h('tr', t.keys.map((k) => h('th', k)), t.columns.map((c) => h('th.num', c)))),
      h('tbody', t.rows.map((r) => {
        const base = ref.get(rowKey(t, r));
        return h('tr', t.keys.map((k) => h('td', String(r[k]))), t.columns.map((c) => {
          const v = r.values[c];
          const differs = i > 0 && (!base || base[c] !== v);
          return h('td.num', { class: differs ? 'num diff' : 'num', dataset: { value: v ?? '' },
            title: differs ? `run ${ids[0]}: ${base ? fmt4(base[c]) : 'no row'}` : null }, fmt4(v));
        }));
      })));
    box.append(h('div.overlay', head, table, h('div.bar', csvButton(table, `run-${ids[i]}-${m}.csv`))));
  });
  view.append(h('p.muted', `${m}: highlighted cells differ from run ${ids[0]} (hover for its value).`), box);
}

// ---- router -------------------------------------------------------------------------------

let seq = 0;
async function render() {
  const p = params();
  const mine = ++seq;
  dropHandlers();
  const v = p.get('view') || 'runs';
  try {
    if (v === 'run' && p.get('run')) await runView(p);
    else if (v === 'compare') await compareView(p);
    else await runsView(p);
  } catch (e) {
    if (mine !== seq) return;
    view.replaceChildren(h('h1', 'Error'), h('p.err', e instanceof ApiError ? `${e.status}: ${e.message}` : String(e)));
    if (!(e instanceof ApiError)) console.warn(e);
  }
  document.title = `sieve · ${v}${p.get('run') ? ` ${p.get('run')}` : ''}`;
}

function init() {
  const p = params();
  if (p.get('token')) { // taken once, then out of the address
    setToken(p.get('token'));
    p.delete('token');
    history.replaceState(null, '', location.pathname + (p.toString() ? `?${p}` : ''));
  }
  const tok = $('#token');
  tok.value = token();
  tok.addEventListener('change', () => { setToken(tok.value); render(); });
  // Links inside the page change the view without a reload.
  document.addEventListener('click', (e) => {
    const a = e.target.closest('a[data-nav]');
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    history.pushState(null, '', a.getAttribute('href'));
    render();
  });
  window.addEventListener('popstate', render);
  onNavigate(render);
  connectEvents($('#live'));
  render();
}

window.sieve = { render };
init();
