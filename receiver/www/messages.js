// Archived MQTT messages: a list filtered by device, topic and UTC time range, paged with the
// API's cursor (#/messages?device=&topic=&from=&to=&cursor=), and one message's detail
// (#/message/{uuid}) with its payload as text or as a hex dump. Topics, properties and
// payloads come from devices: all of it goes into text nodes.
import { api, apiBlob, query } from './api.js';
import { bytes, el, errorBox, replace, utc } from './view.js';

export const PAGE = 50;

// "2025-11-30T00:00[:00]" from a datetime-local input, read as UTC, for the API's from/to.
function apiTime(value) {
  if (!value) return '';
  return `${value.length === 16 ? `${value}:00` : value}Z`;
}

function inputTime(value) {
  return (value || '').replace(/Z$/, '');
}

export function messagesHash(params) {
  const kept = Object.fromEntries(Object.entries(params).filter(([, v]) => v));
  const q = query(kept);
  return q ? `#/messages?${q}` : '#/messages';
}

function filterForm(params) {
  // A label stays beside its field when the form wraps at 360 px.
  const field = (id, label, props) => el('span', { class: 'field' }, el('label', { for: id }, label),
    el('input', { id, ...props }));
  const form = el('form', { class: 'controls', id: 'messages-form' },
    field('msg-device', 'Device ', { value: params.device || '', autocomplete: 'off', size: 10 }),
    field('msg-topic', 'Topic ', { value: params.topic || '', autocomplete: 'off', size: 18,
      placeholder: 'exact topic' }),
    field('msg-from', 'From (UTC) ', { type: 'datetime-local', step: 1, value: inputTime(params.from) }),
    field('msg-to', 'To (UTC) ', { type: 'datetime-local', step: 1, value: inputTime(params.to) }),
    el('button', { type: 'submit' }, 'Show'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = (id) => document.getElementById(id).value.trim();
    location.hash = messagesHash({ device: value('msg-device'), topic: value('msg-topic'),
      from: apiTime(value('msg-from')), to: apiTime(value('msg-to')) });
  });
  return form;
}

function listTable(messages) {
  if (!messages.length) return el('p', { id: 'messages-empty' }, 'No archived messages match.');
  return el('div', { class: 'table-wrap' }, el('table', { id: 'messages', class: 'messages' },
    el('thead', {}, el('tr', {}, ['Time (UTC)', 'Device', 'Topic', 'Seq'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, messages.map((m) => el('tr', { dataset: { id: m.id } },
      el('td', { class: 'when' }, el('a', { href: `#/message/${m.id}` }, utc(m.ts))),
      el('td', {}, m.device),
      el('td', { class: 'topic' }, m.topic),
      el('td', { class: 'num' }, String(m.seq)))))));
}

export function messagesPage(container, onAuthError, params = {}) {
  replace(container, el('p', {}, 'Loading…'));
  const filter = { device: params.device, topic: params.topic, from: params.from, to: params.to };
  async function load() {
    const page = await api(`/api/v1/messages?${query(
      Object.fromEntries(Object.entries({ ...filter, cursor: params.cursor, limit: PAGE }).filter(([, v]) => v)))}`);
    const nav = el('p', { class: 'pager' },
      params.cursor ? el('a', { href: messagesHash(filter), id: 'messages-first' }, '« First page') : null,
      params.cursor ? ' ' : null,
      page.next_cursor ? el('a', { href: messagesHash({ ...filter, cursor: page.next_cursor }), id: 'messages-next' },
        'Next page »') : null);
    replace(container,
      el('p', {}, el('a', { href: '#/' }, '← Fleet')),
      el('h1', {}, 'Archived messages'),
      filterForm(params),
      el('p', { class: 'muted', id: 'messages-count', 'aria-live': 'polite' },
        `${page.messages.length} message${page.messages.length === 1 ? '' : 's'} on this page` +
        (page.next_cursor ? ', more on the next' : '')),
      listTable(page.messages),
      nav);
    container.dataset.ready = 'true';
  }
  load().catch((e) => {
    if (!onAuthError(e)) {
      replace(container, el('p', {}, el('a', { href: '#/' }, '← Fleet')), el('h1', {}, 'Archived messages'),
        filterForm(params), errorBox(String(e.message || e)));
      container.dataset.ready = 'true';
    }
  });
  return () => {};
}

function fromBase64(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) out[i] = raw.charCodeAt(i);
  return out;
}

const hex2 = (b) => b.toString(16).padStart(2, '0');

// 16 bytes a line: offset, the bytes in hex, and printable ASCII (others as '.').
export function hexDump(data) {
  const lines = [];
  for (let at = 0; at < data.length; at += 16) {
    const row = Array.from(data.subarray(at, at + 16));
    const hexes = row.map(hex2).join(' ').padEnd(47, ' ');
    const ascii = row.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${at.toString(16).padStart(8, '0')}  ${hexes}  ${ascii}`);
  }
  return lines.join('\n');
}

function facts(m) {
  const h = m.headers || {};
  const rows = [
    ['Topic', m.topic],
    ['Device', m.device],
    ['Source', m.source],
    ['Time', `${utc(m.ts)} (${m.ts} ms)${m.clock === 'unsynced' ? ', device clock not synchronised' : ''}`],
    ['Seq', String(m.seq)],
    ['QoS', String(m.qos)],
    ['Retain', m.retain ? 'yes' : 'no'],
    ['Duplicate delivery', m.dup ? 'yes' : 'no'],
    ['Content type', h.content_type],
    ['Payload format', h.payload_format === undefined ? undefined : String(h.payload_format)],
    ['Response topic', h.response_topic],
    ['Correlation data (base64)', h.correlation_data_base64],
    ['Message expiry', h.message_expiry === undefined ? undefined : `${h.message_expiry} s`],
    ['Stored in', `${m.bucket}/${m.key} at ${m.offset}, ${m.length} bytes`],
  ].filter(([, v]) => v !== undefined);
  return el('dl', { class: 'facts', id: 'message-facts' },
    rows.map(([k, v]) => [el('dt', {}, k), el('dd', { dataset: { fact: k } }, v)]));
}

function properties(list) {
  if (!list || !list.length) return el('p', {}, 'No user properties.');
  return el('div', { class: 'table-wrap' }, el('table', { id: 'user-properties' },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Name'), el('th', { scope: 'col' }, 'Value'))),
    el('tbody', {}, list.map(([name, value]) => el('tr', {}, el('td', {}, name), el('td', {}, value))))));
}

async function download(id, status) {
  // The token goes in a header, never in a URL: fetched here, saved from a Blob URL.
  const blob = await apiBlob(`/api/v1/messages/${id}/payload`);
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: `${id}.payload`, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  replace(status, `Saved ${bytes(blob.size)} as ${id}.payload.`);
}

function payloadPanel(m, onAuthError) {
  const data = fromBase64(m.payload_base64);
  const hasText = typeof m.payload_text === 'string';
  const textView = el('pre', { id: 'payload-text', class: 'payload text', tabindex: 0,
    'aria-label': 'payload as text' }, hasText ? m.payload_text : '');
  const hexView = el('pre', { id: 'payload-hex', class: 'payload hex', tabindex: 0,
    'aria-label': 'payload as hex dump' }, hexDump(data));
  const textButton = el('button', { type: 'button', id: 'show-text', disabled: !hasText }, 'Text');
  const hexButton = el('button', { type: 'button', id: 'show-hex' }, 'Hex');
  function show(asText) {
    textView.hidden = !asText;
    hexView.hidden = asText;
    textButton.setAttribute('aria-pressed', String(asText));
    hexButton.setAttribute('aria-pressed', String(!asText));
  }
  textButton.addEventListener('click', () => show(true));
  hexButton.addEventListener('click', () => show(false));
  show(hasText);
  const status = el('span', { id: 'download-status', 'aria-live': 'polite' });
  const saveButton = el('button', { type: 'button', id: 'download' }, 'Download raw payload');
  saveButton.addEventListener('click', () => download(m.id, status).catch((e) => {
    if (!onAuthError(e)) replace(status, errorBox(String(e.message || e)));
  }));
  return el('section', { 'aria-labelledby': 'payload-title' },
    el('h2', { id: 'payload-title' }, 'Payload'),
    el('p', { class: 'muted', id: 'payload-note' }, `${bytes(m.payload_bytes)} (${m.payload_bytes} bytes)` +
      (hasText ? ', valid UTF-8' : ', not text (binary, NUL or invalid UTF-8): hex only')),
    el('div', { class: 'controls', role: 'group', 'aria-label': 'payload view' }, textButton, hexButton,
      saveButton, status),
    textView, hexView);
}

export function messagePage(container, id, onAuthError) {
  replace(container, el('p', {}, 'Loading…'));
  const back = () => el('p', {}, el('a', { href: '#/messages' }, '← Messages'));
  async function load() {
    const m = await api(`/api/v1/messages/${encodeURIComponent(id)}`);
    replace(container,
      el('p', {}, el('a', { href: messagesHash({ device: m.device, topic: m.topic }) }, '← Messages on this topic')),
      el('h1', {}, 'Message ', el('span', { id: 'message-id', class: 'mono' }, m.id)),
      facts(m),
      el('section', { 'aria-labelledby': 'props-title' }, el('h2', { id: 'props-title' }, 'User properties'),
        properties((m.headers || {}).user_properties)),
      payloadPanel(m, onAuthError));
    container.dataset.ready = 'true';
  }
  load().catch((e) => {
    if (!onAuthError(e)) {
      replace(container, back(), errorBox(String(e.message || e)));
      container.dataset.ready = 'true';
    }
  });
  return () => {};
}
