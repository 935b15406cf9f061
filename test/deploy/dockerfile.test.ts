// Static checks of the Dockerfile and .dockerignore (operations.md §11). No Docker
// engine runs here, so the image is never built in CI; these tests pin the
// invariants a reviewer would otherwise check by eye: pinned base, non-root user,
// production dependencies only, no secrets in the build, the relay as entrypoint.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseCommandLine } from '../../src/ops/config.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions with comments dropped and `\` continuations joined. */
function parse(text: string): { instructions: Instruction[]; comments: string[] } {
  const instructions: Instruction[] = [];
  const comments: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#')) {
      comments.push(line);
      continue;
    }
    if (line === '' && pending === '') continue;
    pending += (pending === '' ? '' : ' ') + line.replace(/\\$/, '').trim();
    if (line.endsWith('\\')) continue;
    const m = /^(\S+)\s*(.*)$/.exec(pending);
    if (m !== null) instructions.push({ op: (m[1] ?? '').toUpperCase(), args: m[2] ?? '' });
    pending = '';
  }
  return { instructions, comments };
}

const { instructions, comments } = parse(dockerfile);

/** Global ARG defaults (before the first FROM), used to resolve ${VAR} in FROM lines. */
const args = new Map<string, string>();
for (const ins of instructions) {
  if (ins.op === 'FROM') break;
  const m = /^(\w+)=(\S+)$/.exec(ins.args);
  if (ins.op === 'ARG' && m !== null) args.set(m[1] ?? '', m[2] ?? '');
}
const resolve = (s: string): string => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a?: string, b?: string) => args.get(a ?? b ?? '') ?? '');

/** Instructions grouped by stage; stages[i][0] is its FROM. */
const stages: Instruction[][] = [];
for (const ins of instructions) {
  if (ins.op === 'FROM') stages.push([]);
  stages.at(-1)?.push(ins);
}
const final = stages.at(-1) ?? [];
const finalOf = (op: string): Instruction[] => final.filter((i) => i.op === op);

/** Why `image` is not a usable base pin, or undefined when it is. */
function pinProblem(image: string): string | undefined {
  const m = /^node:(\d+)-([a-z0-9.-]+)@sha256:([0-9a-f]{64})$/.exec(image);
  if (m === null) return 'must be node:<lts>-<variant>@sha256:<64 lowercase hex digits>';
  // A real SHA-256 is never one digit repeated: that is a placeholder that cannot be pulled.
  if (/^(.)\1*$/.test(m[3] ?? '')) return 'the digest is a placeholder';
  const major = Number(m[1]);
  if (major < 22 || major % 2 !== 0) return `Node ${major} is not a current LTS line`;
  return undefined;
}

function execForm(ins: Instruction | undefined): string[] {
  assert.ok(ins !== undefined);
  const v = JSON.parse(ins.args) as unknown;
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `${ins.op} must use the exec (JSON array) form`);
  return v;
}

describe('Dockerfile', () => {
  test('is multi-stage: a build stage compiles, the final stage only runs', () => {
    assert.ok(stages.length >= 2, 'at least two FROM stages');
    const build = stages.slice(0, -1).flat();
    assert.ok(
      build.some((i) => i.op === 'RUN' && /\btsc\b/.test(i.args)),
      'TypeScript is compiled in a build stage',
    );
    assert.ok(!final.some((i) => i.op === 'RUN' && /\btsc\b/.test(i.args)), 'no compiling in the final stage');
    const fromBuild = finalOf('COPY').filter((i) => /--from=/.test(i.args));
    assert.ok(
      fromBuild.some((i) => /\/dist\/src\s+\.\/dist\/src$/.test(i.args)),
      'the compiled relay comes from the build stage',
    );
  });

  test('every stage is pinned by a real digest to an even-numbered (LTS) Node image, named in a comment', () => {
    const images = stages.map((stage) => resolve((stage[0]?.args ?? '').split(/\s+/)[0] ?? ''));
    for (const image of images) {
      assert.equal(pinProblem(image), undefined, `FROM ${image}`);
      const tag = image.split('@')[0] ?? '';
      assert.ok(
        comments.some((c) => c.includes(tag)),
        `a comment names the tag ${tag}`,
      );
    }
    assert.equal(new Set(images).size, 1, 'both stages run on the same reviewed image');
    // Dependabot updates only literal FROM lines, so the pin may not hide behind an ARG.
    for (const stage of stages) assert.doesNotMatch(stage[0]?.args ?? '', /\$/, 'FROM names the image literally');
    assert.doesNotMatch(dockerfile, /placeholder/i, 'no placeholder left in the Dockerfile');
  });

  test('the pin check refuses placeholder, malformed and non-LTS pins', () => {
    const good = `node:24-bookworm-slim@sha256:${'6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d'}`;
    assert.equal(pinProblem(good), undefined);
    const bad = [
      `node:24-bookworm-slim@sha256:${'0'.repeat(64)}`,
      `node:24-bookworm-slim@sha256:${'f'.repeat(64)}`,
      `node:24-bookworm-slim@sha256:${'0123456789abcdef'.repeat(4).slice(0, 63)}`,
      `node:24-bookworm-slim@sha256:${'0123456789abcdef'.repeat(4)}0`,
      `node:24-bookworm-slim@sha256:${'6F7B03F7C2C8E2E784DCF9295400527B9B1270FD37B7E9A7285CF83B6951452D'}`,
      `node:24-bookworm-slim@sha256:${'g'.repeat(64)}`,
      `node:24-bookworm-slim@sha512:${'6f7b'.repeat(32)}`,
      `node:24-bookworm-slim`,
      `node:24-bookworm-slim@`,
      `node:25-bookworm-slim@sha256:${'6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d'}`,
      `node:20-bookworm-slim@sha256:${'6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d'}`,
      `node:latest@sha256:${'6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d'}`,
      '',
    ];
    for (const image of bad) assert.notEqual(pinProblem(image), undefined, image);
  });

  test('the final stage installs production dependencies only and no build tools', () => {
    const runs = finalOf('RUN').map((i) => i.args);
    assert.ok(
      runs.some((r) => /\bnpm ci\b/.test(r) && /--omit=dev\b/.test(r)),
      'npm ci --omit=dev',
    );
    for (const r of runs) {
      assert.doesNotMatch(r, /\bnpm (install|i)\b/, 'npm ci from the lockfile, never npm install');
      assert.doesNotMatch(r, /apt-get install|apk add|build-essential|\bgcc\b|\bmake\b|python/, `no build tools: ${r}`);
    }
    // The package manager itself is removed after use.
    assert.ok(
      runs.some((r) => /rm -rf [^&]*\/usr\/local\/lib\/node_modules\/npm/.test(r)),
      'npm removed from the final image',
    );
  });

  test('runs as the non-root uid 65532', () => {
    const users = finalOf('USER');
    assert.ok(users.length > 0, 'a USER instruction in the final stage');
    assert.match(users.at(-1)?.args ?? '', /^65532(:65532)?$/);
    // Nothing after the USER switch runs as root again.
    const idx = final.lastIndexOf(users.at(-1) as Instruction);
    assert.ok(!final.slice(idx).some((i) => i.op === 'RUN'), 'no RUN after the switch to 65532');
    const chown = finalOf('RUN').some((i) => /chown -R 65532:65532 \/var\/lib\/relay\b/.test(i.args));
    assert.ok(chown, 'the certificate volume belongs to 65532 so ACME can write it');
  });

  test('declares the certificate volume and exposes 80 and 443', () => {
    assert.ok(finalOf('VOLUME').some((i) => i.args.split(/\s+/).includes('/var/lib/relay/autocert')));
    const ports = finalOf('EXPOSE').flatMap((i) => i.args.split(/\s+/));
    assert.ok(ports.includes('80') && ports.includes('443'), ports.join(' '));
  });

  test('the entrypoint is the relay, with the certificate cache on the volume', () => {
    const all = execForm(finalOf('ENTRYPOINT').at(-1));
    assert.equal(all[0], 'node');
    // Only V8 tuning may stand between node and the script (docs/performance.md).
    const scriptAt = all.indexOf('dist/src/cli/main.js');
    assert.ok(scriptAt > 0, all.join(' '));
    for (const flag of all.slice(1, scriptAt)) assert.match(flag, /^--max-semi-space-size=\d+$/);
    const entry = ['node', ...all.slice(scriptAt)];
    assert.ok(existsSync(join(ROOT, 'dist/src/cli/main.js')), 'the entrypoint path is what the build produces');
    // The baked-in flags must be valid relay flags, and later flags must override them.
    const parsed = parseCommandLine([...entry.slice(2), '--insecure-listen', ':8080'], { homedir: '/var/lib/relay' });
    assert.equal(parsed.kind, 'run');
    if (parsed.kind === 'run') assert.equal(parsed.config.certCache, '/var/lib/relay/autocert');
    const overridden = parseCommandLine([...entry.slice(2), '--domain', 'relay.example.com', '--cert-cache', '/certs'], {
      homedir: '/var/lib/relay',
    });
    assert.ok(overridden.kind === 'run' && overridden.config.certCache === '/certs');
    const workdir = finalOf('WORKDIR').at(-1)?.args;
    assert.equal(workdir, '/app');
  });

  test('copies no secrets and never the whole build context', () => {
    const secret = /(^|\/)\.env\b|\.pem\b|\.key\b|\.p12\b|id_rsa|\.npmrc|secret|credential|service-account/i;
    for (const ins of instructions.filter((i) => i.op === 'COPY' || i.op === 'ADD')) {
      assert.notEqual(ins.op, 'ADD', 'COPY, not ADD (no remote URLs or auto-extraction)');
      const parts = ins.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      const sources = parts.slice(0, -1);
      for (const src of sources) {
        assert.doesNotMatch(src, secret, `COPY ${src}`);
        assert.ok(src !== '.' && src !== './' && !src.includes('*'), `COPY ${src} would take more than it names`);
      }
    }
    assert.ok(!instructions.some((i) => i.op === 'ENV' && /TOKEN|SECRET|PASSWORD|CREDENTIALS|PRIVATE/i.test(i.args)), 'no secrets in ENV');
    assert.ok(!instructions.some((i) => i.op === 'ARG' && /TOKEN|SECRET|PASSWORD|CREDENTIALS|PRIVATE/i.test(i.args)), 'no secrets in ARG');
  });

  test('every file the build copies from the context exists and is let through .dockerignore', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    assert.equal(ignore[0], '*', '.dockerignore starts from "ignore everything"');
    for (const ins of instructions.filter((i) => i.op === 'COPY' && !/--from=/.test(i.args))) {
      for (const src of ins.args.split(/\s+/).slice(0, -1)) {
        assert.ok(existsSync(join(ROOT, src)), `${src} exists`);
        assert.ok(ignore.includes(`!${src}`) || ignore.includes(`!${src}/`), `${src} is re-included in .dockerignore`);
      }
    }
    for (const pattern of ['**/.env', '**/*.pem', '**/*.key', '**/.npmrc']) assert.ok(ignore.includes(pattern), pattern);
  });
});

describe('production dependencies', () => {
  test('every package the relay imports at runtime is a dependency, not a devDependency', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const builtins = new Set(builtinModules);
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (name.endsWith('.ts')) files.push(p);
      }
    };
    walk(join(ROOT, 'src'));
    assert.ok(files.length > 10);
    const seen = new Set<string>();
    for (const f of files) {
      // Type-only imports vanish at compile time, so they may name dev packages.
      for (const m of readFileSync(f, 'utf8').matchAll(/^import (?!type\b)[^'"]*?from '([^'.][^']*)'/gm)) {
        const spec = m[1] ?? '';
        if (spec.startsWith('node:') || builtins.has(spec)) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? '');
        seen.add(name);
        assert.ok(name in pkg.dependencies, `${f} imports ${name}, which --omit=dev would leave out`);
      }
    }
    assert.ok(seen.has('ws'), 'the scan found the runtime imports');
  });
});
