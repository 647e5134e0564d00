import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { wireFieldNames } from '../../push/wire-field-names.util.js';

/**
 * A JSON integer the server can hold exactly. go-oversync decodes into `int64`, so a string, a
 * boolean or a fractional number is a parse failure; JS cannot tell `1.0` from `1`, and values
 * beyond 2^53 are refused here rather than silently rounded.
 */
export function IsWireInteger(): PropertyDecorator {
  return (target, propertyKey) => {
    IsInt()(target, propertyKey);
    Min(Number.MIN_SAFE_INTEGER)(target, propertyKey);
    Max(Number.MAX_SAFE_INTEGER)(target, propertyKey);
  };
}

/** Body of `POST /sync/push-sessions`; `null` and missing fields decode as zero values, like Go. */
export class PushSessionCreateDto {
  /** Contiguous per source, starting at 1. */
  @IsOptional()
  @IsWireInteger()
  source_bundle_id?: number | null;

  /** Rows the client will upload. */
  @IsOptional()
  @IsWireInteger()
  planned_row_count?: number | null;

  /** The lease owner's id while the scope is INITIALIZING. */
  @IsOptional()
  @IsString()
  initialization_id?: string | null;
}

/** The JSON field names of {@link PushSessionCreateDto}. */
export const PUSH_SESSION_CREATE_FIELDS = wireFieldNames([
  'source_bundle_id',
  'planned_row_count',
  'initialization_id',
]);
