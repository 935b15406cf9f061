// Layers without cycles (docs/architecture.md): no import cycle between
// modules under src/, and none between its folders, type-only imports included.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { findCycles, layerGraph, moduleGraph } from './import-graph.js';

// dist/test/arch → the repository root, where src/ holds the TypeScript sources.
const root = fileURLToPath(new URL('../../../', import.meta.url));

test('no import cycle between modules under src/', () => {
  const cycles = findCycles(moduleGraph(root));
  assert.deepEqual(
    cycles.map((c) => c.join(' → ')),
    [],
  );
});

test('no import cycle between the folders (layers) of src/', () => {
  const layers = layerGraph(moduleGraph(root));
  assert.deepEqual(
    findCycles(layers).map((c) => c.join(' → ')),
    [],
  );
});

test('the graph is read: the relay imports its registry, the CLI sits on top', () => {
  const modules = moduleGraph(root);
  assert.ok(modules.get('src/relay/relay.ts')?.includes('src/relay/registry.ts'));
  const layers = layerGraph(modules);
  for (const [layer, deps] of layers) assert.ok(!deps.includes('cli'), `${layer} must not import the CLI`);
});

test('the cycle finder reports a cycle it is given', () => {
  const g = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a']],
    ['d', ['a']],
  ]);
  assert.deepEqual(findCycles(g), [['a', 'b', 'c', 'a']]);
});
