// The on-disk certificate cache, in Go autocert's DirCache layout so an
// operator can move a cache between the Go relay and this one: the file named
// after the domain holds the certificate's private key PEM followed by the
// chain PEMs, and `acme_account+key` holds the ACME account key. Every file is
// written 0600 through a temp file and a rename, so a crash never leaves half a
// key behind.
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { chmod, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export const ACCOUNT_KEY_FILE = 'acme_account+key';

export interface CertBundle {
  /** Private key PEM. */
  keyPem: string;
  /** Leaf first, then intermediates. */
  chainPem: string;
  leaf: X509Certificate;
  notBefore: number;
  notAfter: number;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?\r?\n-----END \1-----/g;

export function pemBlocks(text: string): Array<{ label: string; pem: string }> {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1] ?? '', pem: m[0] }));
}

export async function writePrivateFile(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A new ECDSA P-256 key in SEC1 PEM ("EC PRIVATE KEY"), autocert's default and format. */
export function newEcKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ type: 'sec1', format: 'pem' }).toString();
}

/** Any private key PEM as PKCS#8, the only form acme-client's CSR and JWS code import. */
export function toPkcs8(keyPem: string): string {
  return createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'pem' }).toString();
}

/**
 * Parses and checks a bundle: a private key, then a chain whose leaf matches
 * that key and names `domain`. Throws with the reason otherwise.
 */
export function parseBundle(text: string, domain: string): CertBundle {
  const blocks = pemBlocks(text);
  const keyBlock = blocks.find((b) => b.label.endsWith('PRIVATE KEY'));
  const certs = blocks.filter((b) => b.label === 'CERTIFICATE');
  if (keyBlock === undefined) throw new Error('no private key');
  if (certs.length === 0) throw new Error('no certificate');
  const leaf = new X509Certificate(certs[0]!.pem);
  if (!leaf.checkPrivateKey(createPrivateKey(keyBlock.pem))) throw new Error('certificate does not match its key');
  if (leaf.checkHost(domain, { wildcards: false }) === undefined) throw new Error(`certificate is not for ${domain}`);
  return {
    keyPem: keyBlock.pem + '\n',
    chainPem: certs.map((c) => c.pem).join('\n') + '\n',
    leaf,
    notBefore: Date.parse(leaf.validFrom),
    notAfter: Date.parse(leaf.validTo),
  };
}

/**
 * Where the certificate and the ACME account key live: this directory cache on a
 * single relay, Redis in a cluster (src/cluster/acme-redis.ts) so every node
 * serves the one certificate the cluster ordered.
 */
export interface CertStore {
  /** The stored bundle, undefined when absent; throws when present but unusable. */
  loadCert(): Promise<CertBundle | undefined>;
  /**
   * Stores a new certificate. `fence` is the issuer lock's value when one was
   * taken: a shared store refuses the write (StaleFenceError) once the lock has
   * moved to another node.
   */
  saveCert(keyPem: string, chainPem: string, fence?: string): Promise<void>;
  /** The ACME account key, created (and persisted) on first use. */
  accountKey(): Promise<string>;
}

/** A stored entry that exists but cannot be served (no key, wrong domain …); replaced by the next order. */
export class UnusableCertError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'UnusableCertError';
  }
}

/** A fenced save found the issuer lock held by someone else (or expired). */
export class StaleFenceError extends Error {
  constructor() {
    super('the issuer lock has moved to another node');
    this.name = 'StaleFenceError';
  }
}

/** One key and chain in the autocert file layout: key PEM, then the chain. */
export function bundleText(keyPem: string, chainPem: string): string {
  return keyPem.trimEnd() + '\n' + chainPem.trimEnd() + '\n';
}

/** The PEM of the first private key block in `text`, undefined when there is none. */
export function privateKeyPem(text: string): string | undefined {
  const block = pemBlocks(text).find((b) => b.label.endsWith('PRIVATE KEY'));
  return block === undefined ? undefined : block.pem + '\n';
}

/** Go autocert's DirCache layout on local disk: the single-relay store. */
export class DirCertStore implements CertStore {
  constructor(
    readonly dir: string,
    readonly domain: string,
  ) {}

  private get certPath(): string {
    return join(this.dir, this.domain);
  }

  async loadCert(): Promise<CertBundle | undefined> {
    const text = await readIfPresent(this.certPath);
    return text === undefined ? undefined : parseBundle(text, this.domain);
  }

  async saveCert(keyPem: string, chainPem: string): Promise<void> {
    await writePrivateFile(this.certPath, bundleText(keyPem, chainPem));
  }

  async accountKey(): Promise<string> {
    const path = join(this.dir, ACCOUNT_KEY_FILE);
    const existing = await readIfPresent(path);
    if (existing !== undefined) {
      const pem = privateKeyPem(existing);
      if (pem === undefined) throw new Error(`${ACCOUNT_KEY_FILE} holds no private key`);
      return pem;
    }
    const pem = newEcKeyPem();
    await writePrivateFile(path, pem);
    return pem;
  }
}
