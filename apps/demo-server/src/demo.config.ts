/** Demo settings, read from the environment by {@link demoConfig} or given to `createDemoApp`. */
export interface DemoConfig {
  /** HTTP port (`PORT`). @default 3000 */
  port: number;
  /** HS256 secret of user tokens (`JWT_SECRET`). */
  jwtSecret: string;
  /** True when `jwtSecret` is the printed development default. */
  jwtSecretIsDefault: boolean;
  /** `POST /auth/dev-login` is enabled (any `NODE_ENV` but `production`). */
  devLogin: boolean;
  /** Bearer token of the admin API (`ADMIN_TOKEN`), separate from user tokens. */
  adminToken: string;
  /** True when `adminToken` is the printed development default. */
  adminTokenIsDefault: boolean;
}

/** Injection token of the app's {@link DemoConfig}. */
export const DEMO_CONFIG = 'oversync-demo:config';

const DEV_SECRET = 'oversync-demo-development-secret-change-me';
const DEV_ADMIN_TOKEN = 'oversync-demo-admin';

/**
 * Reads the demo settings from `env`, falling back to printed development defaults.
 *
 * @param env - the environment. @default process.env
 */
export function demoConfig(env: NodeJS.ProcessEnv = process.env): DemoConfig {
  const secret = env.JWT_SECRET?.trim();
  const adminToken = env.ADMIN_TOKEN?.trim();
  return {
    port: Number(env.PORT ?? 3000),
    jwtSecret: secret || DEV_SECRET,
    jwtSecretIsDefault: !secret,
    devLogin: (env.NODE_ENV ?? 'development') !== 'production',
    adminToken: adminToken || DEV_ADMIN_TOKEN,
    adminTokenIsDefault: !adminToken,
  };
}
