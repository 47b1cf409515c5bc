// Line charts of a series answer (receiver/series.h): mean, min and max per bucket, on a
// linear time axis in ms (no date adapter needed), labelled in UTC.
import { utc } from './view.js';

export function drawLine(canvas, series, label, { zeroLine = false } = {}) {
  const points = series.buckets.filter((b) => b.count > 0);
  const xy = (key) => points.map((b) => ({ x: b.t, y: b[key] }));
  const dot = points.length < 60 ? 2 : 0;  // a few buckets: show each, a lone one too
  const old = window.Chart.getChart(canvas);
  if (old) old.destroy();
  return new window.Chart(canvas, {
    type: 'line',
    data: {
      datasets: [
        { label: `${label} mean`, data: xy('mean'), borderColor: '#1d5fa8', pointRadius: dot, borderWidth: 1.5 },
        { label: 'min', data: xy('min'), borderColor: '#9bb7d9', pointRadius: 0, borderWidth: 1, fill: false },
        { label: 'max', data: xy('max'), borderColor: '#9bb7d9', pointRadius: 0, borderWidth: 1, borderDash: [4, 3] },
      ],
    },
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      maintainAspectRatio: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: { type: 'linear', min: series.from, max: series.to,
          ticks: { maxTicksLimit: 6, callback: (v) => utc(v).slice(5, 16) } },
        y: { grid: { color: (c) => (zeroLine && c.tick.value === 0 ? '#333' : '#e3e3e3') } },
      },
      plugins: { tooltip: { callbacks: { title: (items) => utc(items[0].parsed.x) } } },
    },
  });
}
