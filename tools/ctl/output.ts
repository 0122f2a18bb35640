/** Human tables by default, JSON for machines (`--json`). */
export function table(head: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | boolean | null | undefined>>): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...cells.map(line)].join('\n');
}

export function keyValues(pairs: ReadonlyArray<readonly [string, unknown]>): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(w)}  ${v === null || v === undefined ? '-' : v instanceof Date ? v.toISOString() : String(v)}`).join('\n');
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
