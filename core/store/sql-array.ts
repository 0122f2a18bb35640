/**
 * PostgreSQL array literals for batched statements: `unnest($1::bigint[], $2::text[], …)` turns
 * N rows into one statement with a handful of parameters (libpq sends parameters as text).
 * Quoting per the array input syntax (PostgreSQL docs §8.15.6): every element double-quoted,
 * backslash and double quote escaped, NULL unquoted.
 */
export function arrayLiteral(values: ReadonlyArray<string | number | boolean | Date | null | undefined>): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i) out += ',';
    const v = values[i];
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v === 'number') out += Number.isFinite(v) ? String(v) : 'NULL';
    else if (typeof v === 'boolean') out += v ? 't' : 'f';
    else if (v instanceof Date) out += `"${v.toISOString()}"`;
    else out += `"${v.replace(/[\\"]/g, '\\$&')}"`;
  }
  return out + '}';
}
