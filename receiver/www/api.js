// The read API with the reader's bearer token, kept in sessionStorage (this tab only, never
// in a URL).
const KEY = 'granary.reader-token';

export class AuthError extends Error {}

export function token() {
  return sessionStorage.getItem(KEY) || '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

async function get(path) {
  const answer = await fetch(path, {
    headers: { Authorization: `Bearer ${token()}` },
    cache: 'no-store',
  });
  if (answer.status === 401) throw new AuthError('the reader token was refused');
  return answer;
}

export async function api(path) {
  const answer = await get(path);
  const body = await answer.json();
  if (!answer.ok) throw new Error(`${path}: ${body.error || answer.status}`);
  return body;
}

// Raw bytes (an archived payload), fetched with the token in the header like the JSON.
export async function apiBlob(path) {
  const answer = await get(path);
  if (!answer.ok) throw new Error(`${path}: ${answer.status}`);
  return answer.blob();
}

export function query(params) {
  return new URLSearchParams(params).toString();
}
