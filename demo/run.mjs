// SPDX-License-Identifier: Apache-2.0
// The browser half of the demo: serves demo/ on 127.0.0.1, starts Debian's
// Chromium with the p2pcp extension and the native host on a fresh SoftHSM2
// token (the fixture P-256 key), runs the page's p2pcp flow and prints each
// step. Headless, unless --show is given and there is a display: then the
// window stays open for you to try the page until you press Enter.
//   node demo/run.mjs BUILD_DIR [--show]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserSession, missingPrerequisite } from '../tests/browser/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const build = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : path.join(here, '../out/build/dev');
const missing = missingPrerequisite();
if (missing) {
  console.error(`cannot run the browser demo: ${missing}`);
  process.exit(1);
}
const show = process.argv.includes('--show') && Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
const session = await BrowserSession.start({ build, pageRoots: [here], show });
let failed = 0;
try {
  console.log(`demo page: ${session.origin('a')}/ (the extension asks the agent, the agent asks pinentry)`);
  const page = await session.openPage('a');
  const steps = await page.evaluate(() => window.demoRun());
  for (const step of steps) {
    console.log(`   ${step.ok ? '\x1b[32mok\x1b[0m' : '\x1b[31mFAILED\x1b[0m'} ${step.name}: ${step.detail}`);
    if (!step.ok) failed++;
  }
  const consents = JSON.parse(session.cli(['consents', '--json']).stdout).map((c) => `${c.origin} (${c.access})`);
  console.log(`   sites with access (p2pcp consents): ${consents.join(', ')}`);
  if (show) {
    console.log('The browser stays open; press Enter to stop the demo.');
    await new Promise((resolve) => process.stdin.once('data', resolve));
  }
} finally {
  await session.close();
}
process.exit(failed === 0 ? 0 : 1);
