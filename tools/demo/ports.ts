/**
 * Port choice for the local stack: the well-known port when it is free (5060 for SIP, 8088 for
 * the admin HTTP …), so the printed commands are the familiar ones, else any free port, so a
 * second stack (or a test running beside a developer's stack) still starts. `anyPorts` skips
 * the well-known ones altogether (tests: no race with another stack for 5060).
 *
 * A probe binds and closes at once; the port can be taken between the probe and the real bind.
 * That race only costs a failed start with a clear "cannot listen" error, never a wrong address.
 */
import { freeSipPort, freeTcpPort, freeUdpPort, tcpFree, udpFree } from '../../fixtures/net.js';

export type PortKind = 'udp' | 'tcp' | 'sip';

export class PortPicker {
  /** `udp:N` / `tcp:N` handed out by this picker: two components must not get the same "free" port. */
  private readonly given = new Set<string>();
  constructor(
    private readonly anyPorts: boolean,
    private readonly host = '127.0.0.1',
  ) {}

  /** `preferred` when free for `kind` (and not handed out already), else a free one. */
  async pick(kind: PortKind, preferred: number): Promise<number> {
    if (!this.anyPorts && !this.taken(kind, preferred)) {
      const free = kind === 'udp' ? await udpFree(preferred, this.host) : kind === 'tcp' ? await tcpFree(preferred, this.host) : (await udpFree(preferred, this.host)) && (await tcpFree(preferred, this.host));
      if (free) return this.take(kind, preferred);
    }
    for (let i = 0; i < 20; i++) {
      const port = kind === 'udp' ? await freeUdpPort(this.host) : kind === 'tcp' ? await freeTcpPort(this.host) : await freeSipPort(this.host);
      if (!this.taken(kind, port)) return this.take(kind, port);
    }
    throw new Error(`no free ${kind} port on ${this.host}`);
  }

  private taken(kind: PortKind, port: number): boolean {
    return kind === 'sip' ? this.given.has(`udp:${port}`) || this.given.has(`tcp:${port}`) : this.given.has(`${kind}:${port}`);
  }

  private take(kind: PortKind, port: number): number {
    if (kind !== 'tcp') this.given.add(`udp:${port}`);
    if (kind !== 'udp') this.given.add(`tcp:${port}`);
    return port;
  }
}
