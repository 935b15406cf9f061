// Every `<file>.md §N` cited in the code, tests, benchmarks and docs resolves to
// a file and a numbered heading in docs/spec/, and that directory ships in the
// package.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { ROOT } from '../helpers/deploy.js';
import { findCitations, sectionsOf, unresolved } from '../helpers/spec-citations.js';

const SPEC = join(ROOT, 'docs/spec');
const SCANNED = ['src', 'test', 'bench', 'docs', 'scripts', 'README.md'];
const TEXT = /\.(ts|mjs|js|md|wat|conf|cfg|toml|yml|yaml|json)$/;
const SKIP = new Set(['node_modules', 'dist', 'results']);

function walk(p: string): string[] {
  if (!statSync(p).isDirectory()) return TEXT.test(p) ? [p] : [];
  return readdirSync(p)
    .filter((n) => !SKIP.has(n))
    .flatMap((n) => walk(join(p, n)));
}

describe('the spec citation checker', () => {
  test('reads single, listed and dotted citations', () => {
    assert.deepEqual(findCitations('see relay-behaviour.md §3 and §5, protocol.md §3.2. Also operations.md §2, §3/§6 or §10'), [
      { file: 'relay-behaviour.md', section: '3' },
      { file: 'relay-behaviour.md', section: '5' },
      { file: 'protocol.md', section: '3.2' },
      { file: 'operations.md', section: '2' },
      { file: 'operations.md', section: '3' },
      { file: 'operations.md', section: '6' },
      { file: 'operations.md', section: '10' },
    ]);
    assert.deepEqual(findCitations('RFC 6455 §4.4 and a bare §3 name no file'), []);
  });

  test('reads numbered headings', () => {
    assert.deepEqual([...sectionsOf('# Title\n## 1. One\n### 1.2 Sub\n## §4 Four\n## Words\n')], ['1', '1.2', '4']);
  });

  test('rejects a missing section and a missing file', () => {
    // Built at run time so that this file's own scan does not find them.
    const cite = (file: string, section: string): string => `${file} §${section}`;
    const bad = findCitations(`// ${cite('protocol.md', '9')} and ${cite('relay-behaviour.md', '3.7')}; ${cite('nonexistent.md', '1')}`);
    assert.deepEqual(unresolved(bad, SPEC), [
      `${cite('protocol.md', '9')}: no such section`,
      `${cite('relay-behaviour.md', '3.7')}: no such section`,
      `${cite('nonexistent.md', '1')}: no such file in docs/spec`,
    ]);
  });
});

describe('docs/spec', () => {
  test('every citation in src, test, bench, docs and scripts resolves', () => {
    const problems: string[] = [];
    let count = 0;
    for (const file of SCANNED.flatMap((p) => walk(join(ROOT, p)))) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        const found = findCitations(line);
        count += found.length;
        for (const p of unresolved(found, SPEC)) problems.push(`${relative(ROOT, file)}:${i + 1}: ${p}`);
      });
    }
    assert.deepEqual(problems, []);
    // The scan found the code's citations (about fifty when this test was written).
    assert.ok(count >= 40, `only ${count} citations found`);
  });

  test('has the four normative files and an index, and ships in the package', () => {
    for (const f of ['README.md', 'protocol.md', 'relay-behaviour.md', 'operations.md', 'cluster.md']) {
      assert.ok(statSync(join(SPEC, f)).isFile(), f);
    }
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    assert.ok(pkg.files.includes('docs'), 'package.json files includes docs');
  });
});
