// results.js - a run's results: the table exactly as `sieve table` lays it out (the API's
// /api/runs/{id}/table is the same table_run_build), its downloads in the formats `sieve
// table` writes, and uPlot plots of a metric against the keep ratio and against the prefill
// cost. Cells are the API's numbers; the page only places them.
import { h, api, qs, update, fmt4, select } from './util.js';

const PALETTE = ['#2f6fde', '#d9534f', '#1f8f4e', '#b7791f', '#6b5bd2', '#17a2b8', '#e83e8c', '#6c757d'];

// The run's metric names and matrix variables ({metrics, categories, vars}), or null when the
// run has no metric rows yet.
async function meta(run) {
  const m = await api(`/api/runs/${run.id}/metrics`);
  if (!m.metrics.length) return null;
  const plain = await api(`/api/runs/${run.id}/table${qs({ metric: m.metrics[0] })}`);
  // Categories in the table's own column order (byte order), "Avg" being their average.
  const categories = plain.columns.filter((c) => m.categories.includes(c) && c !== 'all');
  return { metrics: m.metrics, categories, vars: plain.keys };
}

function defaultMetric(metrics, want) {
  return metrics.includes(want) ? want : metrics.includes('retention') ? 'retention' : metrics[0];
}

export function resultsTable(t) {
  return h('table#results', { dataset: { metric: t.metric } },
    h('thead', h('tr', t.keys.map((k) => h('th', k)), t.columns.map((c) => h('th.num', c)))),
    h('tbody', t.rows.map((r) => h('tr',
      t.keys.map((k) => h('td', { dataset: { key: k } }, String(r[k]))),
      t.columns.map((c) => h('td.num', { dataset: { col: c, value: r.values[c] ?? '' } }, fmt4(r.values[c])))))));
}

export async function resultsView(body, run, p) {
  const m = await meta(run);
  if (!m) {
    body.replaceChildren(h('p.muted#no-results', 'No results yet: the run has no metric rows (they appear as its evaluate tasks finish).'));
    return;
  }
  const metric = defaultMetric(m.metrics, p.get('metric'));
  const pivot = m.vars.includes(p.get('pivot')) ? p.get('pivot') : '';
  const category = pivot ? p.get('category') || '' : '';
  const q = { metric, pivot, category };
  const t = await api(`/api/runs/${run.id}/table${qs(q)}`);
  const cats = ['', ...m.categories.filter((c) => c !== 'all')];
  const dl = (fmt, label) => h('a.dl', { href: `/api/runs/${run.id}/table/${fmt}${qs(q)}`, download: `run-${run.id}-${metric}.${fmt === 'latex' ? 'tex' : fmt}`, id: `dl-${fmt}` }, label);
  body.replaceChildren(
    h('div.bar',
      h('label', 'metric', select('metric', m.metrics, metric, (v) => update({ metric: v }))),
      h('label', 'pivot', select('pivot', ['', ...m.vars], pivot, (v) => update({ pivot: v, category: '' }), ['none (categories as columns)', ...m.vars])),
      pivot ? h('label', 'category', select('category', cats, category, (v) => update({ category: v }), ['all', ...cats.slice(1)])) : null,
      h('span.spacer'), 'download:', dl('csv', 'CSV'), dl('md', 'Markdown'), dl('latex', 'LaTeX')),
    h('p.muted', `${t.metric}, run ${run.id}${pivot ? `: columns are the values of ${pivot}${category ? `, category ${category}` : ', average over all samples'}` : ': columns are categories and their average'}.`),
    h('div.wrap', resultsTable(t)));
}

// One uPlot line chart; xs ascending, ys one array per series (null: no point).
function chart(id, title, xLabel, yLabel, xs, series) {
  const box = h('div.plot', { id, dataset: { series: series.length } }, h('div.title', title));
  const css = getComputedStyle(document.documentElement);
  const fg = css.getPropertyValue('--fg').trim() || '#222', grid = css.getPropertyValue('--line').trim() || '#ddd';
  const axis = (label) => ({ label, stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } });
  const opts = {
    width: 600, height: 340,
    scales: { x: { time: false } }, // keep ratios, not dates
    axes: [axis(xLabel), axis(yLabel)],
    series: [{ label: xLabel }, ...series.map((s, i) => ({
      label: s.label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true,
      points: { show: true, size: 7, fill: PALETTE[i % PALETTE.length] },
    }))],
    legend: { live: false },
  };
  // eslint-disable-next-line no-undef
  const u = new uPlot(opts, [xs, ...series.map((s) => s.ys)], box);
  box.plot = u;
  return box;
}

const label = (keys, r) => keys.map((k) => String(r[k])).join(' ') || 'all';

export async function plotsView(body, run, p) {
  const m = await meta(run);
  if (!m) {
    body.replaceChildren(h('p.muted#no-results', 'No results to plot yet.'));
    return;
  }
  const metric = defaultMetric(m.metrics, p.get('metric'));
  const numericVar = m.vars.includes('keep') ? 'keep' : m.vars[0];
  const x = m.vars.includes(p.get('x')) ? p.get('x') : numericVar;
  const cats = m.categories.filter((c) => c !== 'all');
  const category = cats.includes(p.get('category')) ? p.get('category') : '';
  const costNames = m.metrics.filter((n) => /flops|cost|prefill/i.test(n));
  const cost = m.metrics.includes(p.get('cost')) ? p.get('cost') : costNames.includes('flops_ratio') ? 'flops_ratio' : costNames[0] || '';
  const split = p.get('split') === 'category' && cats.length > 0;
  const controls = h('div.bar',
    h('label', 'metric', select('metric', m.metrics, metric, (v) => update({ metric: v }))),
    h('label', 'x', select('x', m.vars, x, (v) => update({ x: v }))),
    h('label', 'category', select('category', ['', ...cats], category, (v) => update({ category: v }), ['all (average)', ...cats])),
    h('label', h('input#split', { type: 'checkbox', checked: split, onchange: (e) => update({ split: e.target.checked ? 'category' : '' }) }), 'a line per category'),
    h('label', 'cost', select('cost', ['', ...m.metrics], cost, (v) => update({ cost: v }), ['none', ...m.metrics])));
  body.replaceChildren(controls);
  if (!x) { body.append(h('p.muted', 'The run has no matrix variable to plot against.')); return; }

  // Metric against x: the table pivoted on x has one row per method (the other variables) and
  // one column per value of x, in the API's numeric order.
  const t = await api(`/api/runs/${run.id}/table${qs({ metric, pivot: x, category })}`);
  const xs = t.columns.map(Number);
  const numeric = xs.every((v) => Number.isFinite(v));
  let series = t.rows.map((r) => ({ label: label(t.keys, r), ys: t.columns.map((c) => r.values[c] ?? null) }));
  if (split) {
    // One line per method and category: the pivoted table of each category, same columns.
    const per = await Promise.all(cats.map((cat) => api(`/api/runs/${run.id}/table${qs({ metric, pivot: x, category: cat })}`)));
    series = per.flatMap((pt, i) => pt.rows.map((r) => ({
      label: `${label(pt.keys, r)} · ${cats[i]}`, ys: t.columns.map((c) => r.values[c] ?? null),
    })));
  }
  const box1 = chart('plot-keep', `${metric} vs ${x}${split ? ' per category' : category ? ` (${category})` : ''}`, x, metric,
    numeric ? xs : t.columns.map((_, i) => i), series);
  body.append(box1);

  // Metric against the prefill-cost ratio: the same cells of two tables (same rows, same
  // columns), paired, one line per method.
  if (cost && cost !== metric && !split) {
    const c = await api(`/api/runs/${run.id}/table${qs({ metric: cost, pivot: x, category })}`);
    const costRow = new Map(c.rows.map((r) => [label(c.keys, r), r.values]));
    const pts = t.rows.map((r) => {
      const cv = costRow.get(label(t.keys, r)) || {};
      return t.columns.map((col) => [cv[col], r.values[col]]).filter(([a, b]) => a != null && b != null);
    });
    const xs2 = [...new Set(pts.flat().map(([a]) => a))].sort((a, b) => a - b);
    const series2 = t.rows.map((r, i) => {
      const at = new Map(pts[i].map(([a, b]) => [a, b]));
      return { label: label(t.keys, r), ys: xs2.map((v) => (at.has(v) ? at.get(v) : null)) };
    });
    body.append(chart('plot-cost', `${metric} vs ${cost} (the accuracy/efficiency trade-off)`, cost, metric, xs2, series2));
  }
}
