// The import graph of src/: every relative import (type-only included) between
// modules, and the same graph folded onto the top-level folders (layers).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]/g;

function collect(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Module → the modules it imports, as paths relative to `root` (e.g. "src/relay/relay.ts"). */
export function moduleGraph(root: string, srcDir = 'src'): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of collect(join(root, srcDir))) {
    const text = readFileSync(file, 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const target = resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts'));
      deps.push(relative(root, target));
    }
    graph.set(relative(root, file), deps);
  }
  return graph;
}

/** The layer of a module: its folder under src/, or the file itself at the top. */
export function layerOf(module: string): string {
  const parts = module.split('/');
  return parts.length > 2 ? parts[1]! : parts[1]!.replace(/\.ts$/, '');
}

export function layerGraph(modules: Map<string, string[]>): Map<string, string[]> {
  const graph = new Map<string, Set<string>>();
  for (const [m, deps] of modules) {
    const from = layerOf(m);
    const set = graph.get(from) ?? new Set<string>();
    graph.set(from, set);
    for (const d of deps) if (layerOf(d) !== from) set.add(layerOf(d));
  }
  return new Map([...graph].map(([k, v]) => [k, [...v].sort()]));
}

/** Every elementary cycle found by a depth-first walk, each as the list of nodes on it. */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const d of graph.get(n) ?? []) {
      if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d]);
      else if (state.get(d) === undefined) visit(d);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...graph.keys()].sort()) if (state.get(n) === undefined) visit(n);
  return cycles;
}
