// run.mjs - end-to-end tests of the web page in headless Chromium (Debian's chromium, driven
// by playwright-core from npm) against a real `sieve serve` on loopback running the demo
// pipeline on 4 of the demo clips (1 per category: the sanitizer build runs this too).
//
//   node tests/web/run.mjs BUILD_DIR [OUT_DIR]      (OUT_DIR: BUILD_DIR/web-test-output)
//
// A screenshot of each view goes to OUT_DIR. Exit 0 when every test passed, 1 otherwise,
// 77 (ctest: skipped) when playwright-core or chromium is missing outside CI; under CI=true
// a missing piece fails (scripts/install-deps.sh installs them).
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILD = resolve(process.argv[2] || join(SRC, 'build'));
const OUT = resolve(process.argv[3] || join(BUILD, 'web-test-output'));
const SIEVE = join(BUILD, 'sieve');
const CHROMIUM = process.env.SIEVE_CHROMIUM || '/usr/bin/chromium';
const T0 = Date.now();

function missing(what) {
  const msg = `web tests: ${what} (run scripts/install-deps.sh test)`;
  if (process.env.CI === 'true') { console.error(msg); process.exit(1); }
  console.log(`${msg}: skipped`);
  process.exit(77);
}

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  missing('playwright-core is not installed (npm ci)');
}
if (!existsSync(CHROMIUM)) missing(`no Chromium at ${CHROMIUM} (apt-get install chromium)`);
if (!existsSync(SIEVE)) { console.error(`web tests: no sieve binary at ${SIEVE}`); process.exit(1); }

// ---- the fixture: demo data, a pipeline on 8 clips, a store served by `sieve serve` ----------

const tmp = mkdtempSync(join(tmpdir(), 'sieve-web-'));
const store = join(tmp, 'store');
const dataDir = join(BUILD, 'demo-data'); // shared with scripts/demo.sh's layout, made once
mkdirSync(OUT, { recursive: true });
execFileSync('bash', [join(SRC, 'scripts', 'make-demo-data.sh'), dataDir], { stdio: ['ignore', 'ignore', 'inherit'] });
const rows = readFileSync(join(dataDir, 'clips.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const perCat = new Map();
const picked = rows.filter((r) => {
  const n = perCat.get(r.category) || 0;
  perCat.set(r.category, n + 1);
  return n < 1;
}).map((r) => ({ ...r, media: resolve(dataDir, r.media) }));
writeFileSync(join(tmp, 'clips.jsonl'), picked.map((r) => JSON.stringify(r)).join('\n') + '\n');
const pipeline = join(tmp, 'demo.yaml');
// The pipeline's own relative paths (a Python node's script) resolve from pipelines/.
writeFileSync(pipeline, readFileSync(join(SRC, 'pipelines', 'demo.yaml'), 'utf8')
  .replace('../demo-data/clips.jsonl', join(tmp, 'clips.jsonl'))
  .replace(/(script:\s*)([^\s,}'"]+)/g, (m, key, path) => key + resolve(SRC, 'pipelines', path)));

const sieve = (...args) => execFileSync(SIEVE, [...args, '--store', store], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

// No --static: serve must find the source tree's web/static by itself. One device slot, so the
// first sweep (102 tasks) lasts a few seconds after its page opens, even on a fast machine.
const serve = spawn(SIEVE, ['serve', '--store', store, '--listen', '127.0.0.1:0', '--devices', 'cpu:1'],
  { stdio: ['ignore', 'ignore', 'pipe'] });
let serveLog = '';
// Whatever ends this script (a failed step throws), the daemon does not outlive it.
process.on('exit', () => { if (serve.exitCode === null && serve.signalCode === null) serve.kill('SIGKILL'); });
const base = await new Promise((ok, fail) => {
  const timer = setTimeout(() => fail(new Error(`sieve serve did not start:\n${serveLog}`)), 20000);
  serve.stderr.on('data', (d) => {
    serveLog += d;
    const m = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(serveLog);
    if (m) { clearTimeout(timer); ok(m[1]); }
  });
  serve.on('exit', (code) => fail(new Error(`sieve serve exited ${code}:\n${serveLog}`)));
});
const TOKEN = readFileSync(join(store, 'serve.token'), 'utf8').trim();

async function apiGet(path) {
  const r = await fetch(base + path);
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.headers.get('content-type').startsWith('application/json') ? r.json() : r.text();
}

async function waitFor(what, fn, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
const runEnded = (id) => waitFor(`run ${id} to end`, async () => {
  const r = await apiGet(`/api/runs/${id}`);
  return ['done', 'failed', 'cancelled'].includes(r.state) && r;
}, 360000); // minutes under AddressSanitizer, seconds otherwise

// ---- the browser and a small harness ------------------------------------------------------

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, acceptDownloads: true });
const page = await context.newPage();
let consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));

const results = [];
async function test(name, fn) {
  const t = Date.now();
  consoleErrors = [];
  try {
    await fn();
    if (consoleErrors.length) throw new Error(`console errors:\n  ${consoleErrors.join('\n  ')}`);
    results.push({ name, ok: true, ms: Date.now() - t });
    console.log(`ok   ${name} (${Date.now() - t} ms)`);
  } catch (e) {
    results.push({ name, ok: false, ms: Date.now() - t });
    console.log(`FAIL ${name} (${Date.now() - t} ms)\n  ${String(e.stack || e).replace(/\n/g, '\n  ')}`);
    await page.screenshot({ path: join(OUT, `fail-${results.length}.png`), fullPage: true }).catch(() => {});
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
const shot = (name) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
const open = async (q, ready) => {
  await page.goto(`${base}/${q}`);
  if (ready) await page.waitForSelector(ready, { timeout: 30000 });
};

// ---- the tests ----------------------------------------------------------------------------

const run1 = Number(sieve('submit', pipeline).trim());

await test('the run page counts done tasks up live, from the event stream, without a reload', async () => {
  await open(`?view=run&run=${run1}`, '#done-count');
  await page.waitForSelector('#dag g.node');
  const total = Number(await page.textContent('#total-count'));
  const n0 = Number(await page.textContent('#done-count'));
  assert(n0 < total, `the run finished before the page opened (${n0}/${total}): nothing to watch`);
  await page.evaluate(() => { window.__notReloaded = true; });
  await page.waitForFunction((n) => Number(document.querySelector('#done-count').textContent) > n, n0, { timeout: 60000 });
  const n1 = Number(await page.textContent('#done-count'));
  assert(await page.evaluate(() => window.__notReloaded === true), 'the page was reloaded');
  const nodeDone = await page.$$eval('#dag g.node', (gs) => gs.map((g) => Number(g.dataset.done)));
  assert(nodeDone.some((d) => d > 0), 'no graph node counts a done task');
  console.log(`     done went ${n0} -> ${n1} of ${total}`);
  await shot('run-live');
});

const done1 = await runEnded(run1);

await test('the runs list shows the run, newest first', async () => {
  await open('', `#runs tr[data-run="${run1}"]`);
  const cells = await page.$$eval(`#runs tr[data-run="${run1}"] td`, (tds) => tds.map((t) => t.textContent));
  assert(cells.includes('demo') && cells.includes('done'), `row: ${cells}`);
  assert(cells.includes(String(done1.tasks.total)), `row lacks the task total ${done1.tasks.total}: ${cells}`);
  await shot('runs');
});

await test('the overview shows the graph with every node done, devices and the log tail', async () => {
  await open(`?view=run&run=${run1}`, '#dag g.node');
  const nodes = await page.$$eval('#dag g.node', (gs) => gs.map((g) => [g.dataset.node, Number(g.dataset.done), Number(g.dataset.total)]));
  const api = await apiGet(`/api/runs/${run1}`);
  assert(nodes.length === api.nodes.length, `${nodes.length} nodes drawn, API has ${api.nodes.length}`);
  for (const n of api.nodes) {
    const d = nodes.find((x) => x[0] === n.node);
    assert(d && d[1] === n.states.done && d[2] === n.total, `node ${n.node}: page ${d}, API ${n.states.done}/${n.total}`);
  }
  assert(await page.$$eval('#devices tbody tr', (t) => t.length) >= 1, 'no device listed');
  assert((await page.textContent('#log-tail')).length > 0, 'empty log tail');
  await shot('run-overview');
});

await test('the tasks table filters by node and state and shows a task log', async () => {
  await open(`?view=run&run=${run1}&tab=tasks&node=pv&state=done&task=0`, '#tasks tbody tr');
  const nodes = await page.$$eval('#tasks tbody tr td:nth-child(2)', (t) => t.map((x) => x.textContent));
  assert(nodes.length > 0 && nodes.every((n) => n === 'pv'), `nodes: ${nodes}`);
  await page.waitForSelector('#task-log pre');
  await shot('tasks');
});

// The table as the page shows it: keys, columns, rows of key texts and data-values.
const pageTable = () => page.$eval('#results', (t) => ({
  metric: t.dataset.metric,
  head: [...t.querySelectorAll('thead th')].map((th) => th.textContent),
  rows: [...t.querySelectorAll('tbody tr')].map((tr) => ({
    keys: [...tr.querySelectorAll('td[data-key]')].map((td) => td.textContent),
    values: [...tr.querySelectorAll('td[data-col]')].map((td) => [td.dataset.col, td.dataset.value]),
  })),
}));

for (const [metric, pivot] of [['retention', ''], ['flops_ratio', ''], ['coverage', 'keep']]) {
  await test(`the results table equals sieve table --format json (${metric}${pivot ? `, pivot ${pivot}` : ''})`, async () => {
    await open(`?view=run&run=${run1}&tab=results&metric=${metric}${pivot ? `&pivot=${pivot}` : ''}`, '#results tbody tr');
    const cli = JSON.parse(sieve('table', String(run1), '--format', 'json', '--metric', metric, ...(pivot ? ['--pivot', pivot] : [])));
    const t = await pageTable();
    assert(t.metric === cli.metric, `metric ${t.metric} vs ${cli.metric}`);
    assert(JSON.stringify(t.head) === JSON.stringify([...cli.keys, ...cli.columns]), `header ${t.head} vs ${cli.keys},${cli.columns}`);
    assert(t.rows.length === cli.rows.length, `${t.rows.length} rows vs ${cli.rows.length}`);
    cli.rows.forEach((r, i) => {
      const p = t.rows[i];
      assert(JSON.stringify(p.keys) === JSON.stringify(cli.keys.map((k) => String(r[k]))), `row ${i} keys ${p.keys}`);
      for (const [col, v] of p.values) {
        const want = r.values[col];
        assert(want === null ? v === '' : Number(v) === want, `row ${i} ${col}: page ${v}, sieve table ${want}`);
      }
    });
    // The downloads are what `sieve table --format F` prints.
    for (const [fmt, id] of [['csv', '#dl-csv'], ['md', '#dl-md'], ['latex', '#dl-latex']]) {
      const href = await page.getAttribute(id, 'href');
      const text = await page.evaluate((u) => fetch(u).then((r) => r.text()), href);
      const out = sieve('table', String(run1), '--format', fmt, '--metric', metric, ...(pivot ? ['--pivot', pivot] : []));
      assert(text === out, `${fmt} download differs from sieve table:\n${text}\nvs\n${out}`);
    }
    if (!pivot && metric === 'retention') await shot('results');
    if (pivot) await shot('results-pivot');
  });
}

await test('the plot has one series per method, and the cost plot too', async () => {
  await open(`?view=run&run=${run1}&tab=plots&metric=retention`, '#plot-keep .u-legend');
  const cli = JSON.parse(sieve('table', String(run1), '--format', 'json', '--metric', 'retention', '--pivot', 'keep'));
  const methods = cli.rows.map((r) => String(r.vmethod));
  for (const id of ['plot-keep', 'plot-cost']) {
    await page.waitForSelector(`#${id} .u-legend`);
    // uPlot's own series (the first is x) and the legend entries the reader sees.
    const series = await page.$eval(`#${id}`, (el) => el.plot.series.slice(1).map((s) => s.label));
    assert(JSON.stringify(series) === JSON.stringify(methods), `${id}: series ${series}, methods ${methods}`);
    const legend = await page.$$eval(`#${id} .u-legend .u-series .u-label`, (ls) => ls.map((l) => l.textContent));
    assert(methods.every((m) => legend.includes(m)) && legend.length <= methods.length + 1, `${id}: legend ${legend}`);
  }
  await shot('plots');
  // On demand, a line per method and category.
  await open(`?view=run&run=${run1}&tab=plots&metric=retention&split=category`, '#plot-keep .u-legend');
  const cats = JSON.parse(sieve('table', String(run1), '--format', 'json', '--metric', 'retention')).columns.filter((c) => c !== 'Avg');
  const split = await page.$eval('#plot-keep', (el) => el.plot.series.slice(1).map((s) => s.label));
  const want = cats.flatMap((c) => methods.map((m) => `${m} · ${c}`));
  assert(JSON.stringify(split) === JSON.stringify(want), `split series ${split}, want ${want}`);
  await shot('plots-per-category');
});

// The mask of a prune-visual artifact, read from its safetensors file: BOOL [t, h, w].
function maskOf(buf) {
  const n = Number(buf.readBigUInt64LE(0));
  const head = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const m = head.mask;
  const [a, b] = m.data_offsets;
  return { shape: m.shape, bits: buf.subarray(8 + n + a, 8 + n + b) };
}

await test('the overlay marks exactly the patches the artifact\'s mask keeps (canvas pixels)', async () => {
  const decode = (await apiGet(`/api/runs/${run1}/tasks?node=media&limit=1000`)).items;
  const sample = decode.find((t) => t.sample.startsWith('sports'))?.sample || decode[0].sample;
  const pv = (await apiGet(`/api/runs/${run1}/tasks?node=pv&limit=1000`)).items
    .filter((t) => t.sample === sample && t.matrix.vmethod === 'dycoke' && t.matrix.keep === 0.25)[0];
  const frame = 3;
  await open(`?view=run&run=${run1}&tab=overlay&sample=${encodeURIComponent(sample)}&variants=${pv.variant}&frame=${frame}`,
    `canvas.frame[data-variant="${pv.variant}"]`);
  const artifact = async (t) => (await apiGet(`/api/tasks/${t.key}/outputs/out`)).artifact;
  const ov = await apiGet(`/api/artifacts/${await artifact(decode.find((t) => t.sample === sample))}/overlay?frame=${frame}`);
  const px = Buffer.from(ov.pixels, 'base64');
  const file = Buffer.from(await (await fetch(`${base}/api/artifacts/${await artifact(pv)}/file`)).arrayBuffer());
  const mask = maskOf(file);
  const [groups, rows, cols] = mask.shape;
  const group = Math.floor((frame * groups) / ov.frames);
  const canvas = await page.$eval(`canvas.frame[data-variant="${pv.variant}"]`, (c) => ({
    w: c.width, h: c.height, data: [...c.getContext('2d').getImageData(0, 0, c.width, c.height).data],
  }));
  assert(canvas.w === ov.width && canvas.h === ov.height, `canvas ${canvas.w}x${canvas.h}, frame ${ov.width}x${ov.height}`);
  let kept = 0, wrong = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    const bit = mask.bits[group * rows * cols + r * cols + c] !== 0;
    // The centre of the cell and a point inside it: untouched frame pixels where kept.
    for (const [fx, fy] of [[0.5, 0.5], [0.3, 0.7]]) {
      const x = Math.floor((c + fx) * (ov.width / cols)), y = Math.floor((r + fy) * (ov.height / rows));
      const o = y * ov.width + x;
      const same = [0, 1, 2].every((k) => canvas.data[4 * o + k] === px[3 * o + k]);
      if (same !== bit) wrong.push(`cell (${r},${c}) ${bit ? 'kept but dimmed' : 'dropped but not dimmed'}`);
    }
    kept += bit;
  }
  assert(!wrong.length, wrong.join('; '));
  assert(kept > 0 && kept < rows * cols, `mask keeps ${kept} of ${rows * cols}: the test sees nothing`);
  console.log(`     sample ${sample}, variant ${pv.variant} (dycoke 0.25), frame ${frame}: ${kept} of ${rows * cols} cells kept, all match`);
  // Two variants side by side, with the audio strips, for the screenshot.
  const uni = (await apiGet(`/api/runs/${run1}/tasks?node=pv&limit=1000`)).items
    .find((t) => t.sample === sample && t.matrix.vmethod === 'uniform' && t.matrix.keep === 0.25);
  await open(`?view=run&run=${run1}&tab=overlay&sample=${encodeURIComponent(sample)}&variants=${pv.variant},${uni.variant}&frame=${frame}`,
    'canvas.strip');
  await page.waitForFunction(() => document.querySelectorAll('canvas.strip').length === 2);
  await shot('overlay');
});

// A second run that prunes audio differently: its tables differ from the first run's.
let run2;
try {
  run2 = Number(sieve('submit', pipeline, '--set', 'pa.segments=5').trim());
} catch (e) {
  console.log(`sieve submit failed: ${e.stderr}\nserve's log:\n${serveLog}`);
  process.exit(1);
}

await test('cancel without the token is refused by the server', async () => {
  await open(`?view=run&run=${run2}`, '#cancel');
  await page.click('#cancel');
  await page.waitForSelector('#action-msg.err');
  const msg = await page.textContent('#action-msg');
  assert(/refused \(401\)/.test(msg), `message: ${msg}`);
  const r = await apiGet(`/api/runs/${run2}`);
  assert(r.state !== 'cancelled', 'the run was cancelled without the token');
  // The browser reports the refused request itself; that one error is the expected one.
  consoleErrors = consoleErrors.filter((e) => !/status of 401/.test(e));
  await shot('cancel-refused');
});

await runEnded(run2);

await test('compare shows two runs side by side with the differences marked', async () => {
  await open(`?view=compare&runs=${run1},${run2}&metric=retention`, 'table.compare[data-run]');
  await page.waitForFunction(() => document.querySelectorAll('table.compare').length === 2);
  const diffs = await page.$$eval('table.compare td.diff', (t) => t.length);
  const a = JSON.parse(sieve('table', String(run1), '--format', 'json'));
  const b = JSON.parse(sieve('table', String(run2), '--format', 'json'));
  let want = 0;
  b.rows.forEach((r, i) => { for (const c of b.columns) if (a.rows[i]?.values[c] !== r.values[c]) want++; });
  assert(diffs === want, `${diffs} cells marked, ${want} differ`);
  await shot('compare');
});

await test('cancel with the token from ?token= is accepted, and the token leaves the address', async () => {
  const run3 = Number(sieve('submit', pipeline, '--set', 'keep=[0.1,0.2,0.3,0.4,0.6,0.7,0.8,0.9]').trim());
  await open(`?view=run&run=${run3}&token=${TOKEN}`, '#cancel');
  assert(!page.url().includes('token='), `token still in the address: ${page.url()}`);
  await page.click('#cancel');
  await page.waitForFunction(() => /cancel accepted/.test(document.querySelector('#action-msg').textContent));
  const r = await runEnded(run3);
  assert(r.state === 'cancelled' || r.state === 'done', `state ${r.state}`);
  await page.waitForFunction(() => document.querySelector('#run-state').textContent !== 'running', null, { timeout: 30000 });
  await open('', '#runs tbody tr');
  await shot('runs-after');
});

await test('dark theme follows prefers-color-scheme', async () => {
  await page.emulateMedia({ colorScheme: 'dark' });
  await open(`?view=run&run=${run1}&tab=plots`, '#plot-keep .u-legend');
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert(bg === 'rgb(20, 23, 28)', `dark background expected, got ${bg}`);
  await shot('plots-dark');
  await open(`?view=run&run=${run1}`, '#dag g.node');
  await shot('run-overview-dark');
  await page.emulateMedia({ colorScheme: 'light' });
});

// ---- teardown -----------------------------------------------------------------------------

await browser.close();
serve.kill('SIGTERM');
const code = await new Promise((ok) => serve.on('exit', (c, sig) => ok(c ?? sig)));
if (code !== 0) {
  results.push({ name: 'sieve serve exits 0 on SIGTERM', ok: false });
  console.log(`FAIL sieve serve exited ${code}:\n${serveLog}`);
}
rmSync(tmp, { recursive: true, force: true });
const failed = results.filter((r) => !r.ok).length;
console.log(`screenshots in ${OUT}; ${((Date.now() - T0) / 1000).toFixed(1)} s in all`);
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
