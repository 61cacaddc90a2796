//! The projector's read of a decoded-readings record, compiled.
//!
//! `RowCodec.rows` takes a record of `readings.decoded` as the error decoder writes it and
//! gives each reading's row of `query.readings` in PostgreSQL's binary `COPY` format, with
//! the reading ids: what `query_api.adapters.projection.reading_rows` gives for the same
//! record, already in the form `COPY` takes, instead of a Python tuple a reading that
//! asyncpg then encodes field by field. It reads only the shape the decoder writes: the
//! models' keys in their order, no whitespace, no escapes, times in UTC to the microsecond,
//! metrics of the gateway's keys in their order as numbers in the form Python writes them
//! back, and time-ordered reading ids. For anything else it answers `None`, and the Python
//! path, the reference, decides (and refuses what the models refuse).
//! `services/query-api/tests/test_native_rows.py` holds the two paths to the same rows.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::{days_from_civil, days_in_month, public_id, Fallback};

/// The columns this path writes, in the order it writes them: the first twelve, then one
/// float8 column per metric of `column_metrics`, then the metrics' JSON. The constructor
/// checks them against the projector's own table (`_READING_TYPES`).
const FIXED_COLUMNS: [(&str, &str); 12] = [
    ("reading_id", "uuid"),
    ("public_id", "bigint"),
    ("battery_id", "bigint"),
    ("hub_id", "bigint"),
    ("measured_at", "timestamptz"),
    ("received_at", "timestamptz"),
    ("time_source", "text"),
    ("device_time", "timestamptz"),
    ("clock_skewed", "boolean"),
    ("err", "text"),
    ("has_errors", "boolean"),
    ("decoded_errors", "jsonb"),
];
const METRICS_COLUMN: (&str, &str) = ("metrics", "json");

/// Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch for timestamps.
const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// The most digits of a number this path reads: any decimal of at most 15 significant
/// digits is exact through a float and back, so Python writes it as it came.
const MAX_DIGITS: usize = 15;

/// The contract's values this path checks, handed over from Python as a dict
/// (`query_api/adapters/native_rows.py`).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct Contract {
    reading_type: String,
    readings_type: String,
    max_per_record: usize,
    max_err_length: usize,
    public_id_bits: u32,
    time_ordered_version: String,
    time_sources: Vec<String>,
    sources: Vec<String>,
    severities: Vec<String>,
}

#[pyclass(frozen, module = "batteryhub_native")]
pub struct RowCodec {
    metric_keys: Vec<String>,
    /// For each metric key, the float8 column it also fills (its place among them), if any.
    column_of: Vec<Option<usize>>,
    float_columns: usize,
    columns: usize,
    contract: Contract,
}

/// What a record gives: with rows, each reading's id text and row, and the earliest device
/// time (µs since 1970) among its readings with a device time not skewed, if any; without,
/// where each reading with errors sits in the record (its event's first and past-last byte).
#[derive(Default)]
struct Read {
    rows: bool,
    ids: Vec<String>,
    encoded: Vec<Vec<u8>>,
    earliest: Option<i64>,
    faults: Vec<(usize, usize)>,
}

#[pymethods]
impl RowCodec {
    /// `columns`: the table's (name, type) in the order of a row; `metric_keys`: the keys a
    /// reading's metrics may have, in the order the gateway writes them; `column_metrics`:
    /// the keys that also have a float8 column, in the columns' order.
    #[new]
    #[pyo3(signature = (*, columns, metric_keys, column_metrics, contract))]
    fn new(
        columns: Vec<(String, String)>,
        metric_keys: Vec<String>,
        column_metrics: Vec<String>,
        contract: Contract,
    ) -> PyResult<Self> {
        let invalid = pyo3::exceptions::PyValueError::new_err;
        let mut expected: Vec<(String, String)> = FIXED_COLUMNS
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        expected.extend(
            column_metrics
                .iter()
                .map(|_| (String::new(), "float8".into())),
        );
        expected.push((METRICS_COLUMN.0.into(), METRICS_COLUMN.1.into()));
        let same = columns.len() == expected.len()
            && columns
                .iter()
                .zip(&expected)
                .all(|((name, kind), (want, want_kind))| {
                    kind == want_kind && (want.is_empty() || name == want)
                });
        let plain = |text: &String| {
            !text.is_empty()
                && text
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        };
        if !same
            || !metric_keys.iter().all(plain)
            || !column_metrics.iter().all(|k| metric_keys.contains(k))
            || contract.max_per_record == 0
            || !(1..=64).contains(&contract.public_id_bits)
            || contract.time_ordered_version.len() != 1
        {
            return Err(invalid("a table or contract this path cannot write"));
        }
        let column_of = metric_keys
            .iter()
            .map(|key| column_metrics.iter().position(|c| c == key))
            .collect();
        Ok(RowCodec {
            metric_keys,
            column_of,
            float_columns: column_metrics.len(),
            columns: columns.len(),
            contract,
        })
    }

    /// The reading ids, the rows in binary `COPY` form (without the stream's header and
    /// trailer) and the earliest device time with a twin (µs since 1970, or None) of a
    /// decoded-readings record; None where the Python path must decide.
    #[allow(clippy::type_complexity)]
    fn rows<'py>(
        &self,
        py: Python<'py>,
        raw: &[u8],
    ) -> Option<(Vec<String>, Vec<Bound<'py, PyBytes>>, Option<i64>)> {
        let mut read = Read {
            rows: true,
            ..Read::default()
        };
        self.read(raw, &mut read).ok()?;
        let rows = read
            .encoded
            .iter()
            .map(|row| PyBytes::new_bound(py, row))
            .collect();
        Some((read.ids, rows, read.earliest))
    }
}

/// The notifier's read of a decoded-readings record: the record checked as `RowCodec` checks
/// it, and where its readings with errors sit, so that only those are decoded.
#[pyclass(frozen, module = "batteryhub_native")]
pub struct FaultScan {
    reader: RowCodec,
}

#[pymethods]
impl FaultScan {
    /// `metric_keys` and `contract` as `RowCodec` takes them.
    #[new]
    #[pyo3(signature = (*, metric_keys, contract))]
    fn new(metric_keys: Vec<String>, contract: Contract) -> PyResult<Self> {
        let mut columns: Vec<(String, String)> = FIXED_COLUMNS
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        columns.push((METRICS_COLUMN.0.into(), METRICS_COLUMN.1.into()));
        let reader = RowCodec::new(columns, metric_keys, vec![], contract)?;
        Ok(FaultScan { reader })
    }

    /// The (start, end) in `raw` of each reading event with errors, in order (the whole
    /// record for a single reading's); None where the Python path must decide.
    fn faults(&self, raw: &[u8]) -> Option<Vec<(usize, usize)>> {
        let mut read = Read::default();
        self.reader.read(raw, &mut read).ok()?;
        Some(read.faults)
    }
}

type R<T> = Result<T, Fallback>;

/// A reading's errors, as far as its row keeps them.
struct Errors {
    count: usize,
    json: Vec<u8>,
}

impl RowCodec {
    fn read(&self, raw: &[u8], read: &mut Read) -> R<()> {
        // Valid UTF-8 throughout, so that every string sliced at a quote is text.
        let text = std::str::from_utf8(raw).map_err(|_| Fallback)?;
        let mut c = Cursor {
            s: text,
            b: raw,
            i: 0,
        };
        let mut count = 0;
        let kind = c.envelope()?;
        if kind == self.contract.readings_type {
            c.lit(b",\"readings\":[")?;
            loop {
                let start = c.i;
                if c.envelope()? != self.contract.reading_type {
                    return Err(Fallback);
                }
                self.reading(&mut c, start, read)?;
                count += 1;
                if c.peek() != Some(b',') {
                    break;
                }
                c.i += 1;
            }
            c.lit(b"]}")?;
            if count > self.contract.max_per_record {
                return Err(Fallback);
            }
        } else if kind == self.contract.reading_type {
            self.reading(&mut c, 0, read)?;
        } else {
            return Err(Fallback);
        }
        if c.i != raw.len() {
            return Err(Fallback);
        }
        Ok(())
    }

    /// A reading event (which began at `start`) from its `reading_id` on, to its closing
    /// brace: its row, or where it sits if it has errors.
    fn reading(&self, c: &mut Cursor, start: usize, read: &mut Read) -> R<()> {
        c.lit(b",\"reading_id\":")?;
        let reading_id = c.uuid()?;
        // A time-ordered id in its canonical (lowercase) text: the text Python gives it.
        if reading_id[14..15] != self.contract.time_ordered_version
            || reading_id.bytes().any(|b| b.is_ascii_uppercase())
        {
            return Err(Fallback);
        }
        c.lit(b",\"reading\":{\"battery_id\":")?;
        let battery_id = c.int()?;
        if battery_id <= 0 {
            return Err(Fallback);
        }
        c.lit(b",\"hub_id\":")?;
        let hub_id = c.int()?;
        c.lit(b",\"battery_name\":")?;
        c.string()?;
        c.lit(b",\"measured_at\":")?;
        let measured_at = c.time()?;
        c.lit(b",\"time_source\":")?;
        let time_source = c.one_of(&self.contract.time_sources)?;
        c.lit(b",\"received_at\":")?;
        let received_at = c.time()?;
        c.lit(b",\"device_time\":")?;
        let device_time = if c.null() { None } else { Some(c.time()?) };
        c.lit(b",\"clock_skewed\":")?;
        let skewed = c.boolean()?;
        c.lit(b",\"metrics\":")?;
        let (metrics, columns) = self.metrics(c)?;
        c.lit(b",\"err\":")?;
        let err = if c.null() { None } else { Some(c.string()?) };
        if err.is_some_and(|e| e.chars().count() > self.contract.max_err_length) {
            return Err(Fallback);
        }
        c.lit(b",\"source\":")?;
        c.one_of(&self.contract.sources)?;
        c.lit(b"},\"errors\":")?;
        let errors = self.errors(c)?;
        c.lit(b"}")?;

        if !read.rows {
            if errors.count > 0 {
                read.faults.push((start, c.i));
            }
            return Ok(());
        }
        if let (Some(t), false) = (device_time, skewed) {
            read.earliest = Some(read.earliest.map_or(t, |e| e.min(t)));
        }
        let mut row = Vec::with_capacity(200 + metrics.len() + errors.json.len());
        row.extend_from_slice(&(self.columns as i16).to_be_bytes());
        field(&mut row, &uuid_bytes(reading_id));
        let public = public_id(reading_id, self.contract.public_id_bits) as i64;
        field(&mut row, &public.to_be_bytes());
        field(&mut row, &battery_id.to_be_bytes());
        field(&mut row, &hub_id.to_be_bytes());
        field(&mut row, &(measured_at - PG_EPOCH_US).to_be_bytes());
        field(&mut row, &(received_at - PG_EPOCH_US).to_be_bytes());
        field(&mut row, time_source.as_bytes());
        match device_time {
            Some(t) => field(&mut row, &(t - PG_EPOCH_US).to_be_bytes()),
            None => null(&mut row),
        }
        field(&mut row, &[u8::from(skewed)]);
        match err {
            Some(e) => field(&mut row, e.as_bytes()),
            None => null(&mut row),
        }
        field(&mut row, &[u8::from(errors.count > 0)]);
        field(&mut row, &errors.json);
        for value in columns {
            match value {
                Some(x) => field(&mut row, &x.to_bits().to_be_bytes()),
                None => null(&mut row),
            }
        }
        field(&mut row, metrics.as_bytes());
        read.ids.push(reading_id.to_string());
        read.encoded.push(row);
        Ok(())
    }

    /// The metrics object as it came (Python writes it back the same: known keys in their
    /// order, numbers in the form Python writes) and the values of the metric columns.
    fn metrics<'a>(&self, c: &mut Cursor<'a>) -> R<(&'a str, Vec<Option<f64>>)> {
        let start = c.i;
        let mut columns = vec![None; self.float_columns];
        c.lit(b"{")?;
        let mut next_key = 0;
        if c.peek() != Some(b'}') {
            loop {
                let key = c.string()?;
                let at = self.metric_keys[next_key..]
                    .iter()
                    .position(|k| k == key)
                    .ok_or(Fallback)?
                    + next_key;
                next_key = at + 1;
                c.lit(b":")?;
                // Only a column's value is parsed; the others are checked for their form.
                let column = self.column_of[at];
                let value = c.number(column.is_some())?;
                if let Some(column) = column {
                    columns[column] = Some(value);
                }
                if c.peek() != Some(b',') {
                    break;
                }
                c.i += 1;
            }
        }
        c.lit(b"}")?;
        Ok((c.text(start), columns))
    }

    /// A reading's decoded errors as the row's JSON (`_decoded_errors_json`: each error's
    /// code, name, description and severity), in jsonb's binary form.
    fn errors(&self, c: &mut Cursor) -> R<Errors> {
        let mut json = vec![1u8, b'['];
        let mut count = 0;
        c.lit(b"[")?;
        if c.peek() != Some(b']') {
            loop {
                c.lit(b"{\"code\":")?;
                let code = c.string()?;
                c.lit(b",\"name\":")?;
                let name = c.string()?;
                c.lit(b",\"description\":")?;
                let description = c.string()?;
                c.lit(b",\"severity\":")?;
                let severity = c.one_of(&self.contract.severities)?;
                if c.peek() == Some(b',') {
                    c.lit(b",\"known\":")?;
                    c.boolean()?;
                }
                c.lit(b"}")?;
                if count > 0 {
                    json.push(b',');
                }
                for (prefix, text) in [
                    (&b"{\"code\":\""[..], code),
                    (b"\",\"name\":\"", name),
                    (b"\",\"description\":\"", description),
                    (b"\",\"severity\":\"", severity),
                ] {
                    json.extend_from_slice(prefix);
                    json.extend_from_slice(text.as_bytes());
                }
                json.extend_from_slice(b"\"}");
                count += 1;
                if c.peek() != Some(b',') {
                    break;
                }
                c.i += 1;
            }
        }
        c.lit(b"]")?;
        json.push(b']');
        Ok(Errors { count, json })
    }
}

/// A field of a binary `COPY` row: its length, then its bytes.
fn field(row: &mut Vec<u8>, value: &[u8]) {
    row.extend_from_slice(&(value.len() as i32).to_be_bytes());
    row.extend_from_slice(value);
}

fn null(row: &mut Vec<u8>) {
    row.extend_from_slice(&(-1i32).to_be_bytes());
}

fn uuid_bytes(text: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    let digits = text.bytes().filter(|&b| b != b'-').map(|b| match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    });
    for (n, d) in digits.enumerate() {
        out[n / 2] |= if n % 2 == 0 { d << 4 } else { d };
    }
    out
}

/// A strict reader of the decoder's JSON: each step takes exactly the text the decoder
/// writes there, or fails, and the record is the Python path's.
struct Cursor<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// The text from `start` to here: both are at ASCII delimiters, so at characters.
    fn text(&self, start: usize) -> &'a str {
        self.s.get(start..self.i).unwrap_or("")
    }

    fn lit(&mut self, expected: &[u8]) -> R<()> {
        if self.b[self.i..].starts_with(expected) {
            self.i += expected.len();
            Ok(())
        } else {
            Err(Fallback)
        }
    }

    /// An event's opening fields, as the models order them (`{"event_id":…,"occurred_at":…,
    /// "schema_version":…,"type":…`): its type.
    fn envelope(&mut self) -> R<&'a str> {
        self.lit(b"{\"event_id\":")?;
        self.uuid()?;
        self.lit(b",\"occurred_at\":")?;
        self.time()?;
        self.lit(b",\"schema_version\":")?;
        self.int()?;
        self.lit(b",\"type\":")?;
        self.string()
    }

    fn null(&mut self) -> bool {
        self.lit(b"null").is_ok()
    }

    fn boolean(&mut self) -> R<bool> {
        if self.lit(b"true").is_ok() {
            Ok(true)
        } else {
            self.lit(b"false").map(|_| false)
        }
    }

    /// A string without escapes or control characters: its text.
    fn string(&mut self) -> R<&'a str> {
        self.lit(b"\"")?;
        let start = self.i;
        loop {
            match self.peek() {
                Some(b'"') => break,
                Some(b) if b == b'\\' || b < 0x20 => return Err(Fallback),
                Some(_) => self.i += 1,
                None => return Err(Fallback),
            }
        }
        let text = self.text(start);
        self.i += 1;
        Ok(text)
    }

    fn one_of<'s>(&mut self, allowed: &'s [String]) -> R<&'s str> {
        let text = self.string()?;
        allowed
            .iter()
            .find(|a| *a == text)
            .map(String::as_str)
            .ok_or(Fallback)
    }

    /// A JSON integer of at most 18 digits, not "-0": an id or a count, exact as an i64.
    fn int(&mut self) -> R<i64> {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let digits_start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        let digits = &self.b[digits_start..self.i];
        let plain =
            !digits.is_empty() && digits.len() <= 18 && (digits == b"0" || digits[0] != b'0');
        if !plain || (negative && digits == b"0") || matches!(self.peek(), Some(b'.' | b'e' | b'E'))
        {
            return Err(Fallback);
        }
        self.text(start).parse().map_err(|_| Fallback)
    }

    /// A metric's number: an integer, or a decimal fraction in the form Python writes a
    /// float back (`repr`): no exponent, no trailing zero but in ".0", at least 1e-4 in
    /// magnitude, at most `MAX_DIGITS` significant digits; not "-0", which Python reads as 0.
    /// Its value is parsed only when `parse` (else it is 0).
    fn number(&mut self, parse: bool) -> R<f64> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let whole_start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        let whole = &self.b[whole_start..self.i];
        if whole.is_empty() || (whole.len() > 1 && whole[0] == b'0') {
            return Err(Fallback);
        }
        let mut fraction: &[u8] = &[];
        if self.peek() == Some(b'.') {
            self.i += 1;
            let fraction_start = self.i;
            while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.i += 1;
            }
            fraction = &self.b[fraction_start..self.i];
            if fraction.is_empty() || (fraction.len() > 1 && fraction.ends_with(b"0")) {
                return Err(Fallback);
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E' | b'.')) {
            return Err(Fallback);
        }
        let zero = whole == b"0" && fraction.iter().all(|&d| d == b'0');
        let significant = if whole == b"0" {
            let leading = fraction.iter().take_while(|&&d| d == b'0').count();
            if !zero && leading >= 4 {
                return Err(Fallback); // below 1e-4: Python writes it with an exponent
            }
            fraction.len() - leading
        } else {
            whole.len() + fraction.len()
        };
        // "-0.0" is Python's negative zero, written back so; "-0" is the integer 0.
        if significant > MAX_DIGITS || (zero && self.b[start] == b'-' && fraction.is_empty()) {
            return Err(Fallback);
        }
        if !parse {
            return Ok(0.0);
        }
        self.text(start).parse().map_err(|_| Fallback)
    }

    /// A UUID's text (either case), as its text.
    fn uuid(&mut self) -> R<&'a str> {
        let text = self.string()?;
        let ok = text.len() == 36
            && text.bytes().enumerate().all(|(n, b)| match n {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_hexdigit(),
            });
        if ok {
            Ok(text)
        } else {
            Err(Fallback)
        }
    }

    /// A time in UTC, "YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00" (or "Z"): µs since 1970.
    fn time(&mut self) -> R<i64> {
        let text = self.string()?.as_bytes();
        let (clock, rest) = text.split_at_checked(19).ok_or(Fallback)?;
        let rest = rest
            .strip_suffix(b"+00:00")
            .or_else(|| rest.strip_suffix(b"Z"))
            .ok_or(Fallback)?;
        let number = |range: std::ops::Range<usize>| crate::digits(&clock[range]).ok_or(Fallback);
        let shape = clock[4] == b'-'
            && clock[7] == b'-'
            && clock[10] == b'T'
            && clock[13] == b':'
            && clock[16] == b':';
        if !shape {
            return Err(Fallback);
        }
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        let valid = year >= 1
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour < 24
            && minute < 60
            && second < 60;
        if !valid {
            return Err(Fallback);
        }
        let micros = match rest {
            [] => 0,
            [b'.', fraction @ ..] if (1..=6).contains(&fraction.len()) => {
                crate::digits(fraction).ok_or(Fallback)? * 10i64.pow(6 - fraction.len() as u32)
            }
            _ => return Err(Fallback),
        };
        let seconds =
            days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        Ok(seconds * 1_000_000 + micros)
    }
}
