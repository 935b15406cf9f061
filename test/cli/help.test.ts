// Help text is generated from the flag table: every flag, its topic, type and default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { helpText } from '../../src/cli/help.js';
import { FLAGS, TOPICS } from '../../src/ops/config.js';

const text = helpText();
const lines = text.split('\n');

/** The lines under a topic heading, up to the next blank line. */
function section(topic: string): string[] {
  const start = lines.indexOf(`${topic}:`);
  assert.ok(start >= 0, `heading ${topic}`);
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

test('usage lines come first and include the probe subcommand', () => {
  assert.equal(lines[0], 'Usage:');
  assert.match(text, /^ {2}pyrycode-relay --domain <name> \[flags\]/m);
  assert.match(text, /^ {2}pyrycode-relay --insecure-listen <addr> \[flags\]/m);
  assert.match(text, /^ {2}pyrycode-relay probe /m);
  assert.match(text, /exactly one of --domain, --tls-cert\/--tls-key or --insecure-listen is required/i);
});

test('topics appear in order, each with a heading', () => {
  const expected = ['General', 'Listeners', 'TLS/ACME', 'Admission', 'Timing', 'Limits', 'Logging & metrics', 'Push', 'Cluster'];
  assert.deepEqual(TOPICS, expected);
  const positions = expected.map((t) => lines.indexOf(`${t}:`));
  assert.ok(
    positions.every((p) => p > 0),
    positions.join(','),
  );
  assert.deepEqual(
    [...positions].sort((a, b) => a - b),
    positions,
  );
});

test('every table flag is listed once, under its topic', async (t) => {
  for (const def of FLAGS) {
    await t.test(def.name, () => {
      const heads = lines.filter(
        (l) => l.startsWith(`  --${def.name}`) && /^ {2}--[a-z-]+(\[=bool\]| \S+)$/.test(l) && l.split(/[[ ]/)[2] === `--${def.name}`,
      );
      assert.equal(heads.length, 1, `one entry for --${def.name}`);
      assert.ok(section(def.topic).includes(heads[0] as string), `--${def.name} under ${def.topic}`);
    });
  }
  await t.test('no flag outside the table', () => {
    const listed = lines.filter((l) => /^ {2}--[a-z]/.test(l)).map((l) => l.slice(4).split(/[[ ]/)[0] as string);
    assert.deepEqual([...listed].sort(), FLAGS.map((f) => f.name).sort());
  });
});

test('each flag shows its value type, help text and default', async (t) => {
  const typeLabel: Record<string, string> = {
    bool: '[=bool]',
    int: ' int',
    duration: ' duration',
    'listen-address': ' host:port',
    string: ' string',
    enum: ' debug|info|warn|error',
  };
  for (const def of FLAGS) {
    await t.test(def.name, () => {
      const i = lines.indexOf(`  --${def.name}${typeLabel[def.type]}`);
      assert.ok(i >= 0, `--${def.name} with type label`);
      const body = lines[i + 1] ?? '';
      assert.ok(body.startsWith('        ' + def.help), body);
      if (def.default === undefined) assert.doesNotMatch(body, /\(default /);
      else if (def.type === 'string' || def.type === 'listen-address')
        assert.ok(body.endsWith(`(default ${JSON.stringify(def.default)})`), body);
      else assert.ok(body.endsWith(`(default ${def.default})`), body);
    });
  }
});

test('spot checks of defaults as operators read them', () => {
  for (const snippet of [
    '(default ":443")',
    '(default ":80")',
    '(default "~/.pyrycode-relay/certs")',
    '(default "127.0.0.1:9090")',
    '(default 10000)',
    '(default 30s)',
    '(default 0s)',
    '(default 6s)',
    '(default 262144)',
    '(default info)',
    '(default "https://acme-v02.api.letsencrypt.org/directory")',
    '(default "pyrycode-mobile")',
    '(default "pyrycode-relay")',
  ]) {
    assert.ok(text.includes(snippet), snippet);
  }
});

test('the Cluster group lists the cluster flags and says what turns cluster mode on', () => {
  assert.deepEqual(
    section('Cluster').filter((l) => l.startsWith('  --')),
    ['  --cluster-prefix string', '  --node-id string', '  --cluster-node-ttl duration'],
  );
  assert.match(text, /PYRYCODE_RELAY_REDIS_URL/);
  assert.ok(section('Cluster').some((l) => l.includes('$FLY_MACHINE_ID') && l.includes('<hostname>-<6 random hex>')));
});

test('-h/--help and --version are documented', () => {
  assert.ok(section('General').includes('  -h, --help'));
  assert.ok(section('General').includes('  --version[=bool]'));
});

test('help text is stable and ends with a newline', () => {
  assert.equal(helpText(), text);
  assert.ok(text.endsWith('\n'));
  assert.doesNotMatch(text, /undefined|NaN|\[object/);
});
