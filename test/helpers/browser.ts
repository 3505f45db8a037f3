// Debian's chromium driven by playwright-core: a real browser engine for
// tests that check what an operator would see. No browser is ever
// downloaded; a missing one fails the test naming the package.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { need } from './tools.js';

export const CHROMIUM = '/usr/bin/chromium';

export async function withChromium<T>(fn: (ctx: BrowserContext) => Promise<T>): Promise<T> {
  need('/usr/bin/chromium');
  const profile = mkdtempSync(join(tmpdir(), 'tandem-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    return await fn(ctx);
  } finally {
    await ctx.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
  }
}
