// SPDX-License-Identifier: Apache-2.0
// The extension as an administrator deploys it, in Debian's Chromium (label
// e2e, as root). scripts/build-extension.sh builds the signed CRX3 and its
// update manifest (with a throwaway key), which the test serves on 127.0.0.1;
// a managed policy force-installs the extension from there
// (ExtensionInstallForcelist) and lets extensions reach only the p2pcp host
// (NativeMessagingBlocklist ["*"], NativeMessagingAllowlist,
// NativeMessagingUserLevelHosts false); `p2pcp install-browser-hosts --system`
// writes the system host manifests from the agent's policy. No
// --load-extension and no person: the page uses window.p2pcp as it loads,
// with access the agent's policy grants. The browser policy and the system
// manifests are written in a private mount namespace (private-mounts.mjs), so
// the machine's /etc and /usr/lib/mozilla stay as they were, which the test checks.
// Last, the XPI runs the same page in Firefox ESR, from a profile.
//   node --test tests/browser/managed.test.mjs   with P2PCP_BUILD=<build dir>
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as scheme from '../independent/p2pcp-scheme.mjs';
import { BrowserSession, missingPrerequisite, serveStatic, sourceDir, DEV_EXTENSION_ID } from './harness.mjs';
import { missingNamespacePrerequisite, PRIVATE_ROOTS } from './private-mounts.mjs';

const FIREFOX = '/usr/bin/firefox-esr';
const build = process.env.P2PCP_BUILD ?? path.join(sourceDir, 'out/build/dev');
const skipBuild = missingPrerequisite() ?? false; // building the extension needs no root
const skip = skipBuild || (missingNamespacePrerequisite() ?? false);
const HOST = 'dev.p2pcp.agent';
const fixture = crypto.createPublicKey(crypto.createPrivateKey(readFileSync(path.join(sourceDir, 'tests/fixtures/p256.pem'))));
const spki = fixture.export({ type: 'spki', format: 'der' });
const projectVersion = readFileSync(path.join(sourceDir, 'CMakeLists.txt'), 'utf8').match(/project\(\S+ VERSION ([0-9.]+)/)[1];

const out = mkdtempSync(path.join(tmpdir(), 'p2pcp-extension-'));
// The throwaway key goes to a private directory under TMPDIR, never into OUTDIR: ours.
const keyTmp = mkdtempSync(path.join(tmpdir(), 'p2pcp-extension-key-'));
let crxServer;
let built; // {status, stderr, chromiumId, firefoxId, base}

before(async () => {
  if (skipBuild) return;
  crxServer = await serveStatic([out]);
  const base = `http://127.0.0.1:${crxServer.address().port}`;
  const r = spawnSync(path.join(sourceDir, 'scripts/build-extension.sh'), ['--base-url', base, out],
    { encoding: 'utf8', env: { ...process.env, TMPDIR: keyTmp } });
  const [chromiumId, firefoxId] = existsSync(path.join(out, 'extension-ids'))
    ? readFileSync(path.join(out, 'extension-ids'), 'utf8').split('\n') : [];
  built = { status: r.status, stdout: r.stdout, stderr: r.stderr, chromiumId, firefoxId, base };
});

after(async () => {
  await new Promise((resolve) => (crxServer ? crxServer.close(resolve) : resolve()));
  rmSync(out, { recursive: true, force: true });
  rmSync(keyTmp, { recursive: true, force: true });
});

// The Chromium id of a key: SHA-256 of its DER public key, 32 hex digits written a-p.
const chromiumIdOf = (keyFile) => crypto.createHash('sha256')
  .update(crypto.createPublicKey(readFileSync(keyFile)).export({ type: 'spki', format: 'der' }))
  .digest('hex').slice(0, 32).replace(/[0-9a-f]/g, (d) => 'abcdefghijklmnop'[parseInt(d, 16)]);

// A file of a zip archive (a CRX3 is a header followed by one): Python's zipfile skips the header.
const fromZip = (archive, name) => execFileSync('python3',
  ['-c', 'import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]).decode())', archive, name],
  { encoding: 'utf8' });

// Every file under the directories the test writes to inside its namespace, with size and time.
function machineState() {
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else files.push(`${file} ${statSync(file, { throwIfNoEntry: false })?.mtimeMs}`);
    }
  };
  // A root the machine does not have must still not exist afterwards.
  PRIVATE_ROOTS.forEach((dir) => (existsSync(dir) ? walk(dir) : files.push(`${dir} absent`)));
  return files.sort();
}

const chromiumPolicy = (allowlist) => ({
  ExtensionInstallForcelist: [`${built.chromiumId};${built.base}/updates.xml`],
  NativeMessagingBlocklist: ['*'],
  NativeMessagingAllowlist: allowlist,
  NativeMessagingUserLevelHosts: false,
});

// A managed browser session; the agent's policy names the signed ids and gives the page's origin full access.
async function managedSession(allowlist, sessionOptions = {}) {
  return BrowserSession.start({
    build,
    managed: { chromiumPolicy: chromiumPolicy(allowlist) },
    policy: (s) => ({ allowedExtensions: [built.chromiumId, built.firefoxId], origins: { fullAccess: [s.origin('a')] } }),
    ...sessionOptions,
  });
}

// Opens the self-running page once Chromium has installed the extension, and waits for its report.
async function runManagedPage(session) {
  const installed = path.join(session.home, 'profile/Default/Extensions', built.chromiumId);
  for (let i = 0; i < 600 && !existsSync(installed); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(existsSync(installed), `Chromium installed the extension from ${built.base}/updates.xml within 60 s`);
  const page = await session.context.newPage();
  await page.goto(`${session.origin('a')}/managed.html`);
  for (let i = 0; i < 600 && session.reports.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  await page.close();
  assert.equal(session.reports.length, 1, 'the page reported');
  return session.reports[0];
}

test('build-extension.sh: a CRX3 signed with the throwaway key, its update manifest, the XPI and the ids', { skip: skipBuild }, () => {
  assert.equal(built.status, 0, built.stderr);
  assert.match(built.stderr, /WARNING: no signing key given/, 'a missing key is said loudly');
  const key = /Generated a THROWAWAY key: (\S+)/.exec(built.stderr)?.[1];
  assert.ok(key && existsSync(key), 'and names the throwaway key');
  assert.ok(!path.resolve(key).startsWith(path.resolve(out) + path.sep), 'the private key is not in the published OUTDIR');
  assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.pem')), [], 'no key file in OUTDIR');
  assert.ok(existsSync(path.join(out, 'SIGNED-WITH-THROWAWAY-KEY')), 'OUTDIR says it was signed with a throwaway key');
  assert.equal(statSync(key).mode & 0o777, 0o600, 'the key is readable by its owner only');
  assert.equal(built.chromiumId, chromiumIdOf(key), 'the Chromium id is the signing key\'s');
  assert.notEqual(built.chromiumId, DEV_EXTENSION_ID);
  assert.equal(built.firefoxId, 'key-agent@p2pcp.dev');

  const crx = readFileSync(path.join(out, 'p2pcp.crx'));
  assert.equal(crx.subarray(0, 4).toString('latin1'), 'Cr24');
  assert.equal(crx.readUInt32LE(4), 3, 'CRX version 3');
  for (const archive of ['p2pcp.crx', 'p2pcp.xpi']) {
    const manifest = JSON.parse(fromZip(path.join(out, archive), 'manifest.json'));
    assert.equal(manifest.key, undefined, `${archive} does not carry the development key`);
    assert.equal(manifest.version, projectVersion, `${archive} has the project version`);
    assert.equal(manifest.browser_specific_settings.gecko.id, built.firefoxId);
    assert.equal(fromZip(path.join(out, archive), 'background.js'),
      readFileSync(path.join(sourceDir, 'browser-extension/background.js'), 'utf8'));
  }
  const updates = readFileSync(path.join(out, 'updates.xml'), 'utf8');
  assert.match(updates, new RegExp(`<app appid='${built.chromiumId}'>`));
  assert.match(updates, new RegExp(`codebase='${built.base}/p2pcp.crx' version='${projectVersion}'`));
});

test('a force-installed extension serves a page with no action by the person', { skip }, async () => {
  const machineBefore = machineState();
  const session = await managedSession([HOST], {
    // A per-user manifest for a host that does not exist: the policy makes Chromium ignore it.
    beforeLaunch: (s) => {
      mkdirSync(path.join(s.home, 'profile/NativeMessagingHosts'), { recursive: true });
      writeFileSync(path.join(s.home, 'profile/NativeMessagingHosts', `${HOST}.json`), JSON.stringify({
        name: HOST, description: 'decoy', path: '/nonexistent/p2pcp-native-host', type: 'stdio',
        allowed_origins: [`chrome-extension://${built.chromiumId}/`],
      }));
    },
  });
  try {
    session.setConsent('no'); // a consent dialog would be refused: access comes from the agent's policy alone
    const written = JSON.parse(session.hostInstall).map((entry) => entry.manifest).sort();
    assert.deepEqual(written, [
      '/etc/chromium/native-messaging-hosts/dev.p2pcp.agent.json',
      '/etc/opt/brave/native-messaging-hosts/dev.p2pcp.agent.json',
      '/etc/opt/chrome/native-messaging-hosts/dev.p2pcp.agent.json',
      '/etc/opt/edge/native-messaging-hosts/dev.p2pcp.agent.json',
      '/usr/lib/mozilla/native-messaging-hosts/dev.p2pcp.agent.json',
    ]);
    const manifest = (file) => JSON.parse(readFileSync(session.mounts.inside(file), 'utf8'));
    const chromiumManifest = manifest('/etc/chromium/native-messaging-hosts/dev.p2pcp.agent.json');
    assert.deepEqual(chromiumManifest.allowed_origins, [`chrome-extension://${built.chromiumId}/`],
      'the signed id from the policy, not the development id');
    assert.equal(chromiumManifest.path, path.resolve(build, 'bin/p2pcp-native-host'));
    assert.deepEqual(manifest('/usr/lib/mozilla/native-messaging-hosts/dev.p2pcp.agent.json').allowed_extensions,
      [built.firefoxId]);

    const report = await runManagedPage(session);
    assert.equal(report.origin, session.origin('a'));
    assert.equal(report.hello.error, undefined, JSON.stringify(report));
    assert.equal(report.hello.result.access, 'full', 'full access from the policy, before any request');
    assert.equal(report.identity.result?.spki, spki.toString('hex'), JSON.stringify(report.identity));
    assert.equal(report.publicStorageKey.result, scheme.publicStorageKey(spki, '/profile').toString('hex'));
    assert.deepEqual(report.checks, { storageKey: true, fingerprint: true }, 'the page checked the results itself');
    assert.deepEqual(session.pinentryLog().filter((l) => l.cmd === 'SETDESC'), [], 'no dialog was shown');
  } finally {
    await session.close();
  }
  assert.deepEqual(machineState(), machineBefore, 'the machine\'s own directories are unchanged');
  assert.ok(!existsSync('/etc/chromium/policies/managed/p2pcp.json'));
});

test('a host the browser policy blocks: the page gets HOST_BLOCKED_BY_POLICY, which says so', { skip }, async () => {
  const session = await managedSession(['com.example.other']);
  try {
    const report = await runManagedPage(session);
    assert.equal(report.hello.error?.code, 'HOST_BLOCKED_BY_POLICY', JSON.stringify(report));
    assert.match(report.hello.error.message, /NativeMessagingAllowlist/);
    assert.equal(session.agentPid(), null, 'no host ran, so no agent was started');
  } finally {
    await session.close();
  }
});

test('a system manifest that does not list the extension: the page gets HOST_FORBIDDEN', { skip }, async () => {
  const session = await managedSession([HOST], { manifestIds: [DEV_EXTENSION_ID] });
  try {
    const report = await runManagedPage(session);
    assert.equal(report.hello.error?.code, 'HOST_FORBIDDEN', JSON.stringify(report));
    assert.match(report.hello.error.message, /allowed_origins/);
    assert.equal(session.agentPid(), null, 'no host ran, so no agent was started');
  } finally {
    await session.close();
  }
});

// Runs pages/managed.html in headless Firefox ESR with the XPI in a fresh profile, as an
// administrator's sideload (unsigned, which Firefox ESR allows with xpinstall.signatures.required
// false); returns the page's report and what Firefox recorded about the add-on.
async function runInFirefox(session) {
  const profile = path.join(session.home, 'firefox');
  mkdirSync(path.join(profile, 'extensions'), { recursive: true });
  writeFileSync(path.join(profile, 'extensions', `${built.firefoxId}.xpi`), readFileSync(path.join(out, 'p2pcp.xpi')));
  writeFileSync(path.join(profile, 'user.js'), [
    ['xpinstall.signatures.required', false], ['extensions.autoDisableScopes', 0], ['extensions.enabledScopes', 15],
    ['browser.shell.checkDefaultBrowser', false], ['datareporting.policy.dataSubmissionEnabled', false],
    ['browser.aboutwelcome.enabled', false], ['app.update.enabled', false],
  ].map(([name, value]) => `user_pref(${JSON.stringify(name)}, ${JSON.stringify(value)});\n`).join(''));
  const firefox = spawn(FIREFOX, ['--headless', '--no-remote', '--profile', profile, `${session.origin('a')}/managed.html`],
    { env: session.env, stdio: 'ignore', detached: true });
  try {
    for (let i = 0; i < 1200 && session.reports.length === 0 && firefox.exitCode === null; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(session.reports.length, 1, 'the page reported');
    const addons = JSON.parse(readFileSync(path.join(profile, 'extensions.json'), 'utf8')).addons;
    return { report: session.reports[0], addon: addons.find((a) => a.id === built.firefoxId) };
  } finally {
    try { process.kill(-firefox.pid, 'SIGTERM'); } catch { /* already gone */ }
    await new Promise((resolve) => (firefox.exitCode !== null ? resolve() : firefox.once('exit', resolve)));
  }
}

const skipFirefox = skip || (!existsSync(FIREFOX) && `${FIREFOX} is not installed`);

test('the XPI loads in Firefox ESR from a profile and serves the page', { skip: skipFirefox }, async () => {
  // Per-user host manifests, in the session's HOME.
  const session = await managedSession(null, { browser: 'none', managed: null });
  try {
    const { report, addon } = await runInFirefox(session);
    assert.equal(report.hello.result?.access, 'full', JSON.stringify(report));
    assert.equal(report.publicStorageKey.result, scheme.publicStorageKey(spki, '/profile').toString('hex'));
    assert.deepEqual(report.checks, { storageKey: true, fingerprint: true });
    assert.equal(addon?.version, projectVersion, 'the add-on Firefox runs is the XPI\'s');
  } finally {
    await session.close();
  }
});

test('Firefox: a host manifest that does not list the add-on gives HOST_NOT_FOUND, naming both causes', { skip: skipFirefox }, async () => {
  const session = await managedSession(null, { browser: 'none', managed: null, manifestIds: ['other@example.org'] });
  try {
    const { report } = await runInFirefox(session);
    assert.equal(report.hello.error?.code, 'HOST_NOT_FOUND', JSON.stringify(report));
    assert.match(report.hello.error.message, /lists this add-on in allowed_extensions/);
    assert.equal(session.agentPid(), null, 'no host ran, so no agent was started');
  } finally {
    await session.close();
  }
});
