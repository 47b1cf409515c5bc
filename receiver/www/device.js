// The device page: the agent's last status, per source a 7-day coverage strip by hour, a
// chart of any numeric field (downsampled by the server), and recent events.
import { api, query } from './api.js';
import { eagleView } from './eagle.js';
import { messagesHash } from './messages.js';
import { drawLine } from './plot.js';
import { ago, bytes, el, errorBox, replace, utc } from './view.js';

const HOUR = 3600000;
const DAY = 24 * HOUR;
const RANGES = [['1h', HOUR], ['24h', DAY], ['7d', 7 * DAY], ['30d', 30 * DAY]];
const POINTS = 600;
const MARK = { present: '', tombstoned: 'T', missing: '✕', none: '' };

function statusPanel(device) {
  const s = device.status;
  if (!s) return el('p', {}, 'No status received over MQTT.');
  const buffer = s.buffer || {};
  const uploads = s.uploads || {};
  const rows = [
    ['Link', device.online ? 'online' : 'offline'],
    ['State', String(s.state ?? '—')],
    ['Degraded because', (s.degraded_reasons || []).map(String).join('; ') || '—'],
    ['Reports as', String(s.device ?? '—')],
    ['Version', String(s.version ?? '—')],
    ['Status at', `${utc(device.status_at)}`],
    ['Up for', s.uptime_s !== undefined ? `${Math.round(Number(s.uptime_s) / 60)} min` : '—'],
    ['Backlog', `${Number(buffer.segments_sealed || 0)} segments, ${bytes(Number(buffer.pending_bytes || 0))}`],
    ['Last upload', uploads.last_ok ? utc(uploads.last_ok) : '—'],
    ['Last upload error', String(uploads.last_error || '—')],
    ['Disk free', s.disk_free_bytes !== undefined ? bytes(Number(s.disk_free_bytes)) : '—'],
  ];
  return el('dl', { class: 'facts', id: 'status' },
    rows.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function strip(source, hours) {
  const days = [];
  for (let i = 0; i < hours.length; i += 24) days.push(hours.slice(i, i + 24));
  const head = el('tr', {}, el('th', { scope: 'col' }, 'UTC'),
    Array.from({ length: 24 }, (_, h) => el('th', { scope: 'col', class: 'hour', 'aria-label': `${h}:00` },
      h % 3 === 0 ? String(h).padStart(2, '0') : '')));
  const body = days.map((cells) => el('tr', {},
    el('th', { scope: 'row' }, utc(cells[0].t).slice(0, 10)),
    cells.map((c) => {
      const label = `${utc(c.t).slice(0, 16)}: ${c.state}${c.reason ? ` (${c.reason})` : ''}`;
      return el('td', { class: `cell ${c.state}`, title: label, 'aria-label': label,
        dataset: { t: c.t, state: c.state, reason: c.reason || '' } }, MARK[c.state] || '');
    })));
  const notes = hours.filter((c) => c.state === 'missing' || c.state === 'tombstoned')
    .map((c) => el('li', { dataset: { t: c.t, state: c.state } },
      `${utc(c.t).slice(0, 16)} `, c.state === 'missing' ? 'missing' : 'tombstoned',
      c.reason ? `: ${c.reason}` : ''));
  return el('figure', { class: 'coverage', dataset: { source } },
    el('figcaption', {}, `Coverage of ${source}, last 7 days by hour (UTC)`),
    el('div', { class: 'table-wrap' }, el('table', { class: 'strip' }, el('thead', {}, head), el('tbody', {}, body))),
    el('p', { class: 'legend' },
      el('span', { class: 'cell present' }, ''), ' readings ',
      el('span', { class: 'cell tombstoned' }, 'T'), ' tombstoned (dropped on purpose, reason given) ',
      el('span', { class: 'cell missing' }, '✕'), ' missing ',
      el('span', { class: 'cell none' }, ''), ' nothing expected or known'),
    notes.length ? el('ul', { class: 'gap-list' }, notes) : el('p', { class: 'muted' }, 'No gaps in these 7 days.'));
}

function chartPanel(deviceId, sources, params) {
  const canvas = el('canvas', { id: 'chart', role: 'img', 'aria-label': 'chart of the chosen field' });
  const note = el('p', { id: 'chart-note', 'aria-live': 'polite' });
  const sourceSelect = el('select', { id: 'chart-source' },
    sources.map((s) => el('option', { value: s, selected: s === params.source }, s)));
  const fieldSelect = el('select', { id: 'chart-field' });
  const rangeSelect = el('select', { id: 'chart-range' },
    RANGES.map(([label, ms]) => el('option', { value: ms, selected: label === (params.range || '24h') },
      `last ${label}`)));
  const form = el('form', { class: 'controls', id: 'chart-form' },
    el('label', { for: 'chart-source' }, 'Source '), sourceSelect,
    el('label', { for: 'chart-field' }, 'Field '), fieldSelect,
    el('label', { for: 'chart-range' }, 'Range '), rangeSelect);
  const panel = el('section', { 'aria-labelledby': 'chart-title' },
    el('h2', { id: 'chart-title' }, 'Chart'), form, el('div', { class: 'chart-box' }, canvas), note);

  function span() {
    const to = Date.now();
    return { from: to - Number(rangeSelect.value), to };
  }
  async function fields() {
    const { from, to } = span();
    const s = await api(`/api/v1/devices/${encodeURIComponent(deviceId)}/series?` +
      query({ source: sourceSelect.value, from: from - 30 * DAY, to }));
    replace(fieldSelect, s.fields.map((f) => el('option', { value: f, selected: f === params.field }, f)));
  }
  let attached;  // Chart.js sizes the canvas from its box: draw once it is in the page
  const inPage = new Promise((done) => { attached = done; });
  let generation = 0;  // a newer choice wins over an answer still on its way
  async function draw(field = fieldSelect.value) {
    const mine = ++generation;
    if (!field) {
      replace(note, 'No numeric field in this source\'s newest readings.');
      return;
    }
    const { from, to } = span();
    const series = await api(`/api/v1/devices/${encodeURIComponent(deviceId)}/series?` +
      query({ source: sourceSelect.value, field, from, to, points: POINTS }));
    await inPage;
    if (mine !== generation) return;
    drawLine(canvas, series, field);
    replace(note, `${series.count} readings in ${series.buckets.length} buckets of ` +
      `${Math.round(series.bucket_ms / 1000)} s, ${utc(from)} to ${utc(to)}`);
    Object.assign(canvas.dataset, { from, to, source: sourceSelect.value, field, range: rangeSelect.value });
    await new Promise((done) => requestAnimationFrame(done));  // marked at the next paint
    performance.mark('chart-rendered');
  }
  const shown = (work) => work.catch((e) => replace(note, errorBox(String(e.message || e))));
  sourceSelect.addEventListener('change', () => shown(fields().then(() => draw())));
  fieldSelect.addEventListener('change', () => shown(draw()));
  rangeSelect.addEventListener('change', () => shown(draw()));
  // A field named in the link is drawn while the field list loads, not after it.
  let ready = Promise.resolve();
  if (sources.length && params.field && sources.includes(params.source)) {
    ready = shown(Promise.all([fields(), draw(params.field)]));
  } else if (sources.length) {
    ready = shown(fields().then(() => draw()));
  }
  return { panel, ready, attached };
}

function eventsTable(events) {
  if (!events.length) return el('p', {}, 'No events.');
  return el('div', { class: 'table-wrap' }, el('table', { id: 'events' },
    el('thead', {}, el('tr', {}, ['When', 'Kind', 'Detail'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, events.map((e) => el('tr', {},
      el('td', {}, utc(e.at)), el('td', {}, e.kind), el('td', { class: 'detail' }, e.detail || e.key))))));
}

export function devicePage(container, deviceId, onAuthError, params = {}) {
  const base = `/api/v1/devices/${encodeURIComponent(deviceId)}`;
  replace(container, el('p', {}, 'Loading…'));
  let timer = null;
  async function load() {
    const device = await api(base);
    const sources = device.sources.map((s) => s.source);
    const from = Math.floor(Date.now() / DAY) * DAY - 6 * DAY;  // 7 UTC days, today last
    const chart = chartPanel(deviceId, sources, params);  // its requests start now
    const [strips, events, archived] = await Promise.all([
      Promise.all(sources.map((s) => api(`${base}/coverage/hours?${query({ source: s, from, hours: 168 })}`))),
      api(`${base}/events?limit=20`),
      api(`/api/v1/messages?${query({ device: deviceId, limit: 1 })}`),
    ]);
    const statusBox = el('div', {}, statusPanel(device));
    const eventsBox = el('div', {}, eventsTable(events.events));
    replace(container,
      el('p', {}, el('a', { href: '#/' }, '← Fleet')),
      el('h1', {}, 'Device ', el('span', { id: 'device-name' }, device.device)),
      el('p', { class: 'muted' }, `first seen ${utc(device.first_seen)}, last segment ${ago(device.last_seen, Date.now())}, ` +
        `${device.segments} segments, ${device.readings} readings, ${device.rejected} rejected`),
      archived.messages.length ? el('p', {}, el('a', { href: messagesHash({ device: deviceId }), id: 'device-messages' },
        'Archived MQTT messages of this device')) : null,
      el('section', { 'aria-labelledby': 'status-title' }, el('h2', { id: 'status-title' }, 'Last status'), statusBox),
      el('section', { 'aria-labelledby': 'coverage-title' }, el('h2', { id: 'coverage-title' }, 'Coverage'),
        strips.map((h) => strip(h.source, h.hours))),
      chart.panel,
      eagleView(deviceId, device.sources),
      el('section', { 'aria-labelledby': 'events-title' }, el('h2', { id: 'events-title' }, 'Recent events'), eventsBox));
    chart.attached();
    await chart.ready;
    container.dataset.ready = 'true';
    timer = setInterval(async () => {
      try {
        const [d, ev] = await Promise.all([api(base), api(`${base}/events?limit=20`)]);
        replace(statusBox, statusPanel(d));
        replace(eventsBox, eventsTable(ev.events));
      } catch (e) {
        onAuthError(e);
      }
    }, 30000);
  }
  load().catch((e) => {
    if (!onAuthError(e)) replace(container, el('p', {}, el('a', { href: '#/' }, '← Fleet')), errorBox(String(e.message || e)));
  });
  return () => clearInterval(timer);
}
