#!/usr/bin/env node
/**
 * `npm start`: the whole SIPIS stack on loopback, for a first look (DESIGN.md "Processes"):
 *
 *   PostgreSQL (embedded throw-away cluster, or SIPIS_DB_URL) ◀── sipis (UDP) ◀── sipis-bridge
 *   (TCP, TLS, WebSocket) ◀── phones;  sipis ──▶ sipis-mediator ──▶ mock APNs / mock FCM;
 *   and a provider to register the accounts at (Kamailio with fixtures/kamailio/provider.cfg,
 *   when kamailio is installed).
 *
 * Everything runs in this one process except PostgreSQL and Kamailio (children). It prints the
 * addresses and the commands that add a demo account, register a phone and call it, then runs
 * until SIGINT/SIGTERM and removes what it created (temp folders, the cluster). `startStack`
 * is also what `npm run demo` (tools/demo.ts) builds on.
 *
 * Ports: the usual ones when free (SIP 5060, TLS 5061, admin 8088 …), else free ones;
 * `--any-ports` takes free ones only.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino, { type Logger } from 'pino';
import { startBridge, type RunningBridge } from '../bridge/bridge.js';
import { defaultConfig as bridgeDefaults } from '../bridge/config.js';
import { startSipis, type SipisServer } from '../core/server/app.js';
import { loadConfig } from '../core/server/config.js';
import { formatKeyEntry, generateKey } from '../core/store/index.js';
import { DEFAULTS as MEDIATOR_DEFAULTS } from '../mediator/config.js';
import { startMediator, type Mediator } from '../mediator/mediator.js';
import { startProvider, type Provider } from '../fixtures/e2e/provider.js';
import { hasKamailio } from '../fixtures/kamailio.js';
import { fixturePath, repoRoot } from '../fixtures/paths.js';
import { startPostgres, type PostgresCluster } from '../fixtures/postgres.js';
import { API_KEY, APNS_TOKEN_APP, TEAM_ID, apnsToken, makePushEnv, type PushEnv } from '../fixtures/push/env.js';
import { writeTestCerts, type TestCertFiles } from '../fixtures/tls/certs.js';
import { PortPicker } from './demo/ports.js';

/** The account the printed commands (and the demo) use; the provider knows its password. */
export const DEMO = { user: 'alice', password: 'alice-secret', aor: 'sip:alice@provider.test', providerDomain: 'provider.test' } as const;
/** A second user the provider knows, for trying things by hand. */
const OTHER = { user: 'bob', password: 'bob-secret' } as const;

export interface StackOptions {
  env?: NodeJS.ProcessEnv;
  /** free ports only, never the usual ones (tests). */
  anyPorts?: boolean;
  /** start Kamailio as the provider (default: when kamailio is installed). */
  provider?: boolean;
  /** where the components log (default: pino on stderr at SIPIS_LOG_LEVEL, else warn). */
  log?: Logger;
  /** more sipis flags, after the stack's own (the demo: `--reachable-window 0`). */
  sipisArgs?: string[];
  /** print the banner on stdout (default true). */
  print?: boolean;
}

export interface HostPort {
  host: string;
  port: number;
}

export interface StackAddresses {
  sip: HostPort;
  bridge: { tcp: HostPort; tls: HostPort; ws: HostPort; udp: HostPort };
  admin: { sipis: string; bridge: string; mediator: string };
  mediator: string;
  apns: string;
  fcm: string;
  provider: HostPort | undefined;
}

export interface Stack {
  addresses: StackAddresses;
  databaseUrl: string;
  keyFile: string;
  domain: string;
  /** sipis with its registrar, push client and tunnel (`sipis.devices`). */
  sipis: SipisServer;
  bridge: RunningBridge;
  mediator: Mediator;
  pushEnv: PushEnv;
  provider: Provider | undefined;
  pg: PostgresCluster | undefined;
  certs: TestCertFiles;
  /** every folder the stack made (removed by stop()). */
  tempDirs: string[];
  banner: string;
  stop(): Promise<void>;
}

const hp = (a: HostPort): string => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

/** Runs the clean-ups registered so far, newest first, each at most once, errors collected. */
class Teardown {
  private readonly steps: Array<{ what: string; fn: () => Promise<void> | void }> = [];
  add(what: string, fn: () => Promise<void> | void): void {
    this.steps.push({ what, fn });
  }
  async run(log?: Logger): Promise<void> {
    for (let s = this.steps.pop(); s; s = this.steps.pop()) {
      try {
        await s.fn();
      } catch (err) {
        log?.warn({ err: (err as Error).message, step: s.what }, 'clean-up step failed');
      }
    }
  }
}

async function waitHealthy(url: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return true;
    } catch {
      // not yet
    }
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? pino({ level: env.SIPIS_LOG_LEVEL || 'warn', base: { name: 'sipis-stack' } }, pino.destination(2));
  const ports = new PortPicker(opts.anyPorts ?? false);
  const down = new Teardown();
  const tempDirs: string[] = [];
  try {
    const dir = mkdtempSync(join(tmpdir(), 'sipis-stack-'));
    tempDirs.push(dir);
    down.add('stack folder', () => rmSync(dir, { recursive: true, force: true }));

    // PostgreSQL, the push mocks and the certificates are independent: start them together.
    const external = env.SIPIS_DB_URL || env.DATABASE_URL || undefined;
    const [pg, pushEnv, certs] = await Promise.all([external ? Promise.resolve(undefined) : startPostgres(), makePushEnv(), Promise.resolve(writeTestCerts())]);
    if (pg) {
      tempDirs.push(pg.dataDir.replace(/\/[^/]+$/, ''));
      down.add('postgres', () => pg.stop());
    }
    tempDirs.push(pushEnv.dir, certs.dir);
    down.add('push mocks', () => pushEnv.cleanup());
    down.add('certificates', () => certs.remove());
    const databaseUrl = external ?? (await pg!.createDatabase('sipis'));

    const keyFile = join(dir, 'sipis.key');
    writeFileSync(keyFile, (env.SIPIS_SECRET_KEY || formatKeyEntry('local', generateKey())) + '\n', { mode: 0o600 });

    const sipPort = await ports.pick('udp', 5060);
    const domain = env.SIPIS_DOMAIN || 'sipis.localhost';

    const mediatorPort = await ports.pick('tcp', 8090);
    const mediator = await startMediator({ ...MEDIATOR_DEFAULTS, host: '127.0.0.1', port: mediatorPort, apiKeys: [API_KEY], appsFile: pushEnv.appsFile, logLevel: log.level as 'warn', deadlineMs: 3000 }, log.child({ service: 'sipis-mediator' }));
    down.add('mediator', () => mediator.shutdown(0));
    const mediatorUrl = `http://127.0.0.1:${mediator.port}`;

    const bcfg = bridgeDefaults();
    bcfg.listen = {
      tcp: { host: '127.0.0.1', port: await ports.pick('tcp', 5060) },
      tls: { host: '127.0.0.1', port: await ports.pick('tcp', 5061) },
      ws: { host: '127.0.0.1', port: await ports.pick('tcp', 5066) },
    };
    bcfg.tls = { certFile: certs.cert, keyFile: certs.key, verifyClient: false };
    bcfg.backends = [{ host: '127.0.0.1', port: sipPort, weight: 1, id: `127.0.0.1:${sipPort}` }];
    bcfg.admin = { host: '127.0.0.1', port: await ports.pick('tcp', 8089) };
    bcfg.probe = { intervalMs: 1000, failures: 3, successes: 1 };
    bcfg.logLevel = log.level;
    const bridge = await startBridge(bcfg, log.child({ service: 'sipis-bridge' }));
    down.add('bridge', () => bridge.close());
    const bridgeUdp = bridge.addresses.udp!;

    const digestSecret = env.SIPIS_DIGEST_SECRET || randomBytes(24).toString('base64url');
    const args = [
      '--listen', `127.0.0.1:${sipPort}`,
      '--admin-host', '127.0.0.1',
      '--admin-port', String(await ports.pick('tcp', 8088)),
      '--db-url', databaseUrl,
      '--secret-key-file', keyFile,
      '--domain', domain,
      // one argument: a secret may begin with '--' (base64url does, 1 in 4096), which a separate
      // argument would read as a missing value
      `--digest-secret=${digestSecret}`,
      // sipp answers only the first challenge, and only with MD5 (core/registrar notes)
      '--digest-algorithms', 'MD5,SHA-256',
      '--bridges', `${bridgeUdp.host}:${bridgeUdp.port}`,
      '--mediator-url', mediatorUrl,
      '--mediator-api-key', API_KEY,
      ...(opts.sipisArgs ?? []),
    ];
    // the stack's own values win over a developer's SIPIS_* environment for what it wires itself
    const cfg = loadConfig(args, { ...env, SIPIS_SECRET_KEY: '', SIPIS_DB_URL: '', DATABASE_URL: '', SIPIS_MEDIATOR_API_KEY_FILE: '', SIPIS_DIGEST_SECRET_FILE: '' });
    const sipis = await startSipis(cfg, { log: log.child({ service: 'sipis' }) });
    down.add('sipis', () => sipis.close());

    let provider: Provider | undefined;
    if (opts.provider ?? hasKamailio()) {
      const providerPort = await ports.pick('sip', 5070);
      const pstnPort = await ports.pick('sip', 5080);
      provider = await startProvider({ users: [DEMO, OTHER].map((u) => ({ username: u.user, password: u.password })), domain: DEMO.providerDomain, pstnHop: `sip:127.0.0.1:${pstnPort}`, port: providerPort });
      down.add('provider', () => provider!.stop());
    }

    const sipisAdmin = sipis.adminAddress ? `http://127.0.0.1:${sipis.adminAddress.port}` : '';
    const bridgeAdmin = `http://127.0.0.1:${bridge.addresses.admin!.port}`;
    // the bridge reports healthy once its first probe reached sipis: wait for it, so every
    // printed address answers when the banner appears
    if (!(await waitHealthy(`${bridgeAdmin}/healthz`, 5000))) log.warn('the bridge does not see sipis yet');

    const addresses: StackAddresses = {
      sip: { host: '127.0.0.1', port: sipis.transport.endpoints[0]!.port },
      bridge: { tcp: bridge.addresses.tcp!, tls: bridge.addresses.tls!, ws: bridge.addresses.ws!, udp: bridgeUdp },
      admin: { sipis: sipisAdmin, bridge: bridgeAdmin, mediator: mediatorUrl },
      mediator: mediatorUrl,
      apns: pushEnv.apns.url,
      fcm: pushEnv.fcm.url,
      provider: provider ? { host: '127.0.0.1', port: provider.port } : undefined,
    };
    const banner = bannerText({ addresses, databaseUrl, keyFile, domain, embedded: pg !== undefined, tempDirs });
    if (opts.print ?? true) process.stdout.write(banner + '\n');

    let stopping: Promise<void> | undefined;
    return {
      addresses,
      databaseUrl,
      keyFile,
      domain,
      sipis,
      bridge,
      mediator,
      pushEnv,
      provider,
      pg,
      certs,
      tempDirs,
      banner,
      stop: () => (stopping ??= down.run(log)),
    };
  } catch (err) {
    await down.run(log);
    throw err;
  }
}

function bannerText(s: { addresses: StackAddresses; databaseUrl: string; keyFile: string; domain: string; embedded: boolean; tempDirs: string[] }): string {
  const a = s.addresses;
  const ctl = `node ${join(repoRoot, 'dist', 'tools', 'sipis-ctl.js')}`;
  const registrarUri = a.provider ? `sip:${hp(a.provider)}` : 'sip:provider.example';
  const token = apnsToken();
  const pn = `;pn-provider=apns;pn-prid=${token}:voip;pn-param=${TEAM_ID}.${APNS_TOKEN_APP}.voip`;
  const phone = `sipp -sf ${fixturePath('sipp', 'demo-phone.xml')} -t t1 -m 1 -s ${DEMO.user} -au ${DEMO.user} -ap ${DEMO.password} -key instance ${randomUUID()} -key pn '${pn}' -d 1000 ${hp(a.bridge.tcp)}`;
  const lines = [
    '',
    'SIPIS local stack',
    `  sipis SIP (UDP)      ${hp(a.sip)}   domain ${s.domain}`,
    `  bridge TCP           ${hp(a.bridge.tcp)}`,
    `  bridge TLS           ${hp(a.bridge.tls)}   (test CA, certificate for 127.0.0.1 / localhost)`,
    `  bridge WebSocket     ws://${hp(a.bridge.ws)}`,
    `  sipis admin          ${a.admin.sipis ? `${a.admin.sipis}/healthz  /metrics  /status  /stats  /about` : '(off)'}`,
    `  bridge admin         ${a.admin.bridge}/healthz  ${a.admin.bridge}/metrics`,
    `  mediator             ${a.admin.mediator}/healthz  ${a.admin.mediator}/metrics  (API key ${API_KEY})`,
    `  mock APNs / FCM      ${a.apns}  ${a.fcm}`,
    `  provider             ${a.provider ? `Kamailio at ${hp(a.provider)}, domain ${DEMO.providerDomain}, users ${DEMO.user}/${DEMO.password}, ${OTHER.user}/${OTHER.password}` : '(none: kamailio is not installed)'}`,
    `  database             ${s.embedded ? `${s.databaseUrl}  (embedded, removed on exit)` : 'from SIPIS_DB_URL / DATABASE_URL'}`,
    `  temp folders         ${s.tempDirs.join(' ')}`,
    '',
    'Add the demo account (sipis registers it at the provider within a second):',
    `  export SIPIS_DB_URL='${s.databaseUrl}' SIPIS_SECRET_KEY_FILE='${s.keyFile}'`,
    `  ${ctl} account add ${DEMO.aor} --password ${DEMO.password} --registrar ${registrarUri} --expires 300`,
    `  ${ctl} status`,
    '',
    'Register a phone (sipp through the bridge over TCP, RFC 8599 push parameters, then it sleeps):',
    `  ${phone}`,
    '',
    a.provider ? 'Call it (sipp as the caller, through the provider; sipis pushes to the mock APNs):' : 'Call it (needs a provider):',
    `  sipp -sf ${fixturePath('sipp', 'demo-caller.xml')} -m 1 -s ${DEMO.user} -d 1000 ${a.provider ? hp(a.provider) : '<provider>'}`,
    '  … and wake the phone within 2 minutes to answer: the phone command above with',
    `  -oocsf ${fixturePath('sipp', 'demo-phone-answer.xml')} -d 8000`,
    '',
    'Or watch the whole story: npm run demo.   Ctrl-C stops the stack and removes everything.',
    '',
  ];
  return lines.join('\n');
}

const USAGE = `usage: node dist/tools/stack.js [--any-ports] [--no-provider]

Runs the SIPIS stack on loopback until Ctrl-C: embedded PostgreSQL (unless SIPIS_DB_URL),
mock APNs/FCM, sipis-mediator, sipis, sipis-bridge (TCP, TLS, WebSocket), and Kamailio as
the provider when installed. Prints the addresses and the commands to try it.

  --any-ports     free ports only (default: 5060, 5061, 8088 … when free)
  --no-provider   no Kamailio
  --help          this text

environment: SIPIS_DB_URL, SIPIS_LOG_LEVEL (default warn, logs on stderr), SIPIS_DOMAIN`;

async function main(argv: string[]): Promise<number> {
  const opts: StackOptions = {};
  for (const a of argv) {
    if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE + '\n');
      return 0;
    } else if (a === '--any-ports') opts.anyPorts = true;
    else if (a === '--no-provider') opts.provider = false;
    else {
      process.stderr.write(`unknown option ${JSON.stringify(a)}\n${USAGE}\n`);
      return 2;
    }
  }
  // listening before the start: a Ctrl-C while PostgreSQL starts must still clean up after it
  const signalled = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  let stack: Stack;
  try {
    stack = await startStack(opts);
  } catch (err) {
    process.stderr.write(`the stack did not start: ${(err as Error).message}\n`);
    return 1;
  }
  await signalled;
  // a second signal while cleaning up: give up at once
  const force = () => process.exit(1);
  process.once('SIGINT', force);
  process.once('SIGTERM', force);
  process.stdout.write('stopping…\n');
  await stack.stop();
  process.stdout.write('stopped, temp folders removed\n');
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
  // pg-native pools, HTTP/2 sessions: nothing must keep a stopped stack alive
  setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
}
