#!/usr/bin/env node
/**
 * sip-replay: plays one side of a recorded SIP exchange (UDP) against a live target and checks
 * that the target answers as the recorded peer did (methods and status codes, in order,
 * retransmissions aside). See tools/replay/ for how messages are rewritten and matched.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { PcapError } from './pcap/index.js';
import { buildScript, endpointText, parseEndpoint, ReplayError } from './replay/script.js';
import { formatDiff, replay } from './replay/run.js';
import type { Endpoint } from './pcap/index.js';
import type { Credentials } from './replay/rewrite.js';

const USAGE = `usage: sip-replay --pcap FILE --target HOST:PORT [options]
  --side HOST:PORT        the recorded address to play (default: the sender of the first request)
  --bind HOST[:PORT]      local address (default 127.0.0.1, or ::1 for an IPv6 target; port 0)
  --pace recorded|fast    keep the recorded gaps between messages (default) or send at once
  --timeout MS            wait this long for each expected message (default 5000)
  --auth USER:PASSWORD    answer live digest challenges with these credentials (the recorded
                          Authorization cannot match the target's nonce); SIPREPLAY_AUTH works too
  --ack-late              send each ACK for a 2xx after the request that follows it, as a
                          proxy with several workers may (RFC 5407 §3.1.4: a re-INVITE or BYE
                          overtaking the ACK); the answers must still be the recorded ones
  --verbose               print each message sent and received
exit status: 0 the target answered as recorded, 1 it did not (a diff is printed), 2 usage error`;

class UsageError extends Error {}

function endpointArg(flag: string, v: string | undefined, portOptional = false): Endpoint {
  if (v === undefined) throw new UsageError(`${flag} needs a value`);
  const e = parseEndpoint(v) ?? (portOptional && !v.includes(':') ? { ip: v, port: 0 } : undefined);
  if (!e) throw new UsageError(`${flag}: expected HOST:PORT, got ${v}`);
  return e;
}

export async function main(argv: string[]): Promise<number> {
  let pcap: string | undefined;
  let target: Endpoint | undefined;
  let side: Endpoint | undefined;
  let local: Endpoint | undefined;
  let pace: 'recorded' | 'fast' = 'recorded';
  let timeoutMs = 5000;
  let verbose = false;
  let ackLate = false;
  let credentials: Credentials | undefined;
  const authArg = (v: string | undefined): Credentials => {
    const i = v?.indexOf(':') ?? -1;
    if (v === undefined || i <= 0) throw new UsageError('--auth needs USER:PASSWORD');
    return { username: v.slice(0, i), password: v.slice(i + 1) };
  };
  try {
    if (process.env.SIPREPLAY_AUTH) credentials = authArg(process.env.SIPREPLAY_AUTH);
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      const v = (): string | undefined => argv[++i];
      switch (a) {
        case '--help':
        case '-h':
          process.stdout.write(`${USAGE}\n`);
          return 0;
        case '--pcap':
          pcap = v();
          if (pcap === undefined) throw new UsageError('--pcap needs a file');
          break;
        case '--target':
          target = endpointArg(a, v());
          break;
        case '--side':
          side = endpointArg(a, v());
          break;
        case '--bind':
          local = endpointArg(a, v(), true);
          break;
        case '--pace': {
          const p = v();
          if (p !== 'recorded' && p !== 'fast') throw new UsageError('--pace is recorded or fast');
          pace = p;
          break;
        }
        case '--timeout': {
          const t = Number(v());
          if (!Number.isInteger(t) || t <= 0) throw new UsageError('--timeout needs a positive number of milliseconds');
          timeoutMs = t;
          break;
        }
        case '--auth':
          credentials = authArg(v());
          break;
        case '--ack-late':
          ackLate = true;
          break;
        case '--verbose':
        case '-v':
          verbose = true;
          break;
        default:
          throw new UsageError(`unknown argument ${a}`);
      }
    }
    if (!pcap) throw new UsageError('--pcap is required');
    if (!target) throw new UsageError('--target is required');
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`sip-replay: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    throw e;
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(pcap);
  } catch (e) {
    process.stderr.write(`sip-replay: cannot read ${pcap}: ${(e as Error).message}\n`);
    return 2;
  }
  let script;
  try {
    script = buildScript(bytes, side);
  } catch (e) {
    if (e instanceof PcapError || e instanceof ReplayError) {
      process.stderr.write(`sip-replay: ${e.code}: ${e.message}\n`);
      return e instanceof ReplayError && e.code === 'REPLAY_NO_SIDE' ? 2 : 1;
    }
    throw e;
  }
  const trace = verbose ? (line: string) => process.stderr.write(`${line}\n`) : undefined;
  trace?.(`playing ${endpointText(script.side)} (peer ${endpointText(script.peer)}) against ${endpointText(target)}: ` +
    `${script.steps.length} messages, ${script.retransmissions} retransmissions dropped`);
  const result = await replay(script, { target, local, pace, timeoutMs, trace, credentials, ackLate });
  if (result.ok) {
    process.stdout.write(`ok: ${result.sent.length} sent, ${result.got.length} received as recorded\n`);
    return 0;
  }
  process.stdout.write(`mismatch: the target did not answer as recorded\n${formatDiff(result)}\n`);
  return 1;
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(realpathSync(entry)).href) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`sip-replay: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
