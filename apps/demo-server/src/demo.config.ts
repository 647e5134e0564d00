/** Demo settings from the environment. */
export interface DemoConfig {
  port: number;
  jwtSecret: string;
  jwtSecretIsDefault: boolean;
  devLogin: boolean;
  adminToken: string;
  adminTokenIsDefault: boolean;
}

const DEV_SECRET = 'oversync-demo-development-secret-change-me';
const DEV_ADMIN_TOKEN = 'oversync-demo-admin';

export function demoConfig(): DemoConfig {
  const secret = process.env.JWT_SECRET?.trim();
  const adminToken = process.env.ADMIN_TOKEN?.trim();
  return {
    port: Number(process.env.PORT ?? 3000),
    jwtSecret: secret || DEV_SECRET,
    jwtSecretIsDefault: !secret,
    devLogin: (process.env.NODE_ENV ?? 'development') !== 'production',
    adminToken: adminToken || DEV_ADMIN_TOKEN,
    adminTokenIsDefault: !adminToken,
  };
}
