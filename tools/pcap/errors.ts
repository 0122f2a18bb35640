/**
 * Errors of the capture reader, each with a stable code: a bad file is reported, never a crash
 * and never a loop (every block and record advances the cursor or ends the read).
 */
import { SipStackError } from '../../core/errors.js';

export type PcapErrorCode =
  | 'PCAP_BAD_MAGIC' // neither pcap nor pcapng
  | 'PCAP_TRUNCATED' // a header or record runs past the end of the file
  | 'PCAP_BAD_BLOCK' // a pcapng block with an impossible length or layout
  | 'PCAP_BAD_INTERFACE' // a packet names an interface no IDB described
  | 'PCAP_TOO_LARGE'; // a record larger than any snap length we accept

export class PcapError extends SipStackError {
  declare readonly code: PcapErrorCode;
  /** byte offset in the file where the problem starts. */
  readonly offset: number;
  constructor(code: PcapErrorCode, message: string, offset: number) {
    super(code, `${message} (at byte ${offset})`);
    this.offset = offset;
  }
}
