// Keeps certificate-file mode's pair current. It watches the directories that
// hold --tls-cert and --tls-key — a directory watch sees the renames and
// symlink swaps that certbot and Kubernetes secret mounts use, which a watch on
// the file itself loses — debounces the events, and reloads on SIGHUP (the CLI
// calls reload()). A changed pair that passes parsePair is installed for new
// handshakes; a bad one leaves the old pair serving and logs
// tls_cert_reload_failed. Reloads run one at a time.
import { watch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Logger } from '../ops/logger.js';
import { errText } from '../ops/logger.js';
import { CertFileError, parsePair, readPair, type CertFilePaths, type FileCertPair } from './file-certs.js';

export type ReloadTrigger = 'watch' | 'SIGHUP';
export type ReloadOutcome = 'installed' | 'unchanged' | 'failed';

export interface ReloaderOptions {
  paths: CertFilePaths;
  /** The pair loaded at boot, already serving. */
  initial: FileCertPair;
  /** Puts a checked pair in service for new handshakes. */
  install: (pair: FileCertPair) => void;
  logger: Logger;
  /** Quiet time after the last file event before reloading (a renewal writes two files). */
  debounceMs?: number;
}

export const RELOAD_DEBOUNCE_MS = 1000;

export class CertFileReloader {
  private current: FileCertPair;
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** What the last failed watch-triggered attempt read, so an unchanged bad pair is logged once. */
  private lastFailure: string | undefined;
  private stopped = false;

  constructor(private readonly opts: ReloaderOptions) {
    this.current = opts.initial;
  }

  /** The pair serving new handshakes. */
  get pair(): FileCertPair {
    return this.current;
  }

  /** Starts watching both files' directories. A directory that cannot be watched leaves SIGHUP. */
  start(): void {
    const { paths, logger } = this.opts;
    for (const dir of new Set([dirname(resolve(paths.cert)), dirname(resolve(paths.key))])) {
      try {
        const w = watch(dir, { persistent: false }, () => this.schedule());
        w.on('error', (err) => logger.warn('tls_watch_failed', { dir, err: errText(err) }));
        this.watchers.push(w);
      } catch (err) {
        logger.warn('tls_watch_failed', { dir, err: errText(err) });
      }
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
  }

  /** Reads and checks both files now; installs the pair if it changed and is good. */
  reload(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const run = this.queue.then(() => this.attempt(trigger));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload('watch'), this.opts.debounceMs ?? RELOAD_DEBOUNCE_MS);
    this.timer.unref();
  }

  private async attempt(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    if (this.stopped) return 'unchanged';
    const { paths, logger } = this.opts;
    const signal = trigger === 'SIGHUP' ? 'SIGHUP' : undefined;
    let next: FileCertPair;
    let seen: string | undefined;
    try {
      const text = await readPair(paths);
      seen = text.identity;
      if (text.identity === this.current.identity) {
        this.lastFailure = undefined;
        if (signal !== undefined) logger.info('tls_cert_unchanged', { signal, serial: this.current.serial });
        return 'unchanged';
      }
      if (signal === undefined && text.identity === this.lastFailure) return 'failed';
      next = parsePair(paths, text);
      this.opts.install(next);
    } catch (err) {
      const failure = err instanceof CertFileError ? { flag: err.flag, file: err.file, reason: err.reason } : { err: errText(err) };
      // An unreadable file has no identity; its reason stands in for one.
      const key = seen ?? (err instanceof CertFileError ? `${err.file}:${err.reason}` : 'error');
      if (signal !== undefined || key !== this.lastFailure) {
        logger.error('tls_cert_reload_failed', { ...failure, signal, serial: this.current.serial });
      }
      this.lastFailure = key;
      return 'failed';
    }
    this.current = next;
    this.lastFailure = undefined;
    logger.info('tls_cert_reloaded', { signal, serial: next.serial, to: next.leaf.validTo });
    return 'installed';
  }
}
