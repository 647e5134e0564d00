/**
 * SQL functions that render values exactly as go-oversync's canonical JSON does (and as
 * `@oversync/protocol`'s `canonicalJson` does in Node), so finalisation can build payloads and the
 * bundle hash inside PostgreSQL without shipping every row image to Node and back.
 *
 * - `sync.js_number(float8)`: a float64 as Go / ECMAScript print it (shortest round-trip digits,
 *   plain notation for 1e-7 < |x| < 1e21, `1e+21` / `1e-7` style outside, `-0` kept). NaN and
 *   ±Infinity become the JSON strings `row_to_json` gives them. Relies on `extra_float_digits >= 1`
 *   (pinned by `sync.lock_scope`), which makes `float8out` print the shortest round-trip digits.
 * - `sync.go_escape(json text)` / `sync.go_json_string(text)`: Go's string escaping, which is
 *   PostgreSQL's `to_json` escaping plus `<`, `>`, `&`, U+2028 and U+2029 as `\\u` escapes (none of
 *   them can be part of an escape sequence, so replacing them in finished JSON text is safe).
 * - `sync.canonical_jsonb(jsonb)` / `sync.canonical_json(json)`: a JSON value with object keys in
 *   UTF-8 byte order at every depth (COLLATE "C" compares bytes), numbers through float64, strings
 *   Go-escaped. The `json` variant keeps `-0` and lets the last duplicate key win, as JSON.parse and
 *   Go's map decoding do.
 */
export const CANONICAL_JSON_FUNCTIONS_DDL = `
CREATE OR REPLACE FUNCTION sync.js_number_exp(p text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
  v_neg boolean := left(p, 1) = '-';
  v_body text := CASE WHEN left(p, 1) = '-' THEN substr(p, 2) ELSE p END;
  v_digits text;
  v_k integer;
  v_n integer;
  v_out text;
BEGIN
  -- float8out's exponent form is d[.ddd]e±XX; n is the decimal point position after digit n.
  v_digits := replace(split_part(v_body, 'e', 1), '.', '');
  v_n := split_part(v_body, 'e', 2)::integer + 1;
  v_k := length(v_digits);
  IF v_k <= v_n AND v_n <= 21 THEN
    v_out := v_digits || repeat('0', v_n - v_k);
  ELSIF 0 < v_n AND v_n <= 21 THEN
    v_out := left(v_digits, v_n) || '.' || substr(v_digits, v_n + 1);
  ELSIF -6 < v_n AND v_n <= 0 THEN
    v_out := '0.' || repeat('0', -v_n) || v_digits;
  ELSE
    v_out := left(v_digits, 1) || CASE WHEN v_k > 1 THEN '.' || substr(v_digits, 2) ELSE '' END
             || 'e' || CASE WHEN v_n - 1 >= 0 THEN '+' ELSE '-' END || abs(v_n - 1)::text;
  END IF;
  RETURN CASE WHEN v_neg THEN '-' || v_out ELSE v_out END;
END
$fn$;

CREATE OR REPLACE FUNCTION sync.js_number(p double precision) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
  SELECT CASE
    WHEN p IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8) THEN '"' || p::text || '"'
    WHEN strpos(p::text, 'e') = 0 THEN p::text
    ELSE sync.js_number_exp(p::text)
  END
$fn$;

CREATE OR REPLACE FUNCTION sync.go_escape(p text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT replace(replace(replace(replace(replace(p,
    '<', '\\u003c'), '>', '\\u003e'), '&', '\\u0026'), U&'\\2028', '\\u2028'), U&'\\2029', '\\u2029')
$fn$;

CREATE OR REPLACE FUNCTION sync.go_json_string(p text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT sync.go_escape(to_json(p)::text)
$fn$;

CREATE OR REPLACE FUNCTION sync.canonical_jsonb(p jsonb) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $fn$
BEGIN
  RETURN CASE jsonb_typeof(p)
    WHEN 'object' THEN '{' || COALESCE((
      SELECT string_agg(sync.go_json_string(e.key) || ':' || sync.canonical_jsonb(e.value), ',' ORDER BY e.key COLLATE "C")
        FROM jsonb_each(p) AS e), '') || '}'
    WHEN 'array' THEN '[' || COALESCE((
      SELECT string_agg(sync.canonical_jsonb(a.value), ',' ORDER BY a.ord)
        FROM jsonb_array_elements(p) WITH ORDINALITY AS a(value, ord)), '') || ']'
    WHEN 'string' THEN sync.go_json_string(p #>> '{}')
    WHEN 'number' THEN sync.js_number((p #>> '{}')::float8)
    WHEN 'boolean' THEN p::text
    ELSE 'null'
  END;
END
$fn$;

CREATE OR REPLACE FUNCTION sync.canonical_json(p json) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $fn$
BEGIN
  RETURN CASE json_typeof(p)
    WHEN 'object' THEN '{' || COALESCE((
      SELECT string_agg(sync.go_json_string(d.key) || ':' || sync.canonical_json(d.value), ',' ORDER BY d.key COLLATE "C")
        FROM (SELECT DISTINCT ON (e.key) e.key, e.value
                FROM json_each(p) WITH ORDINALITY AS e(key, value, ord)
               ORDER BY e.key, e.ord DESC) AS d), '') || '}'
    WHEN 'array' THEN '[' || COALESCE((
      SELECT string_agg(sync.canonical_json(a.value), ',' ORDER BY a.ord)
        FROM json_array_elements(p) WITH ORDINALITY AS a(value, ord)), '') || ']'
    WHEN 'string' THEN sync.go_json_string(p #>> '{}')
    WHEN 'number' THEN sync.js_number((p #>> '{}')::float8)
    WHEN 'boolean' THEN p::text
    ELSE 'null'
  END;
END
$fn$;
`;
