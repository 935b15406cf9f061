// Static check of .github/dependabot.yml: the base image digest and the npm
// dependencies are kept current weekly, npm minor and patch bumps arrive as one
// grouped pull request, and the Node major (an LTS choice) is never bumped.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

const ROOT = new URL('../../../', import.meta.url).pathname;
const text = readFileSync(join(ROOT, '.github/dependabot.yml'), 'utf8');

/** The config's `updates` entries as raw text blocks keyed by ecosystem (enough for this flat file). */
function entries(): Map<string, string> {
  const out = new Map<string, string>();
  const parts = text.split(/^ {2}- package-ecosystem: */m).slice(1);
  for (const part of parts) {
    const [ecosystem = '', ...rest] = part.split('\n');
    out.set(ecosystem.trim(), rest.join('\n'));
  }
  return out;
}

/** The items of the YAML list under `key:` in `block` (`- item` lines right after it). */
function listUnder(block: string, key: string): string[] {
  const m = new RegExp(`^( *)${key}:\\n((?:\\1 {2}- .*\\n?)+)`, 'm').exec(block);
  return m === null
    ? []
    : (m[2] ?? '')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => l.replace(/^\s*- /, '').trim());
}

describe('dependabot.yml', () => {
  test('is version 2 with docker and npm at the repository root, weekly', () => {
    assert.match(text, /^version: 2$/m);
    const e = entries();
    assert.deepEqual([...e.keys()].sort(), ['docker', 'npm']);
    for (const [ecosystem, block] of e) {
      assert.match(block, /^ {4}directory: \/$/m, ecosystem);
      assert.match(block, /^ {4}schedule:\n {6}interval: weekly$/m, ecosystem);
    }
  });

  test('npm minor and patch updates are grouped into one pull request', () => {
    const npm = entries().get('npm') ?? '';
    assert.match(npm, /^ {4}groups:\n {6}[\w-]+:\n {8}update-types:$/m);
    assert.deepEqual(listUnder(npm, 'update-types').sort(), ['minor', 'patch']);
  });

  test('docker updates keep the Node major (an LTS decision) and bump digests and patches', () => {
    const docker = entries().get('docker') ?? '';
    assert.match(docker, /^ {6}- dependency-name: node$/m);
    assert.deepEqual(listUnder(docker, 'update-types'), ['version-update:semver-major']);
  });
});
