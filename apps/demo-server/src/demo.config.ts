/** Demo settings from the environment. */
export interface DemoConfig {
  port: number;
  jwtSecret: string;
  jwtSecretIsDefault: boolean;
  devLogin: boolean;
}

const DEV_SECRET = 'oversync-demo-development-secret-change-me';

export function demoConfig(): DemoConfig {
  const secret = process.env.JWT_SECRET?.trim();
  return {
    port: Number(process.env.PORT ?? 3000),
    jwtSecret: secret || DEV_SECRET,
    jwtSecretIsDefault: !secret,
    devLogin: (process.env.NODE_ENV ?? 'development') !== 'production',
  };
}
