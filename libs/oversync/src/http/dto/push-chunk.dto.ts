import { Exclude, Type } from 'class-transformer';
import { IsArray, IsObject, IsOptional, IsString, ValidateNested } from 'class-validator';
import { IsWireInteger } from './push-session-create.dto.js';

/**
 * One uploaded row, typed the way go-oversync decodes it (`key` an object, `payload` any JSON
 * value whose presence matters). Semantic checks run afterwards, in the reference order.
 */
export class PushRowDto {
  @IsOptional()
  @IsString()
  schema?: string | null;

  @IsOptional()
  @IsString()
  table?: string | null;

  @IsOptional()
  @IsObject()
  key?: Record<string, unknown> | null;

  @IsOptional()
  @IsString()
  op?: string | null;

  @IsOptional()
  @IsWireInteger()
  base_row_version?: number | null;

  /**
   * Any JSON value; absent (undefined) differs from an explicit `null`, which counts as a payload.
   * Checked later from the raw body, so it is excluded from the (deep-copying) transform.
   */
  @Exclude()
  payload?: unknown;
}

/** Body of `POST /sync/push-sessions/{push_id}/chunks`. */
export class PushChunkDto {
  @IsOptional()
  @IsWireInteger()
  start_row_ordinal?: number | null;

  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => PushRowDto)
  rows?: PushRowDto[] | null;
}
