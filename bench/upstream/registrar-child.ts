/**
 * The bench registrar in its own process (so the engine's CPU time is measured alone):
 * fixtures/registrar.ts answering 401 then 200 for every user with password `pw`.
 * Prints `{"port":N}` on stdout once listening; exits when stdin closes.
 */
import { startTestRegistrar } from '../../fixtures/registrar.js';

const reg = await startTestRegistrar({ passwordFor: () => 'pw', maxExpires: 3600, nonceTtlS: 86_400, host: '127.0.0.1', recvBufferSize: 4 << 20 });
process.stdout.write(JSON.stringify({ port: reg.endpoint.port }) + '\n');
process.stdin.resume();
process.stdin.on('end', () => {
  void reg.close().then(() => process.exit(0));
});
