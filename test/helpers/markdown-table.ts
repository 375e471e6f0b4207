/** Reading the reference tables of docs/*.md, for the tests that keep docs and code in sync. */
import assert from 'node:assert/strict';

/** Splits a markdown table row into trimmed cells (unescaped pipes only). */
export function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());
}

/** A cell without its surrounding backticks. */
export function unquote(cell: string): string {
  return cell.replace(/^`(.*)`$/, '$1');
}

/** The body rows (as cells) of the one table of `text` whose header row is `headers`; `source` names the file in failures. */
export function markdownTable(text: string, headers: readonly string[], source: string): string[][] {
  const lines = text.split('\n');
  const wanted = headers.join('|').toLowerCase();
  const starts = lines.flatMap((line, index) => (line.trim().startsWith('|') && cells(line).join('|').toLowerCase() === wanted ? [index] : []));
  assert.equal(starts.length, 1, `${source} must have exactly one | ${headers.join(' | ')} | table`);
  const rows: string[][] = [];
  for (let i = starts[0]! + 2; i < lines.length && lines[i]!.trim().startsWith('|'); i++) {
    const row = cells(lines[i]!);
    assert.equal(row.length, headers.length, `${source} table row has ${row.length} cells, not ${headers.length}: ${lines[i]}`);
    rows.push(row);
  }
  return rows;
}
