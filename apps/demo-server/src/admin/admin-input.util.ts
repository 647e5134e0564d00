import { BadRequestException } from '@nestjs/common';

const USER_ID = /^[A-Za-z0-9_.@-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Highest `posts` count of one seed (one bundle). */
export const MAX_SEED_POSTS = 10_000;

/**
 * A trimmed, non-blank string of at most `max` characters.
 * @throws BadRequestException otherwise, or when it holds U+0000 (PostgreSQL text cannot store it).
 */
export function requiredText(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > max) {
    throw new BadRequestException(`${field} must be a non-empty string of at most ${max} characters`);
  }
  return withoutNul(value, field).trim();
}

/**
 * Any string, kept as given; `fallback` when absent.
 * @throws BadRequestException for a value that is not a string, or one holding U+0000.
 */
export function optionalText(value: unknown, field: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw new BadRequestException(`${field} must be a string`);
  return withoutNul(value, field);
}

/**
 * A JSON number that is an integer 0–{@link MAX_SEED_POSTS}; `fallback` when absent.
 * @throws BadRequestException otherwise (no coercion: `true`, `"2"` or `[3]` are refused).
 */
export function seedCount(value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_SEED_POSTS) {
    throw new BadRequestException(`posts must be an integer 0–${MAX_SEED_POSTS}`);
  }
  return value;
}

/** @throws BadRequestException unless 1–64 characters of `[A-Za-z0-9_.@-]`. */
export function userIdParam(value: string): string {
  if (!USER_ID.test(value))
    throw new BadRequestException('userId must be 1–64 characters of [A-Za-z0-9_.@-]');
  return value;
}

/** @returns the UUID in lower case. @throws BadRequestException unless a UUID. */
export function postIdParam(value: string): string {
  if (!UUID.test(value)) throw new BadRequestException('postId must be a UUID');
  return value.toLowerCase();
}

function withoutNul(value: string, field: string): string {
  // PostgreSQL text cannot hold U+0000 (SQLSTATE 22021), so the write would fail as a 500.
  if (value.includes('\u0000')) throw new BadRequestException(`${field} must not contain U+0000`);
  return value;
}
