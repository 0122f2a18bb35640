/**
 * JSON text by template on the hot path. `JSON.stringify` of a small object costs more than
 * the strings it joins; the answers and APNs payloads the mediator writes per push are
 * templates whose only variable parts are strings, written here exactly as JSON.stringify
 * would write them (RFC 8259 §7).
 */

/** A JSON string literal, byte for byte what JSON.stringify gives; plain ASCII without it. */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Controls, quote and backslash need escapes; beyond ASCII (lone surrogates) let V8 decide.
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(s);
  }
  return '"' + s + '"';
}
