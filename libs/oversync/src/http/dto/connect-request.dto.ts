import { IsBoolean, IsOptional } from 'class-validator';
import { wireFieldNames } from '../../push/wire-field-names.util.js';

/**
 * Body of `POST /sync/connect`, typed the way go-oversync decodes it: a JSON `null` or a missing
 * field means `false`; any other type is a parse failure. Other fields (e.g. `source_id`) are ignored.
 */
export class ConnectRequestDto {
  /** Whether the client holds local rows it wants to seed the scope with. */
  @IsOptional()
  @IsBoolean()
  has_local_pending_rows?: boolean | null;
}

/** The JSON field names of {@link ConnectRequestDto}. */
export const CONNECT_REQUEST_FIELDS = wireFieldNames(['has_local_pending_rows']);
