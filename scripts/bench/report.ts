/** The benchmark's output: one line per figure (stack, kernel, ratio) and the same as JSON. */
export interface Measured {
  value?: number;
  error?: string;
  /** Counts printed beside the value (`name=count`), such as a loss figure's RTOs. */
  notes?: Record<string, number>;
}

export interface FigureResult {
  figure: { name: string; unit: string };
  stack: Measured;
  kernel: Measured;
}

export interface JsonReport {
  mtu: number;
  quick: boolean;
  /** 1 MB = 10^6 bytes. */
  mbBytes: number;
  settings: Record<string, number | string | boolean>;
  figures: Array<{
    name: string;
    unit: string;
    stack: number | null;
    kernel: number | null;
    ratio: number | null;
    stackError?: string;
    kernelError?: string;
    stackNotes?: Record<string, number>;
    kernelNotes?: Record<string, number>;
  }>;
}

function round(value: number): number {
  return Number(value.toPrecision(6));
}

function formatValue(value: number): string {
  if (value >= 1000) return value.toFixed(0);
  if (value >= 100) return value.toFixed(1);
  return value.toFixed(2);
}

function ratioOf(result: FigureResult): number | undefined {
  const { stack, kernel } = result;
  if (stack.value === undefined || kernel.value === undefined || kernel.value === 0) return undefined;
  return stack.value / kernel.value;
}

/** `name value unit kernel value unit ratio r`, columns aligned, failures spelled out. */
export function formatTable(results: FigureResult[], setupFailures: { stack?: string; kernel?: string } = {}): string[] {
  const rows = results.map((result) => {
    const { figure, stack, kernel } = result;
    const ratio = ratioOf(result);
    const notes: string[] = [];
    const note = (side: 'stack' | 'kernel', error: string | undefined) => {
      if (error === undefined) return;
      notes.push(`${side}: failed (${error === setupFailures[side] ? 'not running, see above' : error})`);
    };
    note('stack', stack.error);
    note('kernel', kernel.error);
    for (const [side, measured] of [
      ['stack', stack],
      ['kernel', kernel],
    ] as const) {
      if (measured.notes !== undefined && measured.error === undefined)
        notes.push(
          `${side}: ${Object.entries(measured.notes)
            .map(([key, count]) => `${key}=${count}`)
            .join(' ')}`,
        );
    }
    return {
      cells: [
        figure.name,
        stack.value === undefined ? '-' : formatValue(stack.value),
        figure.unit,
        'kernel',
        kernel.value === undefined ? '-' : formatValue(kernel.value),
        figure.unit,
        'ratio',
        ratio === undefined ? '-' : ratio.toFixed(3),
      ],
      notes,
    };
  });
  const widths = rows[0]!.cells.map((_, column) => Math.max(...rows.map((row) => row.cells[column]!.length)));
  const rightAligned = new Set([1, 4, 7]);
  return rows.map((row) => {
    const line = row.cells
      .map((cell, column) => (rightAligned.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join(' ');
    return row.notes.length > 0 ? `${line}  ${row.notes.join('; ')}` : line.trimEnd();
  });
}

export function jsonReport(
  mtu: number,
  quick: boolean,
  settings: Record<string, number | string | boolean>,
  results: FigureResult[],
): JsonReport {
  return {
    mtu,
    quick,
    mbBytes: 1e6,
    settings,
    figures: results.map((result) => {
      const ratio = ratioOf(result);
      return {
        name: result.figure.name,
        unit: result.figure.unit,
        stack: result.stack.value === undefined ? null : round(result.stack.value),
        kernel: result.kernel.value === undefined ? null : round(result.kernel.value),
        ratio: ratio === undefined ? null : round(ratio),
        ...(result.stack.error !== undefined ? { stackError: result.stack.error } : {}),
        ...(result.kernel.error !== undefined ? { kernelError: result.kernel.error } : {}),
        ...(result.stack.notes !== undefined ? { stackNotes: result.stack.notes } : {}),
        ...(result.kernel.notes !== undefined ? { kernelNotes: result.kernel.notes } : {}),
      };
    }),
  };
}
