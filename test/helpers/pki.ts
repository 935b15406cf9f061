// A throwaway PKI built with the openssl command at test time: a root CA, an
// optional intermediate, and leaf certificates with chosen key types, names and
// validity windows (openssl ca takes explicit start and end dates, so expired and
// not-yet-valid certificates are real ones). Files land in a temp directory.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type KeyType = 'ec' | 'rsa' | 'ed25519';

async function openssl(args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> {
  await run('openssl', args, { env: { ...process.env, ...env } });
}

export async function newKey(path: string, type: KeyType, opts: { traditional?: boolean; passphrase?: string } = {}): Promise<void> {
  const alg =
    type === 'ec'
      ? ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']
      : type === 'rsa'
        ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
        : ['-algorithm', 'ED25519'];
  const enc = opts.passphrase === undefined ? [] : ['-aes256', '-pass', `pass:${opts.passphrase}`];
  await openssl(['genpkey', ...alg, ...enc, '-out', path]);
  // PKCS#1 "RSA PRIVATE KEY" / SEC1 "EC PRIVATE KEY", the forms older tools write.
  if (opts.traditional === true)
    await openssl(type === 'rsa' ? ['rsa', '-in', path, '-out', path, '-traditional'] : ['ec', '-in', path, '-out', path]);
}

/** openssl ca's date form. */
function asn1Time(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
}

const DAY = 24 * 60 * 60 * 1000;

const CA_CONFIG = (dir: string): string => `
[ ca ]
default_ca = ca_default
[ ca_default ]
database = ${dir}/index.txt
new_certs_dir = ${dir}/issued
serial = ${dir}/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ leaf_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = \${ENV::SAN}
[ ca_ext ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

interface Issuer {
  cert: string;
  key: string;
  pem: string;
}

export interface Leaf {
  /** Path of the PEM chain (leaf, then the intermediate when issued through one). */
  cert: string;
  key: string;
  /** Upper-case hex, no leading zeros (as the relay logs it). */
  serial: string;
}

export interface LeafOptions {
  key?: KeyType;
  dns?: string[];
  ips?: string[];
  notBefore?: Date;
  notAfter?: Date;
  /** Issue through the intermediate and put it in the chain file. */
  viaIntermediate?: boolean;
  /** Reorder the chain file: intermediate first (a broken chain). */
  reversedChain?: boolean;
  traditionalKey?: boolean;
  passphrase?: string;
}

export class TestPki {
  private seq = 0;

  private constructor(
    readonly dir: string,
    readonly root: Issuer,
    readonly intermediate: Issuer,
  ) {}

  static async create(): Promise<TestPki> {
    const dir = await mkdtemp(join(tmpdir(), 'relay-pki-'));
    await mkdir(join(dir, 'issued'));
    await writeFile(join(dir, 'index.txt'), '');
    await writeFile(join(dir, 'ca.cnf'), CA_CONFIG(dir));
    const root = { cert: join(dir, 'root.pem'), key: join(dir, 'root.key'), pem: '' };
    await newKey(root.key, 'ec');
    await openssl([
      'req',
      '-x509',
      '-new',
      '-key',
      root.key,
      '-subj',
      '/CN=Relay Test Root',
      '-days',
      '30',
      '-out',
      root.cert,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    root.pem = await readFile(root.cert, 'utf8');
    const pki = new TestPki(dir, root, { cert: join(dir, 'inter.pem'), key: join(dir, 'inter.key'), pem: '' });
    await newKey(pki.intermediate.key, 'ec');
    const csr = join(dir, 'inter.csr');
    await openssl(['req', '-new', '-key', pki.intermediate.key, '-subj', '/CN=Relay Test Intermediate', '-out', csr]);
    await pki.sign(root, csr, pki.intermediate.cert, 'ca_ext', new Date(Date.now() - DAY), new Date(Date.now() + 20 * DAY), '');
    pki.intermediate.pem = await readFile(pki.intermediate.cert, 'utf8');
    return pki;
  }

  private async sign(issuer: Issuer, csr: string, out: string, ext: string, from: Date, to: Date, san: string): Promise<string> {
    // A random positive serial with no leading zero nibble.
    const serial = (4 + (randomBytes(1)[0]! % 4)).toString(16) + randomBytes(16).toString('hex').slice(1);
    await writeFile(join(this.dir, 'serial'), serial.toUpperCase() + '\n');
    await openssl(
      [
        'ca',
        '-batch',
        '-notext',
        '-config',
        join(this.dir, 'ca.cnf'),
        '-cert',
        issuer.cert,
        '-keyfile',
        issuer.key,
        '-in',
        csr,
        '-out',
        out,
        '-extensions',
        ext,
        '-startdate',
        asn1Time(from),
        '-enddate',
        asn1Time(to),
      ],
      { SAN: san || 'DNS:unused.invalid' },
    );
    return serial.toUpperCase();
  }

  /** Issues a leaf into `dir` (default: the PKI's own directory) as <name>.pem / <name>.key. */
  async leaf(opts: LeafOptions = {}, dir = this.dir): Promise<Leaf> {
    const name = `leaf${++this.seq}`;
    const key = join(dir, `${name}.key`);
    const cert = join(dir, `${name}.pem`);
    const type = opts.key ?? 'ec';
    await newKey(key, type, { traditional: opts.traditionalKey, passphrase: opts.passphrase });
    const csr = join(this.dir, `${name}.csr`);
    const pass = opts.passphrase === undefined ? [] : ['-passin', `pass:${opts.passphrase}`];
    await openssl(['req', '-new', '-key', key, ...pass, '-subj', `/CN=${opts.dns?.[0] ?? 'relay.pyry.test'}`, '-out', csr]);
    const san = [...(opts.dns ?? ['relay.pyry.test']).map((d) => `DNS:${d}`), ...(opts.ips ?? []).map((ip) => `IP:${ip}`)].join(',');
    const issuer = opts.viaIntermediate === true || opts.reversedChain === true ? this.intermediate : this.root;
    const signed = join(this.dir, `${name}.crt`);
    const serial = await this.sign(
      issuer,
      csr,
      signed,
      'leaf_ext',
      opts.notBefore ?? new Date(Date.now() - DAY),
      opts.notAfter ?? new Date(Date.now() + 10 * DAY),
      san,
    );
    const leafPem = await readFile(signed, 'utf8');
    const chain =
      issuer === this.root ? leafPem : opts.reversedChain === true ? this.intermediate.pem + leafPem : leafPem + this.intermediate.pem;
    await writeFile(cert, chain);
    return { cert, key, serial };
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Replaces `dest` with `src`'s content through a rename, as certbot and cp --atomic tools do. */
export async function replaceFile(src: string, dest: string): Promise<void> {
  const tmp = `${dest}.tmp-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, await readFile(src));
  await rename(tmp, dest);
}
