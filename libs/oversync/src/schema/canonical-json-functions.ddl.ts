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
 * - `sync.json_number(text, column)` / `sync.numeric_json_number(numeric, column)`: decimal text (a
 *   JSON number, or a numeric as PostgreSQL prints it) as the float64 JSON.parse and Go read it.
 *   Magnitudes too small for float64 read as `0` / `-0`; magnitudes too large would read as
 *   ±Infinity, which JSON cannot carry, so they are refused (SQLSTATE 22003, naming the column).
 * - `sync.canonical_jsonb(jsonb[, column])` / `sync.canonical_json(json[, column])`: a JSON value
 *   with object keys in UTF-8 byte order at every depth (COLLATE "C" compares bytes), numbers as
 *   `sync.json_number` reads them, strings Go-escaped. The `json` variant keeps `-0` and lets the
 *   last duplicate key win, as JSON.parse and Go's map decoding do. The column only names the
 *   source of a refused number.
 */

// Exact decimal bounds of the decimals float64 parsing (round to nearest, ties to even) turns into
// 0 or ±Infinity: at most 2^-1075 (half the smallest subnormal; the tie goes to the even 0) and at
// least 2^1024 - 2^970 (halfway from the largest double to 2^1024; the tie goes to 2^1024).
const FLOAT64_ZERO_BOUND = `${(5n ** 1075n).toString()}e-1075`;
const FLOAT64_INFINITY_BOUND = (2n ** 1024n - 2n ** 970n).toString();
// Significant digits kept for the comparison with those bounds (which have 752 and 309): enough to
// decide it exactly, with one more digit standing for any non-zero rest.
const BOUND_DIGITS = 800;

export const CANONICAL_JSON_FUNCTIONS_DDL = `
-- ECMAScript Number::toString layout of 0.DIGITS × 10^n (DIGITS without leading/trailing zeros).
CREATE OR REPLACE FUNCTION sync.js_number_format(p_neg boolean, p_digits text, p_n integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
  v_k integer := length(p_digits);
  v_out text;
BEGIN
  IF v_k <= p_n AND p_n <= 21 THEN
    v_out := p_digits || repeat('0', p_n - v_k);
  ELSIF 0 < p_n AND p_n <= 21 THEN
    v_out := left(p_digits, p_n) || '.' || substr(p_digits, p_n + 1);
  ELSIF -6 < p_n AND p_n <= 0 THEN
    v_out := '0.' || repeat('0', -p_n) || p_digits;
  ELSE
    v_out := left(p_digits, 1) || CASE WHEN v_k > 1 THEN '.' || substr(p_digits, 2) ELSE '' END
             || 'e' || CASE WHEN p_n - 1 >= 0 THEN '+' ELSE '-' END || abs(p_n - 1)::text;
  END IF;
  RETURN CASE WHEN p_neg THEN '-' || v_out ELSE v_out END;
END
$fn$;

-- True when decimal text reads back as the double p (> 0). Out-of-range text (which float8 input
-- would reject) cannot be p, so it is checked as numeric first.
CREATE OR REPLACE FUNCTION sync.js_number_reads_back(p_text text, p double precision) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT CASE WHEN p_text::numeric > 1.7976931348623157e308 OR p_text::numeric < 2.4e-324 THEN false
              ELSE p_text::float8 = p END
$fn$;

-- The general case of sync.js_number. PostgreSQL's shortest digits exclude the ends of the
-- rounding interval; ECMAScript and Go include them when the mantissa is even, where one digit
-- fewer can already read back as the same double (e.g. 23209599515200750, which PostgreSQL
-- prints as 2.3209599515200752e+16). So shorter candidates are tried while one reads back.
CREATE OR REPLACE FUNCTION sync.js_number_slow(p double precision) RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
  v_body text := ltrim(p::text, '-');
  v_mant text := split_part(v_body, 'e', 1);
  v_int text := split_part(v_mant, '.', 1);
  v_digits text := split_part(v_mant, '.', 1) || split_part(v_mant, '.', 2);
  v_n integer;
  v_cut text;
  v_up text;
  v_scale integer;
  v_cut_ok boolean;
  v_up_ok boolean;
  v_rest numeric;
BEGIN
  v_n := length(v_int) + COALESCE(NULLIF(split_part(v_body, 'e', 2), '')::integer, 0);
  v_n := v_n - (length(v_digits) - length(ltrim(v_digits, '0')));
  v_digits := rtrim(ltrim(v_digits, '0'), '0');
  LOOP
    EXIT WHEN length(v_digits) <= 1;
    v_cut := left(v_digits, length(v_digits) - 1);
    v_up := (v_cut::numeric + 1)::text;
    v_scale := v_n - length(v_cut);
    v_cut_ok := sync.js_number_reads_back(v_cut || 'e' || v_scale, abs(p));
    v_up_ok := sync.js_number_reads_back(v_up || 'e' || v_scale, abs(p));
    EXIT WHEN NOT v_cut_ok AND NOT v_up_ok;
    IF v_cut_ok AND v_up_ok THEN
      -- Both read back: the one closer to the exact digits wins, an even last digit on a tie.
      v_rest := right(v_digits, 1)::numeric;
      v_cut_ok := v_rest < 5 OR (v_rest = 5 AND right(v_cut, 1)::integer % 2 = 0);
    END IF;
    IF v_cut_ok THEN
      v_digits := rtrim(v_cut, '0');
    ELSE
      IF length(v_up) > length(v_cut) THEN
        v_n := v_n + 1;
      END IF;
      v_digits := rtrim(v_up, '0');
    END IF;
  END LOOP;
  RETURN sync.js_number_format(p < 0, v_digits, v_n);
END
$fn$;

CREATE OR REPLACE FUNCTION sync.js_number(p double precision) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
  SELECT CASE
    WHEN p IS NULL THEN NULL
    WHEN p IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8) THEN '"' || p::text || '"'
    WHEN p = 0 THEN p::text
    -- At most 15 significant digits in plain notation: PostgreSQL's digits are ECMAScript's too
    -- (a shorter candidate would have to lie within 2^-53 of the value, closer than 15-digit
    -- decimals can be to each other).
    WHEN strpos(p::text, 'e') = 0 AND length(p::text) < 16 THEN p::text
    ELSE sync.js_number_slow(p)
  END
$fn$;

DROP FUNCTION IF EXISTS sync.js_number_exp(text);

-- The general case of sync.json_number: NaN and +/-Infinity (numeric only), exponent notation and
-- long text, where the value may lie outside float64's range (float8 input refuses what rounds to
-- 0 or +/-Infinity). Numbers are decided on their decimal digits, so any exponent is fine.
CREATE OR REPLACE FUNCTION sync.json_number_wide(p text, p_column text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $fn$
DECLARE
  v_neg boolean := left(p, 1) = '-';
  v_body text := lower(ltrim(p, '-'));
  v_mant text := split_part(v_body, 'e', 1);
  v_int text := split_part(v_mant, '.', 1);
  v_digits text := v_int || split_part(v_mant, '.', 2);
  v_sig text := rtrim(ltrim(v_digits, '0'), '0');
  v_mag numeric;
  v_abs numeric;
  v_shown text;
BEGIN
  IF p IS NULL THEN
    RETURN NULL;
  END IF;
  IF v_body IN ('nan', 'infinity') THEN
    RETURN '"' || p || '"';
  END IF;
  IF v_sig = '' THEN
    RETURN CASE WHEN v_neg THEN '-0' ELSE '0' END;
  END IF;
  -- The value lies in [10^(v_mag - 1), 10^v_mag).
  v_mag := COALESCE(NULLIF(split_part(v_body, 'e', 2), '')::numeric, 0) + length(v_int)
           - (length(v_digits) - length(ltrim(v_digits, '0')));
  IF v_mag > -330 AND v_mag < 310 THEN
    v_abs := ('0.' || left(v_sig, ${BOUND_DIGITS}) || CASE WHEN length(v_sig) > ${BOUND_DIGITS} THEN '1' ELSE '' END
              || 'e' || v_mag::text)::numeric;
    IF v_abs > ${FLOAT64_ZERO_BOUND} AND v_abs < ${FLOAT64_INFINITY_BOUND} THEN
      RETURN sync.js_number(p::float8);
    END IF;
  END IF;
  IF v_mag < 0 THEN
    RETURN CASE WHEN v_neg THEN '-0' ELSE '0' END;
  END IF;
  v_shown := CASE WHEN length(p) <= 32 THEN p
                  ELSE CASE WHEN v_neg THEN '-' ELSE '' END || left(v_sig, 1)
                       || CASE WHEN length(v_sig) > 1 THEN '.' || substr(v_sig, 2, 6) || CASE WHEN length(v_sig) > 7 THEN '...' ELSE '' END ELSE '' END
                       || 'e+' || (v_mag - 1)::text END;
  RAISE EXCEPTION 'numeric value % is beyond the float64 range of JSON numbers',
    v_shown || COALESCE(' in column "' || replace(p_column, '"', '""') || '"', '')
    USING ERRCODE = '22003',
          HINT = 'JSON.parse and Go would read it as Infinity, which JSON cannot carry. Keep numbers below '
                 || '1.7976931348623157e308 in magnitude, or store such values as text.';
END
$fn$;

-- Decimal text (a JSON number or numeric output) as the float64 JSON.parse and Go read it.
-- Without an exponent, under 300 characters means 0 or 1e-298 < |x| < 1e299: float8 reads it.
CREATE OR REPLACE FUNCTION sync.json_number(p text, p_column text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
  SELECT CASE
    WHEN p IS NULL THEN NULL
    WHEN length(p) < 300 AND strpos(p, 'e') = 0 AND strpos(p, 'E') = 0 THEN sync.js_number(p::float8)
    ELSE sync.json_number_wide(p, p_column)
  END
$fn$;

-- A numeric as JSON.parse and Go read its output. At most 15 significant digits and
-- 1e-6 <= |x| < 1e15 (most numerics, e.g. prices) print as their own digits: float64 tells such
-- decimals apart (DBL_DIG), so no shorter decimal reads back as the same double, and ECMAScript
-- lays that range out in plain notation; about a third of the float8 route's cost. NaN and
-- +/-Infinity compare above every number, so they take the general path.
CREATE OR REPLACE FUNCTION sync.numeric_json_number(p numeric, p_column text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
  SELECT CASE
    WHEN p IS NULL THEN NULL
    WHEN abs(p) BETWEEN 0.000001 AND 999999999999999 AND length(trim_scale(p)::text) < 16 THEN trim_scale(p)::text
    WHEN p = 0 OR abs(p) BETWEEN 1e-300 AND 1e300 THEN sync.js_number(p::float8)
    ELSE sync.json_number_wide(p::text, p_column)
  END
$fn$;

CREATE OR REPLACE FUNCTION sync.go_escape(p text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT replace(replace(replace(replace(replace(p,
    '<', '\\u003c'), '>', '\\u003e'), '&', '\\u0026'), U&'\\2028', '\\u2028'), U&'\\2029', '\\u2029')
$fn$;

CREATE OR REPLACE FUNCTION sync.go_json_string(p text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT sync.go_escape(pg_catalog.to_json(p)::text)
$fn$;

DROP FUNCTION IF EXISTS sync.canonical_json_string(json);
DROP FUNCTION IF EXISTS sync.go_json_string_body(text);

-- p_column only names the source of a refused number; the one-argument forms are for callers of
-- earlier builds.
CREATE OR REPLACE FUNCTION sync.canonical_jsonb(p jsonb, p_column text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $fn$
BEGIN
  RETURN CASE jsonb_typeof(p)
    WHEN 'object' THEN '{' || COALESCE((
      SELECT string_agg(sync.go_json_string(e.key) || ':' || sync.canonical_jsonb(e.value, p_column), ',' ORDER BY e.key COLLATE "C")
        FROM jsonb_each(p) AS e), '') || '}'
    WHEN 'array' THEN '[' || COALESCE((
      SELECT string_agg(sync.canonical_jsonb(a.value, p_column), ',' ORDER BY a.ord)
        FROM jsonb_array_elements(p) WITH ORDINALITY AS a(value, ord)), '') || ']'
    WHEN 'string' THEN sync.go_json_string(p #>> '{}')
    WHEN 'number' THEN sync.json_number(p #>> '{}', p_column)
    WHEN 'boolean' THEN p::text
    ELSE 'null'
  END;
END
$fn$;

CREATE OR REPLACE FUNCTION sync.canonical_jsonb(p jsonb) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
  SELECT sync.canonical_jsonb(p, NULL::text)
$fn$;

-- Real \\u0000 escapes are those not preceded by an odd number of backslashes.
CREATE OR REPLACE FUNCTION sync.canonical_json_with_nul(p json, p_column text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $fn$
BEGIN
  -- PostgreSQL text cannot hold NUL, so json functions cannot decode a \\u0000 escape. Stand-in:
  -- U+0001, which sorts like NUL against every other character as long as the value holds no
  -- U+0001 of its own (raw control characters cannot occur in json text, only escapes).
  IF p::text ~ '(?<!\\\\)(?:\\\\\\\\)*\\\\u0001' THEN
    RAISE EXCEPTION 'json value holds both \\u0000 and \\u0001 escapes, which Oversync cannot canonicalise%',
      COALESCE(' (column "' || replace(p_column, '"', '""') || '")', '')
      USING ERRCODE = '22P05', HINT = 'Store such values in a bytea or jsonb-compatible form.';
  END IF;
  RETURN regexp_replace(
    sync.canonical_json(regexp_replace(p::text, '(?<!\\\\)((?:\\\\\\\\)*)\\\\u0000', '\\1\\\\u0001', 'g')::json, p_column),
    '(?<!\\\\)((?:\\\\\\\\)*)\\\\u0001', '\\1\\\\u0000', 'g');
END
$fn$;

DROP FUNCTION IF EXISTS sync.canonical_json_with_nul(json);

CREATE OR REPLACE FUNCTION sync.canonical_json(p json, p_column text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $fn$
BEGIN
  IF strpos(p::text, '\\u0000') > 0 AND p::text ~ '(?<!\\\\)(?:\\\\\\\\)*\\\\u0000' THEN
    RETURN sync.canonical_json_with_nul(p, p_column);
  END IF;
  RETURN CASE json_typeof(p)
    WHEN 'object' THEN '{' || COALESCE((
      SELECT string_agg(sync.go_json_string(d.key) || ':' || sync.canonical_json(d.value, p_column), ',' ORDER BY d.key COLLATE "C")
        FROM (SELECT DISTINCT ON (e.key) e.key, e.value
                FROM json_each(p) WITH ORDINALITY AS e(key, value, ord)
               ORDER BY e.key, e.ord DESC) AS d), '') || '}'
    WHEN 'array' THEN '[' || COALESCE((
      SELECT string_agg(sync.canonical_json(a.value, p_column), ',' ORDER BY a.ord)
        FROM json_array_elements(p) WITH ORDINALITY AS a(value, ord)), '') || ']'
    WHEN 'string' THEN sync.go_json_string(p #>> '{}')
    WHEN 'number' THEN sync.json_number(p #>> '{}', p_column)
    WHEN 'boolean' THEN p::text
    ELSE 'null'
  END;
END
$fn$;

CREATE OR REPLACE FUNCTION sync.canonical_json(p json) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
  SELECT sync.canonical_json(p, NULL::text)
$fn$;
`;
