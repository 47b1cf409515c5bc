// The fleet page: every device with its MQTT state, backlog and gaps; sort, filter, and a
// refresh every 15 s without reloading the page.
import { api } from './api.js';
import { ago, bytes, el, errorBox, replace, utc } from './view.js';

const REFRESH_MS = 15000;
const LATE_CHOICES = [[5, '5 min'], [15, '15 min'], [60, '1 h'], [360, '6 h'], [1440, '24 h']];

const COLUMNS = [
  ['device', 'Device', (d) => d.device],
  ['online', 'Link', (d) => (d.online ? 1 : 0)],
  ['state', 'State', (d) => d.state],
  ['last_seen', 'Last seen', (d) => d.heard],
  ['backlog', 'Backlog', (d) => d.backlog],
  ['readings_today', 'Readings today', (d) => d.readings_today || 0],
  ['unexplained_missing', 'Unexplained gaps', (d) => d.unexplained_missing || 0],
];

// What the row shows, from the API's device object.
function describe(d, now, lateMs) {
  const status = d.status || {};
  const buffer = status.buffer || {};
  const heard = Math.max(d.last_seen || 0, d.status_at || 0);
  const hasStatus = !!d.status;
  return {
    ...d,
    state: hasStatus ? String(status.state || 'unknown') : 'no status',
    reasons: Array.isArray(status.degraded_reasons) ? status.degraded_reasons.map(String) : [],
    reported_as: typeof status.device === 'string' && status.device !== d.device ? status.device : '',
    online: hasStatus && d.online,
    heard,
    late: now - heard > lateMs,
    backlog: Number(buffer.segments_sealed || 0),
    backlog_bytes: Number(buffer.pending_bytes || 0),
  };
}

function row(d, now) {
  const alerts = [];
  if (d.status && !d.online) alerts.push(el('span', { class: 'badge bad' }, '⚠ offline'));
  if (d.late) alerts.push(el('span', { class: 'badge warn' }, `⏱ late: ${ago(d.heard, now)}`));
  if (d.unexplained_missing > 0) alerts.push(el('span', { class: 'badge bad' }, '✕ gaps'));
  const link = el('a', { href: `#/device/${encodeURIComponent(d.device)}` }, d.device);
  return el('tr', {
    class: [d.status && !d.online ? 'offline' : '', d.late ? 'late' : ''].join(' ').trim(),
    dataset: { device: d.device },
  },
  el('th', { scope: 'row', 'data-col': 'device' }, link,
    d.reported_as ? el('span', { class: 'muted reported' }, ' reports as ', d.reported_as) : null,
    alerts.length ? el('div', { class: 'alerts' }, alerts) : null),
  el('td', { 'data-col': 'online' }, d.status ? (d.online ? 'online' : 'offline') : '—'),
  el('td', { 'data-col': 'state' }, d.state,
    d.reasons.length ? el('ul', { class: 'reasons' }, d.reasons.map((r) => el('li', {}, r))) : null),
  el('td', { 'data-col': 'last_seen', title: utc(d.heard) }, ago(d.heard, now)),
  el('td', { 'data-col': 'backlog', class: 'num' },
    `${d.backlog} seg`, d.backlog_bytes ? ` (${bytes(d.backlog_bytes)})` : ''),
  el('td', { 'data-col': 'readings_today', class: 'num' }, String(d.readings_today ?? '…')),
  el('td', { 'data-col': 'unexplained_missing', class: 'num' }, String(d.unexplained_missing ?? '…')));
}

const FILTERS = {
  all: () => true,
  attention: (d) => (d.status && !d.online) || d.late || d.unexplained_missing > 0 ||
    d.reasons.length > 0,
  offline: (d) => d.status && !d.online,
  late: (d) => d.late,
  gaps: (d) => d.unexplained_missing > 0,
};

export function fleetPage(container, onAuthError) {
  const settings = JSON.parse(sessionStorage.getItem('granary.fleet') || '{}');
  const state = {
    sort: settings.sort || 'device',
    desc: !!settings.desc,
    filter: settings.filter || 'all',
    text: '',
    lateMin: settings.lateMin || 15,
    data: null,
  };
  const save = () => sessionStorage.setItem('granary.fleet',
    JSON.stringify({ sort: state.sort, desc: state.desc, filter: state.filter, lateMin: state.lateMin }));

  const tbody = el('tbody');
  const summary = el('p', { id: 'fleet-summary', 'aria-live': 'polite' });
  const message = el('div');
  const heads = COLUMNS.map(([key, label]) => {
    const button = el('button', { type: 'button', class: 'sort', onclick: () => {
      state.desc = state.sort === key ? !state.desc : false;
      state.sort = key;
      save();
      draw();
    } }, label);
    return el('th', { scope: 'col', 'data-col': key }, button);
  });
  const search = el('input', { id: 'fleet-search', type: 'search', placeholder: 'device or reason',
    oninput: (e) => { state.text = e.target.value.toLowerCase(); draw(); } });
  const filter = el('select', { id: 'fleet-filter', onchange: (e) => {
    state.filter = e.target.value; save(); draw();
  } }, Object.keys(FILTERS).map((f) => el('option', { value: f, selected: f === state.filter }, f)));
  const late = el('select', { id: 'fleet-late', onchange: (e) => {
    state.lateMin = Number(e.target.value); save(); draw();
  } }, LATE_CHOICES.map(([m, label]) => el('option', { value: m, selected: m === state.lateMin }, label)));

  replace(container,
    el('h1', {}, 'Fleet'),
    el('div', { class: 'controls' },
      el('label', { for: 'fleet-search' }, 'Find '), search,
      el('label', { for: 'fleet-filter' }, 'Show '), filter,
      el('label', { for: 'fleet-late' }, 'Late after '), late),
    summary, message,
    el('div', { class: 'table-wrap' },
      el('table', { id: 'fleet', class: 'fleet' },
        el('caption', { class: 'visually-hidden' }, 'Devices; select a column title to sort'),
        el('thead', {}, el('tr', {}, heads)), tbody)));

  function draw() {
    if (!state.data) return;
    const now = state.data.now || Date.now();
    const lateMs = state.lateMin * 60000;
    const key = COLUMNS.find(([k]) => k === state.sort) || COLUMNS[0];
    let devices = state.data.devices.map((d) => describe(d, now, lateMs))
      .filter(FILTERS[state.filter] || FILTERS.all)
      .filter((d) => !state.text || d.device.toLowerCase().includes(state.text) ||
        d.reasons.some((r) => r.toLowerCase().includes(state.text)));
    devices.sort((a, b) => {
      const x = key[2](a), y = key[2](b);
      const order = typeof x === 'string' ? x.localeCompare(y) : x - y;
      return state.desc ? -order : order;
    });
    replace(tbody, devices.map((d) => row(d, now)));
    heads.forEach((th) => th.setAttribute('aria-sort', th.dataset.col === state.sort
      ? (state.desc ? 'descending' : 'ascending') : 'none'));
    const all = state.data.devices.map((d) => describe(d, now, lateMs));
    const offline = all.filter(FILTERS.offline).length, lateCount = all.filter(FILTERS.late).length;
    replace(summary, `${all.length} devices: ${offline} offline, ${lateCount} late, ` +
      `${all.filter(FILTERS.gaps).length} with unexplained gaps. Showing ${devices.length}.`);
  }

  // The first load shows the list at once and fills the gap and today columns from the
  // summary (one coverage query per source, slower on a large fleet) when it comes.
  let first = true;
  async function load() {
    try {
      if (first) {
        state.data = await api('/api/v1/devices');
        replace(message);
        draw();
        first = false;
        requestAnimationFrame(() => performance.mark('fleet-rendered'));  // at the next paint
      }
      state.data = await api('/api/v1/devices?summary=1');
      replace(message);
      draw();
      const table = tbody.closest('table');
      if (!table.dataset.summary) performance.mark('fleet-summary');
      table.dataset.summary = 'true';
      document.getElementById('refreshed').textContent = `updated ${utc(Date.now())}`;
    } catch (e) {
      if (!onAuthError(e)) replace(message, errorBox(String(e.message || e)));
    }
  }
  load();
  const timer = setInterval(load, REFRESH_MS);
  return () => clearInterval(timer);
}
