#!/usr/bin/env node
/**
 * `npm run demo`: the whole SIPIS story on loopback, narrated as a ladder of the messages that
 * really crossed sipis's socket (tools/demo/story.ts). Exit 0 when the story completed, 1 with
 * what went wrong otherwise, 2 on a usage error.
 */
import { pathToFileURL } from 'node:url';
import { runDemo } from './demo/story.js';

const USAGE = `usage: node dist/tools/demo.js [--verbose]

Starts the SIPIS stack on loopback (PostgreSQL, mock APNs/FCM, mediator, sipis, bridge) with
Kamailio as the provider, adds an account, registers a sipp phone that then sleeps, and calls
it with a sipp caller: push, wake-up, tunnelled call, answer, hang-up. Needs sipp and kamailio.

  --verbose   every component's log (debug level) on stderr
  --help      this text`;

async function main(argv: string[]): Promise<number> {
  let verbose = false;
  for (const a of argv) {
    if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE + '\n');
      return 0;
    } else if (a === '--verbose' || a === '-v') verbose = true;
    else {
      process.stderr.write(`unknown option ${JSON.stringify(a)}\n${USAGE}\n`);
      return 2;
    }
  }
  // Ctrl-C: the story stops where it is and the stack is cleaned up (no cluster left behind);
  // a second one gives up at once
  const ctl = new AbortController();
  const stop = (): void => {
    if (ctl.signal.aborted) process.exit(130);
    ctl.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const r = await runDemo({ verbose, signal: ctl.signal });
  if (r.ok) return 0;
  process.stdout.write(`\nthe demo failed:\n${r.problems.map((p) => `- ${p}`).join('\n')}\n`);
  return 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
  // nothing left running must keep the process alive after the story
  setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
}
