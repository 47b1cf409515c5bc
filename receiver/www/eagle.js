// The EAGLE view, for sources whose readings carry demand_kw (agent/sources/eagle): demand
// over the last 24 h (signed: export below zero), energy delivered and received per hour
// from the meter's summation counters, and the latest price.
import { api, query } from './api.js';
import { drawLine } from './plot.js';
import { el, errorBox, replace, utc } from './view.js';

const HOUR = 3600000;

async function fieldsOf(base, source) {
  const to = Date.now();
  const s = await api(`${base}/series?${query({ source, from: to - 30 * 24 * HOUR, to })}`);
  return s.fields;
}

// kWh per hour from a cumulative counter: the last value of each hour minus the one before
// (or the hour's first value, for the first hour with readings).
export function perHour(series) {
  const out = [];
  let previous = null;
  for (const b of series.buckets) {
    if (b.count === 0) {
      out.push({ x: b.t, y: null });
      continue;
    }
    const base = previous === null ? b.first : previous;
    out.push({ x: b.t, y: Math.round((b.last - base) * 1000) / 1000 });
    previous = b.last;
  }
  return out;
}

async function meter(base, source, box) {
  const to = Math.floor(Date.now() / HOUR) * HOUR + HOUR - 1;
  const from = to + 1 - 24 * HOUR;
  const get = (field, points) => api(`${base}/series?${query({ source, field, from, to, points })}`);
  const [demand, delivered, received, price] = await Promise.all([
    get('demand_kw', 288), get('delivered_kwh', 24), get('received_kwh', 24), get('price', 1),
  ]);
  const demandCanvas = el('canvas', { class: 'eagle-demand', role: 'img', 'aria-label': `demand of ${source} in kW` });
  const energyCanvas = el('canvas', { class: 'eagle-energy', role: 'img', 'aria-label': `energy of ${source} per hour` });
  const p = price.buckets[0];
  replace(box,
    el('h3', {}, `Source ${source}`),
    el('p', {}, `Demand in kW over the last 24 h (UTC); below zero is export. `,
      p && p.count ? `Latest price: ${p.last}` : 'No price reported.'),
    el('div', { class: 'chart-box' }, demandCanvas),
    el('p', {}, 'Energy per hour, kWh: delivered (from the grid) and received (exported).'),
    el('div', { class: 'chart-box' }, energyCanvas));
  drawLine(demandCanvas, demand, 'demand kW', { zeroLine: true });
  new window.Chart(energyCanvas, {
    type: 'bar',
    data: { datasets: [
      { label: 'delivered kWh', data: perHour(delivered), backgroundColor: '#1d5fa8' },
      { label: 'received kWh', data: perHour(received), backgroundColor: '#3c9a5f' },
    ] },
    options: {
      animation: false, parsing: { xAxisKey: 'x', yAxisKey: 'y' }, maintainAspectRatio: false,
      scales: { x: { type: 'linear', min: from, max: to, ticks: { callback: (v) => utc(v).slice(11, 16) } } },
    },
  });
}

export function eagleView(deviceId, sources) {
  const base = `/api/v1/devices/${encodeURIComponent(deviceId)}`;
  const section = el('section', { id: 'eagle', hidden: true, 'aria-labelledby': 'eagle-title' },
    el('h2', { id: 'eagle-title' }, 'EAGLE meter'));
  (async () => {
    for (const { source } of sources) {
      const fields = await fieldsOf(base, source);
      if (!fields.includes('demand_kw')) continue;
      section.hidden = false;
      const box = el('div', { class: 'meter', dataset: { source } });
      section.append(box);
      await meter(base, source, box);
    }
    section.dataset.ready = 'true';
  })().catch((e) => {
    section.hidden = false;
    section.append(errorBox(String(e.message || e)));
  });
  return section;
}
