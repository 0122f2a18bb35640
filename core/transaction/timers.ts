/**
 * RFC 3261 §17 timer values, all derived from T1, T2 and T4 in one place (the sipgo `SetTimers`
 * model): change the three base values and every other timer follows. Table 4 of RFC 3261
 * (Appendix A) plus RFC 6026 §8.4/§8.11 (Timer L, Timer M).
 */
export interface TimerBase {
  /** RTT estimate, default 500 ms (§17.1.1.1). */
  T1: number;
  /** maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s. */
  T2: number;
  /** maximum time a message stays in the network, default 5 s. */
  T4: number;
}

/** Every transaction timer in milliseconds, for an unreliable transport (UDP). */
export interface TimerValues extends TimerBase {
  /** INVITE request retransmit, initially T1, doubling (§17.1.1.2). */
  A: number;
  /** INVITE transaction timeout, 64*T1. */
  B: number;
  /**
   * Guard in the ICT Proceeding state (the proxy's Timer C of §16.6, > 3 min): a callee that sent
   * 180 and then nothing would otherwise keep the transaction alive for ever. Not derived from T1.
   */
  C: number;
  /** wait time for response retransmits in Completed (ICT), > 32 s for UDP. */
  D: number;
  /** non-INVITE request retransmit, initially T1, doubling up to T2. */
  E: number;
  /** non-INVITE transaction timeout, 64*T1. */
  F: number;
  /** INVITE response retransmit, initially T1, doubling up to T2. */
  G: number;
  /** wait time for ACK receipt, 64*T1. */
  H: number;
  /** wait time for ACK retransmits, T4. */
  I: number;
  /** wait time for non-INVITE request retransmits, 64*T1. */
  J: number;
  /** wait time for response retransmits (NICT Completed), T4. */
  K: number;
  /** RFC 6026: IST Accepted state, wait for 2xx retransmissions / INVITE retransmits, 64*T1. */
  L: number;
  /** RFC 6026: ICT Accepted state, wait for further 2xx (forked or retransmitted), 64*T1. */
  M: number;
  /** §17.2.1: the IST sends 100 Trying if the TU has not answered within this delay. */
  trying: number;
}

export const DEFAULT_TIMER_BASE: TimerBase = Object.freeze({ T1: 500, T2: 4000, T4: 5000 });

/** Derives every timer from T1/T2/T4 (unreliable transport: UDP is the only one sipis speaks). */
export function deriveTimers(base: Partial<TimerBase> = {}): TimerValues {
  const T1 = base.T1 ?? DEFAULT_TIMER_BASE.T1;
  const T2 = base.T2 ?? DEFAULT_TIMER_BASE.T2;
  const T4 = base.T4 ?? DEFAULT_TIMER_BASE.T4;
  if (!(T1 > 0 && T2 >= T1 && T4 > 0)) throw new RangeError(`bad timer base T1=${T1} T2=${T2} T4=${T4}`);
  const t64 = 64 * T1;
  return {
    T1,
    T2,
    T4,
    A: T1,
    B: t64,
    C: 180_000,
    // §17.1.1.2: "at least 32 seconds for unreliable transports": 64*T1 is exactly 32 s with the
    // default T1 and scales down with it, so tests with a short T1 finish quickly.
    D: t64,
    E: T1,
    F: t64,
    G: T1,
    H: t64,
    I: T4,
    J: t64,
    K: T4,
    L: t64,
    M: t64,
    // 200 ms is the figure §17.2.1 gives; with a tiny T1 (tests) keep it below T1 so the UAC's
    // first retransmission still finds the 100 in flight.
    trying: Math.min(200, Math.max(1, Math.floor(T1 / 2))),
  };
}
