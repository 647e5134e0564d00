import { IsArray, IsOptional, registerDecorator } from 'class-validator';
import { wireFieldNames } from '../../push/wire-field-names.util.js';
import { IsWireInteger } from './push-session-create.dto.js';

/**
 * One uploaded row, typed the way go-oversync decodes it (`key` an object, `payload` any JSON
 * value whose presence matters). Semantic checks run afterwards, in the reference order.
 */
export interface PushRowDto {
  schema?: string | null;
  table?: string | null;
  key?: Record<string, unknown> | null;
  op?: string | null;
  base_row_version?: number | null;
  /** Any JSON value; absent (undefined) differs from an explicit `null`, which counts as a payload. */
  payload?: unknown;
}

const optionalString = (v: unknown): boolean => v === undefined || v === null || typeof v === 'string';
const optionalObject = (v: unknown): boolean =>
  v === undefined || v === null || (typeof v === 'object' && !Array.isArray(v));
const optionalWireInteger = (v: unknown): boolean =>
  v === undefined || v === null || (typeof v === 'number' && Number.isSafeInteger(v));

/** True when `row` has go-oversync's row field types (missing and `null` fields are zero values). */
export function isPushRowShape(row: unknown): row is PushRowDto {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) return false;
  const r = row as Record<string, unknown>;
  return (
    optionalString(r.schema) &&
    optionalString(r.table) &&
    optionalObject(r.key) &&
    optionalString(r.op) &&
    optionalWireInteger(r.base_row_version)
  );
}

/**
 * Type check of every row of a chunk, as one class-validator constraint. A chunk carries up to
 * thousands of rows, and nested DTO instances (`@ValidateNested` + `@Type`) cost more than the
 * rest of the request; the row fields are few and flat, so a direct check is enough.
 */
function ArePushRows(): PropertyDecorator {
  return (target, propertyKey) =>
    registerDecorator({
      name: 'arePushRows',
      target: target.constructor,
      propertyName: String(propertyKey),
      validator: {
        validate: (value: unknown) => !Array.isArray(value) || value.every(isPushRowShape),
      },
    });
}

/** Body of `POST /sync/push-sessions/{push_id}/chunks`. */
export class PushChunkDto {
  @IsOptional()
  @IsWireInteger()
  start_row_ordinal?: number | null;

  @IsOptional()
  @IsArray()
  @ArePushRows()
  rows?: PushRowDto[] | null;
}

/** The JSON field names of {@link PushChunkDto}. */
export const PUSH_CHUNK_FIELDS = wireFieldNames(['start_row_ordinal', 'rows']);

/** The JSON field names of {@link PushRowDto} (`key` and `payload` are maps: their keys stay as sent). */
export const PUSH_ROW_FIELDS = wireFieldNames([
  'schema',
  'table',
  'key',
  'op',
  'base_row_version',
  'payload',
]);
