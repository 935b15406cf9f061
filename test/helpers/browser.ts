// Debian's Chromium driven by playwright-core, for the tests that look at a page
// the way an operator does (the status page).
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { findBinary, ROOT } from './deploy.js';

/** Screenshots and other artefacts a person may want to look at (gitignored). */
export const OUTPUT = join(ROOT, 'test-output');

/**
 * Headless, nothing phoning home. playwright-core's launch() gives the browser a
 * fresh temporary profile (--user-data-dir) and deletes it on close.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: findBinary('chromium', 'apt-get install -y chromium'),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
