// Tables for people: rows of a view rendered into aligned columns, the same way in `mvos vm` and in the SSH jail.

// One column: its header, and the text of its cell for a row.
export interface Column<Row> {
  header: string;
  cell: (row: Row) => string;
}

// The same column with `-` in an empty cell, where a blank would leave the columns after it hard to read.
export function dashWhenEmpty<Row>(column: Column<Row>): Column<Row> {
  return { header: column.header, cell: (row) => column.cell(row) || '-' };
}

// The header line and one line per row: each column as wide as its widest cell, two spaces between, nothing trailing.
export function renderTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string[] {
  const lines = [columns.map((c) => c.header), ...rows.map((row) => columns.map((c) => c.cell(row)))];
  const widths = columns.map((_, i) => Math.max(...lines.map((cells) => cells[i]!.length)));
  return lines.map((cells) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
}
