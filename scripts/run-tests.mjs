// Runs every compiled test file under dist/test with node's built-in test runner.
// Node 20's --test has no glob support, so the file list is collected here.
//
// --coverage adds node's --experimental-test-coverage, prints its report, and
// fails the run when the lines covered in dist/src (the relay itself, not the
// tests; a module no test loads counts as 0 %) fall below COVERAGE_FLOOR.
// Why this floor: docs/decisions/0014-coverage-floor.md.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const COVERAGE_FLOOR = 94;

function collect(dir, suffix) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p, suffix));
    else if (name.endsWith(suffix)) out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
const coverage = args.includes('--coverage');
const filter = args.filter((a) => a !== '--coverage');
let files = collect('dist/test', '.test.js').sort();
if (filter.length > 0) files = files.filter((f) => filter.some((s) => f.includes(s)));

const nodeArgs = ['--test', '--test-concurrency=2', ...(coverage ? ['--experimental-test-coverage'] : []), ...files];
const child = spawn(process.execPath, nodeArgs, { stdio: ['inherit', coverage ? 'pipe' : 'inherit', 'inherit'] });

// Report rows look like `# dist/src/relay/wire.js | 97.50 | 90.00 | 100.00 | 12-14`.
const ROW = /^# (dist\/src\/\S+\.js)\s+\|\s+([\d.]+)\s+\|/;
const linePct = new Map();
let pending = '';
child.stdout?.on('data', (chunk) => {
  process.stdout.write(chunk);
  const text = pending + chunk.toString('utf8');
  const lines = text.split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) {
    const m = ROW.exec(line);
    if (m) linePct.set(m[1], Number(m[2]));
  }
});

child.on('close', (code, signal) => {
  if (code !== 0 || !coverage) process.exit(code ?? (signal ? 1 : 0));
  if (filter.length > 0) process.exit(0); // a partial run says nothing about the whole
  // Node counts every line of a file, so covered = pct × line count.
  // A type-only module compiles to a bare `export {};` and has nothing to run.
  const modules = collect('dist/src', '.js').filter((f) => readFileSync(f, 'utf8').trim() !== 'export {};');
  let total = 0;
  let covered = 0;
  for (const f of modules) {
    const n = readFileSync(f, 'utf8').split('\n').length - 1;
    total += n;
    covered += Math.round(((linePct.get(f) ?? 0) * n) / 100);
  }
  const pct = total === 0 ? 0 : (100 * covered) / total;
  const unloaded = modules.filter((f) => !linePct.has(f));
  console.log(`# src line coverage: ${pct.toFixed(2)}% of ${total} lines (floor ${COVERAGE_FLOOR}%)`);
  if (unloaded.length > 0) console.log(`# never loaded by a test: ${unloaded.join(', ')}`);
  if (pct < COVERAGE_FLOOR) {
    console.error(`src line coverage ${pct.toFixed(2)}% is below the floor of ${COVERAGE_FLOOR}%`);
    process.exit(1);
  }
});
