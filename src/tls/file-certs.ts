// Certificate-file mode's pair (--tls-cert, --tls-key): reads a PEM chain and a
// PEM private key, checks them and builds the TLS context. Every refusal is a
// CertFileError naming the flag and the file with a fixed reason; nothing from a
// file's contents (least of all key material, or an OpenSSL message quoting it)
// reaches the error.
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { pemBlocks } from './cert-store.js';
import { TLS_MIN_VERSION } from './https-server.js';

export type CertFileFlag = 'tls-cert' | 'tls-key';

export interface CertFilePaths {
  cert: string;
  key: string;
}

export class CertFileError extends Error {
  constructor(
    readonly flag: CertFileFlag,
    readonly file: string,
    readonly reason: string,
  ) {
    super(`--${flag} ${file}: ${reason}`);
    this.name = 'CertFileError';
  }
}

/** The two files' text, as read at one moment. */
export interface PairText {
  cert: string;
  key: string;
  /** A digest of both, to tell a changed pair from the one already served (never logged). */
  identity: string;
}

export interface FileCertPair {
  /** Leaf first, then intermediates, as PEM. */
  chainPem: string;
  keyPem: string;
  leaf: X509Certificate;
  notBefore: number;
  notAfter: number;
  /** The leaf's serial number, upper-case hex (openssl's form). */
  serial: string;
  identity: string;
}

async function readOne(flag: CertFileFlag, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new CertFileError(flag, file, `unreadable (${code})`);
  }
}

export async function readPair(paths: CertFilePaths): Promise<PairText> {
  const [cert, key] = await Promise.all([readOne('tls-cert', paths.cert), readOne('tls-key', paths.key)]);
  const identity = createHash('sha256').update(cert).update('\0').update(key).digest('hex');
  return { cert, key, identity };
}

function parseChain(file: string, text: string): { certs: X509Certificate[]; pems: string[] } {
  const pems = pemBlocks(text)
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => b.pem);
  if (pems.length === 0) throw new CertFileError('tls-cert', file, 'no PEM certificate');
  const certs = pems.map((pem, i) => {
    try {
      return new X509Certificate(pem);
    } catch {
      throw new CertFileError('tls-cert', file, `certificate ${i + 1} is not a valid X.509 certificate`);
    }
  });
  // Leaf first, each certificate issued by the next: a reordered chain fails only in clients.
  for (let i = 0; i + 1 < certs.length; i++) {
    if (!certs[i]!.checkIssued(certs[i + 1]!)) {
      throw new CertFileError(
        'tls-cert',
        file,
        `certificate ${i + 2} did not issue certificate ${i + 1} (the leaf must come first, then its issuers in order)`,
      );
    }
  }
  return { certs, pems };
}

function parseKey(file: string, text: string): { key: KeyObject; pem: string } {
  const blocks = pemBlocks(text).filter((b) => b.label.endsWith('PRIVATE KEY'));
  const block = blocks[0];
  if (block === undefined) throw new CertFileError('tls-key', file, 'no PEM private key');
  if (block.label === 'ENCRYPTED PRIVATE KEY' || /^Proc-Type:.*ENCRYPTED/m.test(block.pem)) {
    throw new CertFileError('tls-key', file, 'the private key is encrypted (passphrases are not supported)');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(block.pem);
  } catch {
    throw new CertFileError('tls-key', file, 'not a readable private key');
  }
  if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ec') {
    throw new CertFileError('tls-key', file, `${key.asymmetricKeyType ?? 'unknown'} keys are not supported (RSA or ECDSA)`);
  }
  return { key, pem: block.pem };
}

const serialOf = (leaf: X509Certificate): string => leaf.serialNumber.toUpperCase().replace(/^0+(?=.)/, '');

/** Checks a pair read by readPair at time `now` and builds its context; throws CertFileError. */
export function parsePair(paths: CertFilePaths, text: PairText, now = Date.now()): FileCertPair {
  const { certs, pems } = parseChain(paths.cert, text.cert);
  const { key, pem: keyPem } = parseKey(paths.key, text.key);
  const leaf = certs[0]!;
  if (!leaf.checkPrivateKey(key)) throw new CertFileError('tls-key', paths.key, `does not match the certificate in ${paths.cert}`);
  const notBefore = Date.parse(leaf.validFrom);
  const notAfter = Date.parse(leaf.validTo);
  if (now >= notAfter) throw new CertFileError('tls-cert', paths.cert, `certificate expired (not after ${leaf.validTo})`);
  if (now < notBefore) throw new CertFileError('tls-cert', paths.cert, `certificate not yet valid (not before ${leaf.validFrom})`);
  const chainPem = pems.join('\n') + '\n';
  try {
    // Built once here so a pair OpenSSL would refuse never reaches the server.
    createSecureContext({ key: keyPem, cert: chainPem, minVersion: TLS_MIN_VERSION });
  } catch {
    // OpenSSL refusing what node:crypto accepted (e.g. a key too weak for its security level).
    throw new CertFileError('tls-key', paths.key, `OpenSSL refused the pair with the certificate in ${paths.cert}`);
  }
  return { chainPem, keyPem: keyPem + '\n', leaf, notBefore, notAfter, serial: serialOf(leaf), identity: text.identity };
}

/** readPair then parsePair: the boot-time load. */
export async function loadPair(paths: CertFilePaths, now = Date.now()): Promise<FileCertPair> {
  return parsePair(paths, await readPair(paths), now);
}
