import { DemoConfigError } from './demo-config.error.js';

/** Demo settings, read from the environment by {@link demoConfig} or given to `createDemoApp`. */
export interface DemoConfig {
  /** HTTP port (`PORT`). @default 3000 */
  port: number;
  /** HS256 secret of user tokens (`JWT_SECRET`); never blank. */
  jwtSecret: string;
  /** True when `jwtSecret` is the printed development default. */
  jwtSecretIsDefault: boolean;
  /** `POST /auth/dev-login` is enabled (any `NODE_ENV` but `production`). */
  devLogin: boolean;
  /** Bearer token of the admin API (`ADMIN_TOKEN`), separate from user tokens; never blank. */
  adminToken: string;
  /** True when `adminToken` is the printed development default. */
  adminTokenIsDefault: boolean;
}

/** Settings given in code; each one set here wins over the environment. */
export interface DemoConfigOverrides {
  port?: number;
  jwtSecret?: string;
  adminToken?: string;
  devLogin?: boolean;
}

/** Injection token of the app's {@link DemoConfig}. */
export const DEMO_CONFIG = 'oversync-demo:config';

const DEV_SECRET = 'oversync-demo-development-secret-change-me';
const DEV_ADMIN_TOKEN = 'oversync-demo-admin';

/**
 * Resolves the demo settings: `overrides` first, then `env`, then printed development defaults
 * (a blank variable counts as unset).
 *
 * @param env - the environment. @default process.env
 * @param overrides - settings given in code (`createDemoApp` options).
 * @throws DemoConfigError when an override secret is blank, `PORT` is not a port number, or
 *   `NODE_ENV=production` would use a development default (they are public: in the source and
 *   printed at start-up).
 */
export function demoConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: DemoConfigOverrides = {},
): DemoConfig {
  const jwtSecret = pick('jwtSecret', overrides.jwtSecret, env.JWT_SECRET);
  const adminToken = pick('adminToken', overrides.adminToken, env.ADMIN_TOKEN);
  const production = env.NODE_ENV === 'production';
  // A public default set explicitly (copied from the README's curl lines, say) is as open as an
  // unset one.
  const publicJwt = jwtSecret === undefined || jwtSecret === DEV_SECRET;
  const publicAdmin = adminToken === undefined || adminToken === DEV_ADMIN_TOKEN;
  if (production && (publicJwt || publicAdmin)) {
    const missing = [publicJwt && 'JWT_SECRET', publicAdmin && 'ADMIN_TOKEN'].filter(
      (name) => name !== false,
    );
    const names = missing.join(' and ');
    throw new DemoConfigError(
      `NODE_ENV=production but ${names} ${missing.length > 1 ? 'are' : 'is'} not set (or set to the ` +
        'development default), and the development ' +
        `defaults are public. Fix: set ${names} (long random values, e.g. \`openssl rand -hex 32\`), ` +
        'or unset NODE_ENV for local development.',
    );
  }
  return {
    port: overrides.port ?? parsePort('PORT', env.PORT, 3000, 0),
    jwtSecret: jwtSecret ?? DEV_SECRET,
    jwtSecretIsDefault: jwtSecret === undefined,
    devLogin: overrides.devLogin ?? !production,
    adminToken: adminToken ?? DEV_ADMIN_TOKEN,
    adminTokenIsDefault: adminToken === undefined,
  };
}

/** An explicit value must not be blank: an empty HMAC key or admin token would let anyone in. */
function pick(name: string, override: string | undefined, fromEnv: string | undefined): string | undefined {
  if (override !== undefined) {
    if (override.trim() === '') {
      throw new DemoConfigError(
        `the ${name} option is blank. Fix: pass a long random value, or omit it to use the environment.`,
      );
    }
    return override;
  }
  return fromEnv?.trim() || undefined;
}

/**
 * Reads a port setting; blank counts as unset, like the secrets.
 *
 * @param name - the environment variable, for the message.
 * @param min - the lowest accepted port (0 lets the OS pick one, which only a listener can use).
 * @throws DemoConfigError when `value` is not an integer in `min`–65535.
 */
export function parsePort(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined || value.trim() === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < min || port > 65535) {
    throw new DemoConfigError(
      `${name}=${value} is not a port number. Fix: set ${name} to ${min}–65535, or unset it.`,
    );
  }
  return port;
}
