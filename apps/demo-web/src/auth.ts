/** A signed-in user: the dev-login token and the user id it carries in `sub`. */
export interface StoredLogin {
  userId: string;
  token: string;
}

const LOGIN_KEY = 'oversync-demo:login';

/**
 * Signs in through the demo server's development login (`POST /auth/dev-login`).
 *
 * @throws Error with the server's message when the login is refused.
 */
export async function devLogin(baseUrl: string, userId: string): Promise<StoredLogin> {
  const response = await fetch(`${baseUrl}/auth/dev-login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  const body = (await response.json().catch(() => ({}))) as {
    token?: string;
    userId?: string;
    message?: string | string[];
  };
  if (!response.ok || !body.token || !body.userId) {
    const message = Array.isArray(body.message)
      ? body.message.join(', ')
      : (body.message ?? response.statusText);
    throw new Error(`Sign-in failed: ${message}`);
  }
  return { userId: body.userId, token: body.token };
}

/** The login kept across reloads, if any. */
export function loadLogin(): StoredLogin | undefined {
  try {
    const value = JSON.parse(localStorage.getItem(LOGIN_KEY) ?? 'null') as Partial<StoredLogin> | null;
    return value?.userId && value.token ? { userId: value.userId, token: value.token } : undefined;
  } catch {
    return undefined;
  }
}

/** Keeps (or, with `undefined`, forgets) the login across reloads. */
export function saveLogin(login: StoredLogin | undefined): void {
  if (login) localStorage.setItem(LOGIN_KEY, JSON.stringify(login));
  else localStorage.removeItem(LOGIN_KEY);
}
