// One ACME HTTP-01 issuance for one domain, driven step by step with
// acme-client so the failure can be reported with the ACME problem type
// (urn:ietf:params:acme:error:…), which acme-client's own error messages drop.
// The challenge responses are published in a ChallengeStore that the HTTP-01
// listener reads; nothing here touches the network except the ACME directory.
import acme from 'acme-client';
import { newEcKeyPem, toPkcs8 } from './cert-store.js';
import type { ChallengeStore } from './challenges.js';

export class AcmeError extends Error {
  constructor(
    message: string,
    /** The last ACME problem type seen during the attempt, if any. */
    readonly problemType: string | undefined,
  ) {
    super(message);
    this.name = 'AcmeError';
  }
}

export interface IssueOptions {
  directoryUrl: string;
  domain: string;
  /** Account key PEM (any private key form). */
  accountKeyPem: string;
  challenges: ChallengeStore;
  /** Polling backoff for pending challenges and orders. */
  pollMinMs?: number;
  pollMaxMs?: number;
}

export interface Issued {
  keyPem: string;
  chainPem: string;
}

// acme-client shares one axios instance per process; this interceptor notes the
// problem type of every ACME response (error documents and failed challenges)
// so a failed attempt can name it. Issuance is serial (one domain per process),
// so a single slot is enough.
let lastProblem: string | undefined;
let intercepting = false;
const PROBLEM_PREFIX = 'urn:ietf:params:acme:error:';

function noteProblem(data: unknown): void {
  if (typeof data !== 'object' || data === null) return;
  const d = data as { type?: unknown; error?: { type?: unknown }; challenges?: Array<{ error?: { type?: unknown } }> };
  const candidates = [d.type, d.error?.type, ...(Array.isArray(d.challenges) ? d.challenges.map((c) => c?.error?.type) : [])];
  for (const t of candidates) {
    // badNonce is retried inside acme-client and says nothing about the outcome.
    if (typeof t === 'string' && t.startsWith(PROBLEM_PREFIX) && t !== `${PROBLEM_PREFIX}badNonce`) lastProblem = t;
  }
}

function intercept(): void {
  if (intercepting) return;
  intercepting = true;
  acme.axios.interceptors.response.use((resp) => {
    noteProblem(resp.data);
    return resp;
  });
}

export async function issueCertificate(opts: IssueOptions): Promise<Issued> {
  intercept();
  lastProblem = undefined;
  const published: string[] = [];
  try {
    const client = new acme.Client({
      directoryUrl: opts.directoryUrl,
      accountKey: toPkcs8(opts.accountKeyPem),
      backoffAttempts: 12,
      backoffMin: opts.pollMinMs ?? 250,
      backoffMax: opts.pollMaxMs ?? 10_000,
    });
    // Look the account up first: re-registering an existing key makes acme-client
    // send an empty account update, which strict CAs reject as malformed.
    try {
      await client.createAccount({ onlyReturnExisting: true });
    } catch {
      await client.createAccount({ termsOfServiceAgreed: true });
    }
    lastProblem = undefined; // accountDoesNotExist on a first start is expected
    const order = await client.createOrder({ identifiers: [{ type: 'dns', value: opts.domain }] });
    for (const authz of await client.getAuthorizations(order)) {
      if (authz.status === 'valid') continue; // reused authorization
      const challenge = authz.challenges.find((c) => c.type === 'http-01');
      if (challenge === undefined) throw new AcmeError('the CA offered no http-01 challenge', lastProblem);
      const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
      await opts.challenges.put(challenge.token, keyAuthorization);
      published.push(challenge.token);
      await client.completeChallenge(challenge);
      await client.waitForValidStatus(challenge);
    }
    const keyPem = newEcKeyPem();
    const [, csr] = await acme.crypto.createCsr({ commonName: opts.domain, altNames: [opts.domain] }, toPkcs8(keyPem));
    const finalized = await client.finalizeOrder(order, csr);
    const chainPem = await client.getCertificate(finalized);
    return { keyPem, chainPem };
  } catch (err) {
    if (err instanceof AcmeError) throw err;
    throw new AcmeError(err instanceof Error ? err.message : String(err), lastProblem);
  } finally {
    // Best effort: a shared store also expires its tokens on its own.
    await Promise.all(published.map((token) => opts.challenges.remove(token).catch(() => undefined)));
  }
}
