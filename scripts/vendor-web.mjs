// vendor-web.mjs - copies uPlot's released files and licence from node_modules (npm ci) into
// web/static/vendor/, where the page loads them: the daemon serves files, never a CDN.
// Run after changing the uplot version in package.json: npm install && npm run vendor.
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'node_modules', 'uplot');
const dst = join(root, 'web', 'static', 'vendor');
const version = JSON.parse(readFileSync(join(src, 'package.json'), 'utf8')).version;
mkdirSync(dst, { recursive: true });
copyFileSync(join(src, 'dist', 'uPlot.iife.min.js'), join(dst, 'uPlot.iife.min.js'));
copyFileSync(join(src, 'dist', 'uPlot.min.css'), join(dst, 'uPlot.min.css'));
copyFileSync(join(src, 'LICENSE'), join(dst, 'uPlot.LICENSE.txt'));
console.log(`vendored uPlot ${version} into web/static/vendor/`);
