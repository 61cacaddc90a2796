//! The gateway's batch-upload path, compiled.
//!
//! `BatchCodec.accept` takes the body of a `POST /webhook/live-data/batch` sent with a
//! battery's own token, and gives the Kafka records of its readings and the answer's JSON:
//! what `webhook_gateway.domain.ingest.ingest_batch` gives for the same body, in one call
//! instead of a Python loop over the readings. It takes only the common upload, where every
//! reading is stored as it stands: ASCII JSON without escapes, the battery's own id, known
//! keys, metrics that are numbers (or numbers as text) within their bounds, and either a
//! valid RTC time or no time at all. For anything else it answers `None`, and the Python
//! path, the reference, decides (a rejected item, a skipped field, an unknown key, a GPS
//! time, a reading for another battery). Every constant comes from the Python side, so the
//! two cannot drift; `services/webhook-gateway/tests/test_native_batch.py` holds the two
//! paths to the same records and answers.
//!
//! `rows.rs` is the projector's and the notifier's: a decoded-readings record read into its
//! rows for `COPY`, or into where its readings with errors sit.

mod rows;

use std::collections::HashSet;
use std::fmt;

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use sha1::{Digest, Sha1};

const HEX: &[u8; 16] = b"0123456789abcdef";
const VARIANT: &[u8; 4] = b"89ab";
const NO_VALUE: [&str; 3] = ["", "00-00-00", "00:00:00"];

struct Metric {
    key: String,
    is_float: bool,
    flag: bool,
    fast_low: f64,
    fast_high: f64,
    low: Option<f64>,
    high: Option<f64>,
}

/// What the body of one reading held, borrowed from the body.
#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    Big(u64),
    Float(f64),
}

#[derive(Clone, Copy)]
enum Value<'a> {
    Number(Number),
    Text(&'a str),
}

impl<'de> Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Value::Number(Number::Int(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Value::Number(match i64::try_from(v) {
                    Ok(v) => Number::Int(v),
                    Err(_) => Number::Big(v),
                }))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // "-0" comes here as -0.0 too, but Python reads it as the integer 0: a body
                // with one is declined (`has_integer_negative_zero`), so -0.0 is "-0.0".
                Ok(Value::Number(Number::Float(v)))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Value::Text(v))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[derive(Default)]
struct Item<'a> {
    id: Option<Value<'a>>,
    metrics: Vec<Option<Value<'a>>>,
    err: Option<&'a str>,
    day: Option<&'a str>,
    clock: Option<&'a str>,
    gps_day: Option<&'a str>,
    gps_clock: Option<&'a str>,
}

const ID: usize = usize::MAX;
const ERR: usize = usize::MAX - 1;
const DAY: usize = usize::MAX - 2;
const CLOCK: usize = usize::MAX - 3;
const GPS_DAY: usize = usize::MAX - 4;
const GPS_CLOCK: usize = usize::MAX - 5;

struct ItemSeed<'c>(&'c Config);

impl<'de> DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = Item<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ItemSeed<'_> {
    type Value = Item<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a reading")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let cfg = self.0;
        let mut item = Item {
            metrics: vec![None; cfg.metrics.len()],
            ..Item::default()
        };
        let mut seen: u64 = 0;
        while let Some(key) = map.next_key::<&'de str>()? {
            let (slot, bit) = match key {
                "id" => (ID, 0),
                "err" => (ERR, 1),
                "d" => (DAY, 2),
                "tm" => (CLOCK, 3),
                "gd" => (GPS_DAY, 4),
                "gt" => (GPS_CLOCK, 5),
                _ => match cfg.metrics.iter().position(|m| m.key == key) {
                    Some(index) => (index, 6 + index),
                    None => return Err(de::Error::custom("an unknown key")),
                },
            };
            if seen & (1 << bit) != 0 {
                return Err(de::Error::custom("a key twice"));
            }
            seen |= 1 << bit;
            match slot {
                ID => item.id = map.next_value()?,
                ERR => item.err = map.next_value()?,
                DAY => item.day = map.next_value()?,
                CLOCK => item.clock = map.next_value()?,
                GPS_DAY => item.gps_day = map.next_value()?,
                GPS_CLOCK => item.gps_clock = map.next_value()?,
                index => item.metrics[index] = map.next_value()?,
            }
        }
        Ok(item)
    }
}

struct ItemsSeed<'c>(&'c Config);

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = Vec<Item<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = Vec<Item<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of readings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(ItemSeed(self.0))? {
            if items.len() == self.0.contract.max_items {
                return Err(de::Error::custom("too many readings"));
            }
            items.push(item);
        }
        Ok(items)
    }
}

/// Not the common upload: the Python path decides.
struct Fallback;

enum Stored {
    Int(i64),
    Float(f64),
}

struct Reading<'a> {
    metrics: Vec<(usize, Stored)>,
    err: Option<&'a str>,
    device_time: Option<i64>,
}

#[pyclass(frozen, module = "batteryhub_native")]
struct BatchCodec {
    config: Config,
}

struct Config {
    metrics: Vec<Metric>,
    namespace: Sha1,
    contract: Contract,
}

/// The contract's values this path writes or checks, handed over from Python as a dict
/// (`webhook_gateway/domain/native.py`), so that none is defined twice.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct Contract {
    reading_type: String,
    readings_type: String,
    schema_version: i64,
    source: String,
    max_items: usize,
    max_per_record: usize,
    max_err_length: usize,
    earliest_year: i64,
    max_future_skew_us: i64,
    max_battery_id: i64,
    public_id_bits: u32,
}

type MetricSpec = (String, String, f64, f64, Option<f64>, Option<f64>);

#[pymethods]
impl BatchCodec {
    /// `metrics`: per metric key, in the wire table's order, (key, kind: "float", "int" or
    /// "flag", fast_low, fast_high, low, high), as `FieldSpec` holds them; `namespace`: the
    /// ids' UUID namespace, as bytes.
    #[new]
    #[pyo3(signature = (*, metrics, namespace, contract))]
    fn new(metrics: Vec<MetricSpec>, namespace: &[u8], contract: Contract) -> PyResult<Self> {
        let invalid = pyo3::exceptions::PyValueError::new_err;
        let plain = |text: &str| {
            text.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        };
        let texts = [
            &contract.reading_type,
            &contract.readings_type,
            &contract.source,
        ];
        if metrics.len() > 58
            || contract.max_per_record == 0
            || !(1..=64).contains(&contract.public_id_bits)
            || !texts.iter().all(|t| plain(t))
            || !metrics.iter().all(|m| plain(&m.0))
        {
            return Err(invalid("a configuration this path cannot write"));
        }
        let mut specs = Vec::with_capacity(metrics.len());
        for (key, kind, fast_low, fast_high, low, high) in metrics {
            let (is_float, flag) = match kind.as_str() {
                "float" => (true, false),
                "int" => (false, false),
                "flag" => (false, true),
                _ => return Err(invalid("a metric kind this path does not know")),
            };
            specs.push(Metric {
                key,
                is_float,
                flag,
                fast_low,
                fast_high,
                low,
                high,
            });
        }
        let mut namespace_sha1 = Sha1::new();
        Digest::update(&mut namespace_sha1, namespace);
        Ok(BatchCodec {
            config: Config {
                metrics: specs,
                namespace: namespace_sha1,
                contract,
            },
        })
    }

    /// The records (event id, value) and the answer's JSON for a batch upload of
    /// `battery_id`'s readings, received at `received_us` (microseconds since 1970), whose
    /// ISO texts with and without the offset are `received_iso` and `received_naive`;
    /// `battery_fields` is the JSON of the reading's battery fields without its braces. None
    /// where the Python path must decide.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn accept<'py>(
        &self,
        py: Python<'py>,
        body: &[u8],
        battery_id: i64,
        battery_fields: &str,
        received_us: i64,
        received_iso: &str,
        received_naive: &str,
    ) -> Option<(
        Vec<(String, Bound<'py, PyBytes>)>,
        Bound<'py, PyBytes>,
        usize,
    )> {
        let received = Received {
            us: received_us,
            iso: received_iso,
            naive: received_naive,
        };
        let (records, answer, accepted) = self
            .config
            .accept(body, battery_id, battery_fields, &received)
            .ok()?;
        let records = records
            .into_iter()
            .map(|(event_id, value)| (event_id, PyBytes::new_bound(py, &value)))
            .collect();
        Some((records, PyBytes::new_bound(py, &answer), accepted))
    }
}

struct Received<'a> {
    us: i64,
    iso: &'a str,
    naive: &'a str,
}

type Accepted = (Vec<(String, Vec<u8>)>, Vec<u8>, usize);

impl Config {
    fn accept(
        &self,
        body: &[u8],
        battery_id: i64,
        battery_fields: &str,
        received: &Received,
    ) -> Result<Accepted, Fallback> {
        // No escapes and ASCII only: every string is its bytes, as Python reads it.
        if body.iter().any(|&b| b == b'\\' || b >= 0x80)
            || has_long_digit_run(body)
            || has_integer_negative_zero(body)
        {
            return Err(Fallback);
        }
        let mut de = serde_json::Deserializer::from_slice(body);
        let items = ItemsSeed(self).deserialize(&mut de).map_err(|_| Fallback)?;
        de.end().map_err(|_| Fallback)?;
        if items.is_empty() {
            return Err(Fallback);
        }
        let readings = items
            .iter()
            .map(|item| self.reading(item, battery_id))
            .collect::<Result<Vec<_>, _>>()?;

        let mut events: Vec<(String, Vec<u8>)> = Vec::with_capacity(readings.len());
        let mut seen: HashSet<i64> = HashSet::with_capacity(readings.len());
        let mut answer = Vec::with_capacity(64 + readings.len() * 140);
        answer.extend_from_slice(b"{\"status\":\"success\",\"accepted\":");
        push_int(&mut answer, readings.len() as i64);
        answer.extend_from_slice(b",\"rejected\":0,\"results\":[");
        for (index, reading) in readings.iter().enumerate() {
            let skewed = reading
                .device_time
                .is_some_and(|t| t * 1_000_000 > received.us + self.contract.max_future_skew_us);
            let device_iso = reading.device_time.map(iso_time);
            let reading_id = match (reading.device_time, &device_iso) {
                (Some(t), Some(iso)) => self.reading_id(battery_id, t, iso),
                _ => received_reading_id(received.us)?,
            };
            let (measured_iso, measured_naive) = match (&device_iso, skewed) {
                (Some(iso), false) => (iso.as_str(), &iso[..iso.len() - 6]),
                _ => (received.iso, received.naive),
            };
            if index > 0 {
                answer.push(b',');
            }
            answer.extend_from_slice(b"{\"index\":");
            push_int(&mut answer, index as i64);
            answer.extend_from_slice(b",\"status\":\"accepted\",\"data_id\":");
            push_int(&mut answer, self.public_id(&reading_id) as i64);
            answer.extend_from_slice(b",\"battery_id\":");
            push_int(&mut answer, battery_id);
            answer.extend_from_slice(b",\"timestamp\":\"");
            answer.extend_from_slice(measured_naive.as_bytes());
            answer.extend_from_slice(b"\",\"fields_processed\":");
            push_int(
                &mut answer,
                (reading.metrics.len() + usize::from(reading.err.is_some())) as i64,
            );
            if skewed {
                answer.extend_from_slice(b",\"clock_skewed\":true");
            }
            answer.push(b'}');

            // A reading twice in one upload (same battery and device time) is one reading.
            if let Some(t) = reading.device_time {
                if !seen.insert(t) {
                    continue;
                }
            }
            let source = match (reading.device_time, skewed) {
                (Some(_), false) => "rtc",
                _ => "received",
            };
            let mut event = Vec::with_capacity(700);
            self.push_envelope(
                &mut event,
                &reading_id,
                received.iso,
                &self.contract.reading_type,
            );
            event.extend_from_slice(b",\"reading\":{");
            event.extend_from_slice(battery_fields.as_bytes());
            push_text(&mut event, b",\"measured_at\":", measured_iso);
            push_text(&mut event, b",\"time_source\":", source);
            push_text(&mut event, b",\"received_at\":", received.iso);
            event.extend_from_slice(b",\"device_time\":");
            match &device_iso {
                Some(iso) => push_text(&mut event, b"", iso),
                None => event.extend_from_slice(b"null"),
            }
            event.extend_from_slice(if skewed {
                b",\"clock_skewed\":true,\"metrics\":{"
            } else {
                b",\"clock_skewed\":false,\"metrics\":{"
            });
            for (n, (index, value)) in reading.metrics.iter().enumerate() {
                if n > 0 {
                    event.push(b',');
                }
                push_text(&mut event, b"", &self.metrics[*index].key);
                event.push(b':');
                match value {
                    Stored::Int(v) => push_int(&mut event, *v),
                    Stored::Float(v) => {
                        event.extend_from_slice(ryu::Buffer::new().format_finite(*v).as_bytes())
                    }
                }
            }
            event.extend_from_slice(b"},\"err\":");
            match reading.err {
                Some(err) => push_text(&mut event, b"", err),
                None => event.extend_from_slice(b"null"),
            }
            push_text(&mut event, b",\"source\":", &self.contract.source);
            event.extend_from_slice(b"}}");
            events.push((reading_id, event));
        }
        answer.extend_from_slice(b"]}");

        let mut records = Vec::with_capacity(events.len().div_ceil(self.contract.max_per_record));
        for chunk in events.chunks(self.contract.max_per_record) {
            let (first, last) = (&chunk[0].0, &chunk[chunk.len() - 1].0);
            let event_id = self.uuid5(&format!("batch:{}:{last}:{first}", chunk.len()));
            let size = chunk.iter().map(|(_, e)| e.len() + 1).sum::<usize>() + 200;
            let mut value = Vec::with_capacity(size);
            self.push_envelope(
                &mut value,
                &event_id,
                received.iso,
                &self.contract.readings_type,
            );
            value.extend_from_slice(b",\"readings\":[");
            for (n, (_, event)) in chunk.iter().enumerate() {
                if n > 0 {
                    value.push(b',');
                }
                value.extend_from_slice(event);
            }
            value.extend_from_slice(b"]}");
            records.push((event_id, value));
        }
        Ok((records, answer, readings.len()))
    }

    /// An event's opening fields, as the models order them: `{"event_id":…,"occurred_at":…,
    /// "schema_version":…,"type":…` (the caller writes the rest and the closing brace).
    fn push_envelope(&self, out: &mut Vec<u8>, event_id: &str, occurred_at: &str, kind: &str) {
        push_text(out, b"{\"event_id\":", event_id);
        push_text(out, b",\"occurred_at\":", occurred_at);
        out.extend_from_slice(b",\"schema_version\":");
        push_int(out, self.contract.schema_version);
        push_text(out, b",\"type\":", kind);
    }

    /// One item as `parse_reading` reads it, if it is stored as it stands.
    fn reading<'a>(&self, item: &Item<'a>, battery_id: i64) -> Result<Reading<'a>, Fallback> {
        if self.battery_id(item.id)? != battery_id {
            return Err(Fallback); // another battery's reading: refused by the Python path
        }
        let mut metrics = Vec::with_capacity(self.metrics.len());
        for (index, (spec, value)) in self.metrics.iter().zip(&item.metrics).enumerate() {
            let stored = match value {
                None => continue,
                Some(Value::Number(number)) => fast_number(spec, *number)?,
                Some(Value::Text(text)) => {
                    let text = text.trim_matches(' ');
                    if NO_VALUE.contains(&text) {
                        continue;
                    }
                    text_number(spec, text)?
                }
            };
            metrics.push((index, stored));
        }
        let err = match item.err {
            Some(err) if err.len() > self.contract.max_err_length => return Err(Fallback),
            Some(err) => Some(err.trim_matches(' ')),
            None => None,
        };
        let device_time = match self.rtc_time(item.day, item.clock) {
            Some(t) => Some(t),
            None if item.day.is_none()
                && item.clock.is_none()
                && item.gps_day.is_none()
                && item.gps_clock.is_none() =>
            {
                None
            }
            None => return Err(Fallback), // an unusable RTC time, or a GPS time
        };
        Ok(Reading {
            metrics,
            err,
            device_time,
        })
    }

    fn battery_id(&self, id: Option<Value>) -> Result<i64, Fallback> {
        let id = match id {
            Some(Value::Number(Number::Int(id))) => id,
            Some(Value::Text(text))
                if (1..=16).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) =>
            {
                text.parse::<i64>().map_err(|_| Fallback)?
            }
            _ => return Err(Fallback),
        };
        if 0 < id && id <= self.contract.max_battery_id {
            Ok(id)
        } else {
            Err(Fallback)
        }
    }

    /// `parse_date_time`'s common case: "YYYY-MM-DD" and "HH:MM:SS", a valid time from
    /// `earliest_year` on, as seconds since 1970; None for anything else.
    fn rtc_time(&self, day: Option<&str>, clock: Option<&str>) -> Option<i64> {
        let (day, clock) = (day?.as_bytes(), clock?.as_bytes());
        if day.len() != 10 || clock.len() != 8 || clock == b"00:00:00" {
            return None;
        }
        if day[4] != b'-' || day[7] != b'-' || clock[2] != b':' || clock[5] != b':' {
            return None;
        }
        let year = digits(&day[0..4])?;
        let (month, dom) = (digits(&day[5..7])?, digits(&day[8..10])?);
        let (hour, minute, second) = (
            digits(&clock[0..2])?,
            digits(&clock[3..5])?,
            digits(&clock[6..8])?,
        );
        if year < self.contract.earliest_year
            || !(1..=12).contains(&month)
            || dom < 1
            || dom > days_in_month(year, month)
        {
            return None;
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        Some(days_from_civil(year, month, dom) * 86_400 + hour * 3600 + minute * 60 + second)
    }

    /// `reading_id_text`: a UUIDv7's text of the device time and the SHA-1 of battery and time.
    fn reading_id(&self, battery_id: i64, seconds: i64, iso: &str) -> String {
        let mut sha1 = self.namespace.clone();
        Digest::update(&mut sha1, format!("reading:{battery_id}:{iso}").as_bytes());
        let h = hex(&sha1.finalize());
        v7_text(seconds * 1000, &h[13..16], h.as_bytes()[16], &h[17..32])
    }

    /// `_uuid5_text`: the UUID-5 of `name` in the namespace.
    fn uuid5(&self, name: &str) -> String {
        let mut sha1 = self.namespace.clone();
        Digest::update(&mut sha1, name.as_bytes());
        let h = hex(&sha1.finalize());
        format!(
            "{}-{}-5{}-{}{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            variant(h.as_bytes()[16]) as char,
            &h[17..20],
            &h[20..32]
        )
    }

    fn public_id(&self, reading_id: &str) -> u64 {
        public_id(reading_id, self.contract.public_id_bits)
    }
}

/// `reading_public_id`: the top `bits` bits of an 8-byte BLAKE2b of "reading:<id>", never 0.
fn public_id(reading_id: &str, bits: u32) -> u64 {
    let mut hasher = Blake2bVar::new(8).expect("8 is a valid BLAKE2b size");
    hasher.update(b"reading:");
    hasher.update(reading_id.as_bytes());
    let mut digest = [0u8; 8];
    hasher
        .finalize_variable(&mut digest)
        .expect("the size it was made with");
    (u64::from_be_bytes(digest) >> (64 - bits)).max(1)
}

/// `received_reading_id_text`: a UUIDv7's text of the receive time and 74 random bits.
fn received_reading_id(received_us: i64) -> Result<String, Fallback> {
    let mut random = [0u8; 10];
    getrandom::getrandom(&mut random).map_err(|_| Fallback)?;
    let h = hex(&random);
    Ok(v7_text(
        received_us.div_euclid(1000),
        &h[..3],
        h.as_bytes()[3],
        &h[4..19],
    ))
}

/// A metric given as a JSON number, taken as it is within its fast bounds (as `FastReading`
/// takes it); any other number is `parse_number`'s to judge.
fn fast_number(spec: &Metric, number: Number) -> Result<Stored, Fallback> {
    let within = |x: f64| spec.fast_low <= x && x <= spec.fast_high;
    match number {
        Number::Int(v) if spec.is_float && within(v as f64) => Ok(Stored::Float(v as f64)),
        Number::Int(v) if !spec.is_float && within(v as f64) => Ok(Stored::Int(v)),
        Number::Big(v) if spec.is_float && within(v as f64) => Ok(Stored::Float(v as f64)),
        Number::Float(v) if spec.is_float && within(v) => Ok(Stored::Float(v)),
        _ => Err(Fallback),
    }
}

/// `parse_number` of a metric sent as text: plain decimals only ("-12.5", "7"), within the
/// field's bounds; any other text is `parse_number`'s to judge.
fn text_number(spec: &Metric, text: &str) -> Result<Stored, Fallback> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let plain = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !plain(whole) || !fraction.is_none_or(plain) {
        return Err(Fallback);
    }
    let number = if spec.is_float {
        let x: f64 = text.parse().map_err(|_| Fallback)?;
        if !x.is_finite() {
            return Err(Fallback);
        }
        Stored::Float(x)
    } else {
        // A whole number of at most 15 digits is exact as Python's float; anything else
        // (a fraction, "5.0", a longer number) goes the general way.
        if fraction.is_some() || whole.len() > 15 {
            return Err(Fallback);
        }
        let v: i64 = text.parse().map_err(|_| Fallback)?;
        if spec.flag && v != 0 && v != 1 {
            return Err(Fallback);
        }
        Stored::Int(v)
    };
    let x = match number {
        Stored::Float(x) => x,
        Stored::Int(v) => v as f64,
    };
    if spec.low.is_some_and(|low| x < low) || spec.high.is_some_and(|high| x > high) {
        return Err(Fallback);
    }
    Ok(number)
}

/// `_has_long_digit_run`: 20 digits in a row, beyond what both JSON readers take alike.
fn has_long_digit_run(body: &[u8]) -> bool {
    let mut run = 0;
    for &b in body {
        if b.is_ascii_digit() {
            run += 1;
            if run >= 20 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// "-0" not followed by a fraction or an exponent: the integer 0 to Python, -0.0 to serde.
/// (Inside a string it is only a false alarm: the Python path takes that body.)
fn has_integer_negative_zero(body: &[u8]) -> bool {
    body.windows(3)
        .any(|w| w[0] == b'-' && w[1] == b'0' && !matches!(w[2], b'0'..=b'9' | b'.' | b'e' | b'E'))
        || body.ends_with(b"-0")
}

fn digits(text: &[u8]) -> Option<i64> {
    text.iter().try_fold(0i64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `isoformat` of a whole second in UTC: "YYYY-MM-DDTHH:MM:SS+00:00".
fn iso_time(seconds: i64) -> String {
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let s = seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `_v7_text`: milliseconds since 1970 (none before), version 7, `a`, the variant digit
/// made from `variant_from`, and the 15 hex digits `b`.
fn v7_text(ms: i64, a: &str, variant_from: u8, b: &str) -> String {
    let t = format!("{:012x}", ms.max(0));
    format!(
        "{}-{}-7{a}-{}{}-{}",
        &t[..8],
        &t[8..],
        variant(variant_from) as char,
        &b[..3],
        &b[3..]
    )
}

fn variant(hex_digit: u8) -> u8 {
    let value = match hex_digit {
        b'0'..=b'9' => hex_digit - b'0',
        _ => hex_digit - b'a' + 10,
    };
    VARIANT[usize::from(value & 0b11)]
}

fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(HEX[usize::from(b >> 4)] as char);
        text.push(HEX[usize::from(b & 0xf)] as char);
    }
    text
}

fn push_int(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// `prefix` then `text` as a JSON string. Only for text without characters JSON escapes:
/// the body's strings (no escapes, ASCII), the constants and the times written here.
fn push_text(out: &mut Vec<u8>, prefix: &[u8], text: &str) {
    out.extend_from_slice(prefix);
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

#[pymodule]
fn batteryhub_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BatchCodec>()?;
    m.add_class::<rows::RowCodec>()?;
    m.add_class::<rows::FaultScan>()?;
    Ok(())
}
