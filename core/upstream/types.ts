/**
 * The shapes at the edges of the register-on-behalf engine: the account as the engine sees it,
 * the REGISTER it wants sent, the response it is given back, and the row it persists.
 * The engine never touches sockets or SQL itself; `RegistrationSender` (core/upstream/sender.ts
 * over core/transaction) and `RegistrationStore` (over core/store) do.
 */
import type { AuthChallenge, Contact } from '../sip/types.js';

/** RFC-neutral names shown in /status and stored in upstream_registration.state. */
export type RegistrationState = 'Idle' | 'Registering' | 'Registered' | 'Unauthorized' | 'Error';

export const REGISTRATION_STATES: readonly RegistrationState[] = ['Idle', 'Registering', 'Registered', 'Unauthorized', 'Error'];

/** One provider account to keep registered, with its password already decrypted. */
export interface UpstreamAccount {
  /** stable account key: primary key in the store, shard key, and the Contact user (contact.ts). */
  id: string;
  /** address of record, `sip:user@domain`: To and From of the REGISTER (RFC 3261 §10.2). */
  aor: string;
  /** digest username (often the AOR's user part). */
  authUser: string;
  password: string;
  /** Request-URI of the REGISTER, `sip:registrar.example` (RFC 3261 §10.2: no user part). */
  registrar: string;
  /** when set, the REGISTER goes there (a pre-loaded Route, RFC 3261 §8.1.2) instead of the registrar. */
  outboundProxy?: string;
  /**
   * the transport the provider wants for its registrar (account.transport); absent = udp. sipis
   * speaks UDP only: without an outbound proxy, tcp or tls cannot be sent (sender.ts).
   */
  transport?: AccountTransport;
  /** the digest realm expected: credentials are never sent to a challenge of another realm. */
  realm?: string;
  /** requested binding lifetime in seconds; 0 or absent → the engine's default. */
  expires?: number;
  enabled: boolean;
}

/** account.transport values (core/store validate.ts). */
export type AccountTransport = 'udp' | 'tcp' | 'tls';

/** What the engine asks the sender to put on the wire. */
export interface RegisterSpec {
  accountId: string;
  /** Request-URI (the registrar). */
  requestUri: string;
  /** To and From (the AOR). */
  aor: string;
  outboundProxy?: string;
  /** the account's transport to the registrar when not udp (the sender refuses to send it). */
  transport?: AccountTransport;
  callId: string;
  cseq: number;
  /** user part of our Contact (contact.ts); the sender adds our host:port. */
  contactUser: string;
  /** Expires header and the Contact's expires; 0 = unregister. */
  expires: number;
  /** Authorization (401) or Proxy-Authorization (407) header, when we have a challenge. */
  authorization?: { header: 'Authorization' | 'Proxy-Authorization'; value: string };
  /** engine-internal: which account generation asked for this (responses to stale ones are dropped). */
  generation: number;
}

/** The parts of a final response the engine acts on (sender.ts extracts them from a SipMessage). */
export interface RegisterResponse {
  status: number;
  reason?: string;
  /** Contact bindings listed in a 2xx (RFC 3261 §10.3 step 8). */
  contacts: readonly Contact[];
  /** Expires header, seconds. */
  expires?: number;
  /** Min-Expires of a 423 (RFC 3261 §20.23). */
  minExpires?: number;
  /** Retry-After, seconds (RFC 3261 §20.33). */
  retryAfter?: number;
  /** WWW-Authenticate (401) or Proxy-Authenticate (407) challenges. */
  challenges: readonly AuthChallenge[];
}

/** The result of one REGISTER transaction: a final response, or no response at all. */
export type RegisterOutcome =
  | { kind: 'response'; response: RegisterResponse }
  /** Timer F fired (RFC 3261 §17.1.2.2) or the transport failed (§8.1.3.1: treat as 408/503). */
  | { kind: 'timeout'; reason: string };

/** Sends one REGISTER as a client transaction and reports its final outcome (never rejects). */
export interface RegistrationSender {
  send(spec: RegisterSpec): Promise<RegisterOutcome>;
}

/** A row of upstream_registration as the engine reads and writes it. */
export interface RegistrationRecord {
  accountId: string;
  state: RegistrationState;
  callId: string;
  /** the CSeq reservation ceiling: every CSeq ever sent on callId is ≤ this (registration.ts). */
  cseq: number;
  /** when the binding granted by the registrar runs out (epoch ms), null when none. */
  expiresAt: number | null;
  /** last final status (0 for a timeout) and a short reason, for operators. */
  lastStatus: number | null;
  lastReason: string | null;
  /** consecutive failed exchanges, when the next retry is due, since when it fails (epoch ms). */
  failures: number;
  retryAt: number | null;
  failingSince: number | null;
}

/** Computes a digest Authorization/Proxy-Authorization value (core/sip/digest.ts). */
export type Authorizer = (
  challenge: AuthChallenge,
  req: { method: string; uri: string; username: string; password: string; nc: number },
) => string;
