// CI check of the commit rule in CONTRIBUTING.md: every commit subject after
// BASE is at most 72 characters. Commits up to BASE predate the check (some
// are longer) and are left as history. Skips quietly outside a git checkout.
import { spawnSync } from 'node:child_process';

const BASE = '91ebfff';
const MAX = 72;

const log = spawnSync('git', ['log', '--format=%h %s', `${BASE}..HEAD`], { encoding: 'utf8' });
if (log.status !== 0) {
  process.stdout.write('commit subjects: not a git checkout with history; skipped\n');
  process.exit(0);
}
const long = log.stdout
  .split('\n')
  .filter((line) => line.length > 0)
  .filter((line) => line.slice(line.indexOf(' ') + 1).length > MAX);
for (const line of long) process.stderr.write(`commit subject over ${MAX} characters: ${line}\n`);
process.stdout.write(`commit subjects: ${long.length === 0 ? 'all' : 'not all'} within ${MAX} characters since ${BASE}\n`);
process.exit(long.length === 0 ? 0 : 1);
