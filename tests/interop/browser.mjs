// Debian's Chromium, headless, driven by playwright-core. Never downloads a browser:
// the executable is /usr/bin/chromium (or $CHROMIUM). The flags keep Chromium from
// reaching out to the network (this machine has none but loopback) and give each
// launch a fresh, empty profile that is removed afterwards.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Returns { context, page, close() }.
export async function launchBrowser({ viewport = { width: 1280, height: 800 } } = {}) {
  if (!existsSync(chromiumPath)) {
    throw new Error(`Chromium not found at ${chromiumPath} (scripts/test installs Debian's chromium)`);
  }
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'lastmile-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumArgs,
      viewport,
      timeout: 60_000,
    });
  } catch (e) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw e;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      try {
        await context.close();
      } finally {
        rmSync(userDataDir, { recursive: true, force: true });
      }
    },
  };
}
