/**
 * The demo's settings cannot be used: a blank secret, an invalid `PORT`, or the public development
 * defaults under `NODE_ENV=production`. The message names the setting and how to fix it.
 */
export class DemoConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
