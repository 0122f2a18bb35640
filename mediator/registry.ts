/**
 * The app registry: a JSON file mapping each app id to its platform and credentials.
 * Loaded whole and validated before use, so a broken file (at start-up or on SIGHUP) is
 * refused with an error naming the field, and the running registry stays as it was.
 * Relative file names are resolved against the registry file's folder. Secrets (keys,
 * passphrases, service-account private keys) are held as KeyObjects/PEM and never logged.
 */
import { createPrivateKey, createHash, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadP12, loadP8Key } from './apns-auth.js';
import { MediatorError } from './errors.js';

export const APNS_PRODUCTION = 'https://api.push.apple.com';
export const APNS_SANDBOX = 'https://api.sandbox.push.apple.com';
export const FCM_ENDPOINT = 'https://fcm.googleapis.com';

export type ApnsAuth =
  | { type: 'token'; teamId: string; keyId: string; key: KeyObject }
  | { type: 'certificate'; certPem: string; keyPem: string; subject: string };

interface AppCommon {
  appId: string;
  /** Trusted CA for the endpoint (tests and private mirrors); system CAs otherwise. */
  ca?: Buffer;
  connections: number;
  /** Digest of the app's config and the files it names: unchanged apps keep their connections on reload. */
  fingerprint: string;
}

export interface ApnsApp extends AppCommon {
  platform: 'apns';
  bundleId: string;
  endpoint: string;
  auth: ApnsAuth;
}

export interface ServiceAccount {
  projectId: string;
  clientEmail: string;
  privateKey: KeyObject;
  tokenUri: string;
}

export interface FcmApp extends AppCommon {
  platform: 'fcm';
  projectId: string;
  endpoint: string;
  serviceAccount: ServiceAccount;
}

export type AppConfig = ApnsApp | FcmApp;

export interface Registry {
  file: string;
  apps: ReadonlyMap<string, AppConfig>;
}

const err = (field: string, message: string, cause?: unknown) =>
  new MediatorError('ERR_MEDIATOR_REGISTRY', `${field}: ${message}`, { field, cause });

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Reader {
  readonly hash = createHash('sha256');
  constructor(readonly base: string) {}
  file(field: string, name: unknown): Buffer {
    if (typeof name !== 'string' || !name) throw err(field, 'is required (a file name)');
    const path = resolve(this.base, name);
    try {
      const data = readFileSync(path);
      this.hash.update(data);
      return data;
    } catch (e) {
      throw err(field, `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, e);
    }
  }
}

function str(obj: Record<string, unknown>, key: string, field: string, opts: { optional?: boolean; pattern?: RegExp; hint?: string } = {}): string {
  const v = obj[key];
  if (v === undefined && opts.optional) return '';
  if (typeof v !== 'string' || v.length === 0) throw err(`${field}.${key}`, 'is required (a non-empty string)');
  if (opts.pattern && !opts.pattern.test(v)) throw err(`${field}.${key}`, `must be ${opts.hint ?? opts.pattern.source}`);
  return v;
}

function url(obj: Record<string, unknown>, key: string, field: string): string {
  const v = str(obj, key, field);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw err(`${field}.${key}`, `is not a URL: ${v}`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw err(`${field}.${key}`, 'must be an https:// (or http:// for tests) URL');
  return v.replace(/\/+$/, '');
}

function connections(obj: Record<string, unknown>, field: string): number {
  const v = obj.connections ?? 2;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 64) throw err(`${field}.connections`, 'must be an integer 1–64');
  return v;
}

function only(obj: Record<string, unknown>, allowed: string[], field: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) throw err(`${field}.${k}`, 'unknown field');
}

function parseApns(appId: string, o: Record<string, unknown>, field: string, r: Reader): ApnsApp {
  only(o, ['platform', 'bundleId', 'environment', 'endpoint', 'caFile', 'connections', 'auth'], field);
  const bundleId = str(o, 'bundleId', field, { pattern: /^[A-Za-z0-9.\-]+$/, hint: 'a bundle id like com.example.app' });
  let endpoint: string;
  if (o.endpoint !== undefined) endpoint = url(o, 'endpoint', field);
  else if (o.environment === 'production') endpoint = APNS_PRODUCTION;
  else if (o.environment === 'sandbox') endpoint = APNS_SANDBOX;
  else throw err(`${field}.environment`, 'must be "production" or "sandbox" (or give an explicit endpoint)');
  const a = o.auth;
  if (!isObject(a)) throw err(`${field}.auth`, 'is required: {"type":"token",…} or {"type":"certificate",…}');
  let auth: ApnsAuth;
  if (a.type === 'token') {
    only(a, ['type', 'teamId', 'keyId', 'keyFile'], `${field}.auth`);
    const teamId = str(a, 'teamId', `${field}.auth`, { pattern: /^[A-Z0-9]{10}$/, hint: 'a 10-character Apple team id' });
    const keyId = str(a, 'keyId', `${field}.auth`, { pattern: /^[A-Z0-9]{10}$/, hint: 'a 10-character Apple key id' });
    const key = loadP8Key(r.file(`${field}.auth.keyFile`, a.keyFile), `${field}.auth.keyFile`);
    auth = { type: 'token', teamId, keyId, key };
  } else if (a.type === 'certificate') {
    only(a, ['type', 'p12File', 'passphrase', 'passphraseEnv'], `${field}.auth`);
    let pass = '';
    if (a.passphraseEnv !== undefined) {
      const name = str(a, 'passphraseEnv', `${field}.auth`);
      const v = process.env[name];
      if (v === undefined) throw err(`${field}.auth.passphraseEnv`, `environment variable ${name} is not set`);
      pass = v;
    } else if (a.passphrase !== undefined) {
      if (typeof a.passphrase !== 'string') throw err(`${field}.auth.passphrase`, 'must be a string');
      pass = a.passphrase;
    }
    r.hash.update(pass);
    const creds = loadP12(r.file(`${field}.auth.p12File`, a.p12File), pass, `${field}.auth.p12File`);
    auth = { type: 'certificate', ...creds };
  } else {
    throw err(`${field}.auth.type`, 'must be "token" or "certificate"');
  }
  const app: ApnsApp = { appId, platform: 'apns', bundleId, endpoint, auth, connections: connections(o, field), fingerprint: '' };
  if (o.caFile !== undefined) app.ca = r.file(`${field}.caFile`, o.caFile);
  return app;
}

export function parseServiceAccount(data: Buffer, field: string): ServiceAccount {
  let sa: unknown;
  try {
    sa = JSON.parse(data.toString('utf8'));
  } catch (e) {
    throw err(field, `is not JSON (${(e as Error).message})`, e);
  }
  if (!isObject(sa)) throw err(field, 'must hold a JSON object');
  if (sa.type !== undefined && sa.type !== 'service_account') throw err(`${field}.type`, 'must be "service_account"');
  const projectId = str(sa, 'project_id', field);
  const clientEmail = str(sa, 'client_email', field);
  const tokenUri = str(sa, 'token_uri', field);
  try {
    new URL(tokenUri);
  } catch {
    throw err(`${field}.token_uri`, 'is not a URL');
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(str(sa, 'private_key', field));
    if (privateKey.asymmetricKeyType !== 'rsa') throw new Error(`key type ${privateKey.asymmetricKeyType}`);
  } catch (e) {
    throw err(`${field}.private_key`, `is not an RSA private key (${(e as Error).message})`, e);
  }
  return { projectId, clientEmail, privateKey, tokenUri };
}

function parseFcm(appId: string, o: Record<string, unknown>, field: string, r: Reader): FcmApp {
  only(o, ['platform', 'serviceAccountFile', 'projectId', 'endpoint', 'tokenUri', 'caFile', 'connections'], field);
  const serviceAccount = parseServiceAccount(r.file(`${field}.serviceAccountFile`, o.serviceAccountFile), `${field}.serviceAccountFile`);
  if (o.tokenUri !== undefined) serviceAccount.tokenUri = url(o, 'tokenUri', field);
  const projectId = o.projectId === undefined ? serviceAccount.projectId : str(o, 'projectId', field);
  const endpoint = o.endpoint === undefined ? FCM_ENDPOINT : url(o, 'endpoint', field);
  const app: FcmApp = { appId, platform: 'fcm', projectId, endpoint, serviceAccount, connections: connections(o, field), fingerprint: '' };
  if (o.caFile !== undefined) app.ca = r.file(`${field}.caFile`, o.caFile);
  return app;
}

/** Parses a registry document (already JSON-decoded); `base` resolves relative file names. */
export function parseRegistry(doc: unknown, base: string, file = '<inline>'): Registry {
  if (!isObject(doc)) throw err('(registry)', 'must be a JSON object {"apps": {…}}');
  only(doc, ['apps'], '(registry)');
  if (!isObject(doc.apps)) throw err('apps', 'is required: an object mapping app ids to app configs');
  const apps = new Map<string, AppConfig>();
  for (const [appId, o] of Object.entries(doc.apps)) {
    const field = `apps[${JSON.stringify(appId)}]`;
    if (!isObject(o)) throw err(field, 'must be an object');
    const r = new Reader(base);
    r.hash.update(JSON.stringify(o));
    let app: AppConfig;
    if (o.platform === 'apns') app = parseApns(appId, o, field, r);
    else if (o.platform === 'fcm') app = parseFcm(appId, o, field, r);
    else throw err(`${field}.platform`, 'must be "apns" or "fcm"');
    app.fingerprint = r.hash.digest('hex');
    apps.set(appId, app);
  }
  if (apps.size === 0) throw err('apps', 'names no app');
  return { file, apps };
}

export function loadRegistry(file: string): Registry {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw err('appsFile', `cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, e);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw err('appsFile', `${file} is not valid JSON (${(e as Error).message})`, e);
  }
  return parseRegistry(doc, dirname(resolve(file)), file);
}
