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

export async function api(path) {
  const answer = await fetch(path, {
    headers: { Authorization: `Bearer ${token()}` },
    cache: 'no-store',
  });
  if (answer.status === 401) throw new AuthError('the reader token was refused');
  const body = await answer.json();
  if (!answer.ok) throw new Error(`${path}: ${body.error || answer.status}`);
  return body;
}

export function query(params) {
  return new URLSearchParams(params).toString();
}
