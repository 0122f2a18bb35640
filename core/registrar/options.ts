/**
 * The SIP extensions sipis supports as the endpoint of a request (RFC 3261 §8.2.2.3, §19.2): a
 * `Require` naming anything else in a request sipis answers itself (REGISTER, OPTIONS, an
 * unsolicited NOTIFY) gets 420 Bad Extension. Requests it relays (INVITE, MESSAGE, in-dialog
 * requests) are judged by the far end, whose 420 is relayed back.
 * - `path` (RFC 3327): the registrar stores and returns Path, the bridge adds it;
 * - `outbound` (RFC 5626): flows, reg-id, the bridge's flow tokens;
 * - `100rel` (RFC 3262): reliable provisional responses across the tunnel (RSeq/RAck mapped).
 */
export const OPTION_TAGS = ['100rel', 'path', 'outbound'] as const;

/** OPTION_TAGS as a set, for unsupportedRequire. */
export const SUPPORTED_OPTIONS: ReadonlySet<string> = new Set(OPTION_TAGS);
