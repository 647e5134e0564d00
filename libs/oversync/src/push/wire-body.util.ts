import { validateSync } from 'class-validator';
import { SyncWireError } from '../errors/index.js';
import type { OversyncRequestState } from '../http/sync-request.types.js';
import { foldWireFields, type WireFieldNames } from './wire-field-names.util.js';

type PlainObject = Record<string, unknown>;

/** A DTO class: validation metadata hangs off its prototype. */
export type DtoClass<T extends object> = abstract new (...args: never[]) => T;

/**
 * Decodes a sync request body against a class-validator DTO with go-oversync's decoding rules:
 * an empty body or a body that is not a JSON object is a parse failure, `null` decodes as `{}`,
 * field names match case-insensitively, unknown fields are ignored, and any type mismatch is a
 * parse failure. Every failure is
 * `400 invalid_request` with the route's fixed `message` (clients branch on the code only).
 *
 * The DTO only checks the shape; the returned value is the request's own JSON (not a transformed
 * instance), so absent and `null` fields stay distinguishable and payload objects stay untouched.
 *
 * @param dto - the DTO class describing the body's types.
 * @param req - the request as the body middleware left it.
 * @param message - e.g. `Failed to parse push chunk request`.
 * @param fields - the body's field names (see {@link foldWireFields}).
 * @param prepare - optional rewrite before validation (e.g. `null` array items → `{}` like Go).
 * @returns the body typed as the DTO.
 * @throws SyncWireError `invalid_request`.
 */
export function decodeWireBody<T extends object>(
  dto: DtoClass<T>,
  req: OversyncRequestState & { body?: unknown },
  message: string,
  fields: WireFieldNames,
  prepare?: (plain: PlainObject) => PlainObject,
): T {
  if (req.oversyncEmptyBody || req.body === undefined) throw new SyncWireError('invalid_request', message);
  let plain: unknown = req.body === null ? {} : req.body;
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) {
    throw new SyncWireError('invalid_request', message);
  }
  plain = foldWireFields(plain as PlainObject, fields);
  if (prepare) plain = prepare(plain as PlainObject);
  // A shallow instance is all class-validator needs to find the DTO's metadata; a class-transformer
  // copy would walk every nested payload of a large chunk for nothing. Properties are defined, not
  // assigned: an own "__proto__" key of the JSON body must stay data, never replace the prototype
  // (which would hide the DTO's metadata and skip validation).
  const instance = Object.create(dto.prototype as object) as T;
  for (const [key, value] of Object.entries(plain as PlainObject)) {
    Object.defineProperty(instance, key, { value, enumerable: true, writable: true, configurable: true });
  }
  const errors = validateSync(instance, { forbidUnknownValues: false });
  if (errors.length > 0) throw new SyncWireError('invalid_request', message);
  return plain as T;
}
