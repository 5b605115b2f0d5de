import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Api, DailyUsage } from './api.tsx';
import { plural } from './format.tsx';
import { describeError } from './messages.tsx';
import { ErrorAlert } from './layout.tsx';

const DAYS = 30;
const DAY_MS = 86_400_000;

/** The last `DAYS` UTC days, today included, as YYYY-MM-DD. */
export function lastDays(now = Date.now()): [string, string] {
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  const iso = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
  return [iso(today - (DAYS - 1) * DAY_MS), iso(today)];
}

const DAY = new Intl.DateTimeFormat('en', { month: 'short', day: 'numeric', timeZone: 'UTC' });

/**
 * Requests per UTC day for one token over the last 30 days: a uPlot bar chart for the eye, and
 * the same figures as text (a total, and a table of every day) for everyone else.
 */
export function UsageChart({ api, tokenId }: { readonly api: Api; readonly tokenId: string }) {
  const [usage, setUsage] = useState<DailyUsage | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const [first, last] = lastDays();
    api.dailyUsage(tokenId, first, last).then(setUsage, (e: unknown) => setError(describeError(e)));
  }, [api, tokenId]);

  const total = usage?.counts.reduce((sum, n) => sum + n, 0) ?? 0;
  return (
    <section aria-labelledby="usage">
      <h2 id="usage">Requests in the last 30 days</h2>
      <ErrorAlert message={error} />
      {usage === null ? (
        error === null && <p>Loading the figures…</p>
      ) : (
        <figure class="chart">
          <Plot usage={usage} />
          <figcaption>
            {plural(total, 'request', 'requests')} in the last 30 days ({DAY.format(new Date(usage.period[0]))} to {DAY.format(new Date(usage.period[1]))}, UTC
            days). Figures can lag a few seconds behind.
          </figcaption>
          <details>
            <summary>Requests per day</summary>
            <table>
              <thead>
                <tr>
                  <th scope="col">Day (UTC)</th>
                  <th scope="col">Requests</th>
                </tr>
              </thead>
              <tbody>
                {usage.timestamps.map((ts, i) => (
                  <tr key={ts}>
                    <td>
                      <time dateTime={ts.slice(0, 10)}>{DAY.format(new Date(ts))}</time>
                    </td>
                    <td>{(usage.counts[i] ?? 0).toLocaleString('en')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        </figure>
      )}
    </section>
  );
}

/** The drawing; hidden from assistive technology, which gets the caption and the table instead. */
function Plot({ usage }: { readonly usage: DailyUsage }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const target = box.current;
    if (target === null) return;
    const xs = usage.timestamps.map((ts) => Date.parse(ts) / 1000);
    const width = (): number => Math.max(200, target.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 220,
        legend: { show: false },
        cursor: { show: false },
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
        // Half a day either side, so the first and last bars are whole.
        scales: { x: { time: true, range: (_u, min, max) => [min - 43_200, max + 43_200] }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [{}, { size: 60 }],
        series: [{}, { label: 'Requests', stroke: '#1d4ed8', fill: 'rgba(29, 78, 216, 0.35)', paths: uPlot.paths.bars?.({ size: [0.7, 40] }) }],
      },
      [xs, [...usage.counts]],
      target,
    );
    const observer = new ResizeObserver(() => plot.setSize({ width: width(), height: 220 }));
    observer.observe(target);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [usage]);
  return <div class="plot" ref={box} aria-hidden="true" />;
}
