import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom.js';

export interface LineSpec {
  label: string;
  color: string;
  /** the scale (axis) this line uses; the first axis is on the left, another on the right */
  scale?: string;
  /** draw as bars (for counts per bucket) */
  bars?: boolean;
  /** the legend's value (full precision) */
  format?: (v: number) => string;
  /** the axis ticks (short); compact numbers by default */
  tick?: (v: number) => string;
}

const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
export const compactNumber = (v: number): string => compact.format(v);

export interface ChartSpec {
  title: string;
  lines: LineSpec[];
  /** fill between two lines (indexes into `lines`): an error band */
  band?: { upper: number; lower: number; fill: string };
  height?: number;
  testId: string;
  /** show the last this many seconds (a live chart), instead of the data's own extent */
  windowS?: number;
}

/** A time chart (x in Unix seconds, UTC) that follows its container's width. */
export class TimeChart {
  readonly el: HTMLElement;
  private plot: uPlot | null = null;
  private readonly target = h('div', { class: 'chart-canvas' });
  private readonly resize = new ResizeObserver(() => this.fit());

  constructor(private readonly spec: ChartSpec) {
    this.el = h(
      'figure',
      { class: 'chart', dataset: { testid: spec.testId } },
      h('figcaption', {}, spec.title),
      this.target,
    );
  }

  setData(x: number[], columns: (number | null)[][]): void {
    const data = [x, ...columns] as uPlot.AlignedData;
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    const scales = [...new Set(this.spec.lines.map((l) => l.scale ?? 'y'))];
    const lines = this.spec.lines;
    const tickOf = (scale: string) => lines.find((l) => (l.scale ?? 'y') === scale)?.tick ?? compactNumber;
    const opts: uPlot.Options = {
      width: this.width(),
      height: this.spec.height ?? 220,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      scales: {
        x: {
          time: true,
          ...(this.spec.windowS
            ? {
                range: (_u: uPlot, _min: number, max: number): uPlot.Range.MinMax => [
                  max - this.spec.windowS!,
                  max,
                ],
              }
            : {}),
        },
      },
      series: [
        {},
        ...lines.map((l) => ({
          label: l.label,
          stroke: l.color,
          width: 2,
          scale: l.scale ?? 'y',
          ...(l.bars ? { fill: `${l.color}55`, paths: uPlot.paths.bars?.({ size: [0.8, 40] }) } : {}),
          value: (_u: uPlot, v: number | null) => (v === null ? '–' : (l.format ?? String)(v)),
        })),
      ],
      axes: [
        {},
        ...scales.map((scale, i) => ({
          scale,
          side: i === 0 ? 3 : 1,
          grid: { show: i === 0 },
          size: 70,
          values: (_u: uPlot, ticks: number[]) => ticks.map(tickOf(scale)),
        })),
      ],
      ...(this.spec.band
        ? {
            bands: [
              { series: [this.spec.band.upper + 1, this.spec.band.lower + 1], fill: this.spec.band.fill },
            ],
          }
        : {}),
    };
    this.plot = new uPlot(opts, data, this.target);
    this.resize.observe(this.el);
  }

  private width(): number {
    return Math.max(280, this.el.clientWidth || this.el.parentElement?.clientWidth || 600);
  }

  private fit(): void {
    if (this.plot && Math.abs(this.plot.width - this.width()) > 4)
      this.plot.setSize({ width: this.width(), height: this.spec.height ?? 220 });
  }

  dispose(): void {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
