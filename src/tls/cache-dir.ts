// Certificate cache directory rules (operations.md §8): create it 0700 when
// missing; tighten our own directory to 0700 when group/other bits are set (and
// say so); refuse a directory someone else owns that others can reach, or a
// path that is not a directory. A refusal is a CacheDirError, which the CLI
// turns into exit 1 before any listener opens.
import { chmod, mkdir, stat } from 'node:fs/promises';
import type { Logger } from '../ops/logger.js';

export class CacheDirError extends Error {
  constructor(
    message: string,
    readonly dir: string,
  ) {
    super(message);
    this.name = 'CacheDirError';
  }
}

const octal = (mode: number): string => `0${(mode & 0o777).toString(8)}`;

/** The effective uid, or undefined where the platform has none (Windows). */
function ownUid(): number | undefined {
  return typeof process.geteuid === 'function' ? process.geteuid() : undefined;
}

export async function prepareCacheDir(dir: string, logger: Logger): Promise<void> {
  let st;
  try {
    st = await stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new CacheDirError(`cannot inspect the certificate cache: ${(err as Error).message}`, dir);
    }
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chmod(dir, 0o700); // mkdir's mode is filtered by the umask; make it exact
    } catch (mkErr) {
      throw new CacheDirError(`cannot create the certificate cache: ${(mkErr as Error).message}`, dir);
    }
    logger.info('cert_cache_created', { dir, to: '0700' });
    return;
  }
  if (!st.isDirectory()) throw new CacheDirError('the certificate cache path exists but is not a directory', dir);
  if ((st.mode & 0o077) === 0) return;
  const uid = ownUid();
  if (uid !== undefined && st.uid !== uid) {
    throw new CacheDirError(
      `the certificate cache belongs to uid ${st.uid}, not this process (uid ${uid}), and is accessible to group/others (mode ${octal(st.mode)})`,
      dir,
    );
  }
  try {
    await chmod(dir, 0o700);
  } catch (err) {
    throw new CacheDirError(`cannot tighten the certificate cache to 0700: ${(err as Error).message}`, dir);
  }
  logger.warn('cert_cache_tightened', { dir, from: octal(st.mode), to: '0700' });
}
