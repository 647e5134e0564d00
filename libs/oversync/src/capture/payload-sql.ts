import { canonicalJsonString, compareUtf8 } from '@oversync/protocol';
import { quoteIdent } from '../schema/trigger.ddl.js';
import { isScopeColumn } from './wire-payload.util.js';

/** One column of a registered table as the catalog reports it right now. */
export interface ColumnDescriptor {
  name: string;
  /**
   * `pg_type.typname` of the base type (domains resolved at any depth); `user-type:<name>` for a
   * type outside `pg_catalog` (see `typeChainSql`), which renders through the generic branch.
   */
  baseType: string;
  /**
   * PostgreSQL computes the column itself (`GENERATED ALWAYS AS … STORED`, or an identity
   * `GENERATED ALWAYS`), so a write may not name it. Only read where writes are planned.
   */
  serverComputed?: boolean;
}

/** SQL string literal (standard_conforming_strings: only quotes are doubled). */
export function sqlLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

// JS `Number` round trip of an int8 is exact up to 2^53; beyond it the value goes through float64,
// exactly as JSON.parse (and Go's float64 decoding) would take it.
const INT53 = '9007199254740992';

/**
 * SQL rendering one column value as canonical JSON, byte-identical to what the Node canonicaliser
 * makes of the same column in `row_to_json(t)` (after the wire rewrite of bytea to base64): numbers
 * through float64, strings Go-escaped, nested JSON with sorted keys. NULL stays NULL here. A number
 * beyond float64's range is refused by name of `column` (the canonicaliser cannot render it either).
 */
function valueSql(column: ColumnDescriptor, ref: string, owner: string): string {
  // Only names a refused value in its error message, so the table is there too.
  const name = sqlLiteral(owner ? `${owner}.${column.name}` : column.name);
  switch (column.baseType) {
    case 'int2':
    case 'int4':
      return `${ref}::text`;
    case 'int8':
      return `CASE WHEN ${ref} BETWEEN -${INT53} AND ${INT53} THEN ${ref}::text ELSE sync.js_number(${ref}::float8) END`;
    case 'float8':
      return `sync.js_number(${ref}::float8)`;
    // float4 and numeric reach JSON as their text, which JSON.parse reads as a float64 (a numeric
    // may underflow to 0 or overflow it).
    case 'float4':
      return `sync.js_number(${ref}::text::float8)`;
    case 'numeric':
      return `sync.numeric_json_number(${ref}::numeric, ${name})`;
    case 'bool':
      return `CASE WHEN ${ref} THEN 'true' WHEN NOT ${ref} THEN 'false' END`;
    case 'uuid':
      return `'"' || ${ref}::text || '"'`;
    case 'bytea':
      return `'"' || translate(encode(${ref}::bytea, 'base64'), E'\\n', '') || '"'`;
    case 'json':
      return `sync.canonical_json(${ref}::json, ${name})`;
    case 'jsonb':
      return `sync.canonical_jsonb(${ref}::jsonb, ${name})`;
    case 'text':
    case 'varchar':
    case 'bpchar':
    case 'name':
    case 'citext':
      // to_json, not ::text: a char(n) cast to text would lose its padding. Go's extra escapes
      // are applied once to the whole payload (see payloadSql).
      return `pg_catalog.to_json(${ref})::text`;
    case 'timestamptz':
    case 'timestamp':
    case 'date':
    case 'time':
    case 'timetz':
    case 'interval':
      // JSON renderings of these hold only digits, signs, letters and punctuation Go leaves alone.
      return `pg_catalog.to_json(${ref})::text`;
    default:
      // Arrays, composites, enums, ranges, network types…: to_json renders values exactly as
      // row_to_json does, then the canonicaliser sorts and re-renders. Not to_jsonb: jsonb numbers
      // are numeric, which turns a float8 -0 in an array or composite into 0.
      return `sync.canonical_json(pg_catalog.to_json(${ref}), ${name})`;
  }
}

/**
 * The SQL expression of a row's canonical payload text (`{"col":value,…}`, columns in UTF-8 byte
 * order, the scope column left out) over table alias `alias`.
 *
 * Go's extra escapes (`<`, `>`, `&`, U+2028, U+2029) are applied once to the finished payload
 * rather than to every string value: those characters can only occur inside JSON strings here
 * (numbers, uuids, dates and booleans never hold them; column names and nested JSON arrive already
 * escaped, and escaping is idempotent), and one pass over the payload costs about half of one pass
 * per text column.
 *
 * @param owner - `schema.table`, named with the column when a value cannot be rendered.
 */
export function payloadSql(columns: readonly ColumnDescriptor[], alias: string, owner = ''): string {
  return `sync.go_escape(${unescapedPayloadSql(columns, alias, owner)})`;
}

/**
 * {@link payloadSql} without the final pass of Go's extra escapes, for text that gets that pass
 * later anyway (snapshot blocks are escaped as they are served, text keys included): the pass is
 * about a third of rendering a typical row.
 */
export function unescapedPayloadSql(columns: readonly ColumnDescriptor[], alias: string, owner = ''): string {
  const visible = columns.filter((c) => !isScopeColumn(c.name)).sort((a, b) => compareUtf8(a.name, b.name));
  if (visible.length === 0) return `'{}'`;
  const parts = visible.map((c, i) => {
    const prefix = sqlLiteral(`${i === 0 ? '{' : ','}${canonicalJsonString(c.name)}:`);
    return `${prefix}, COALESCE(${valueSql(c, `${alias}.${quoteIdent(c.name)}`, owner)}, 'null')`;
  });
  // One concat() builds the text once; a chain of || copies the growing prefix at every step.
  // Built-ins that take "any" or polymorphic arguments are schema-qualified throughout the
  // generated SQL: a host function with an exact signature (say to_json(text)) in a schema on the
  // host's search_path would otherwise win over them. The search_path itself is left alone, because
  // the host's row-level security policies run under it while we read its rows.
  return `pg_catalog.concat(${parts.join(',\n ')}, '}')`;
}
