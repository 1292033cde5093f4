//! Column masks as DataFusion scalar functions, one per method of
//! [`tessera_governance::Mask`]. A governed view projects a masked column through one of
//! these, so every use of the column — select list, filter, join key, aggregate — sees the
//! masked value and never the raw one.
//!
//! Invariant: the `hash` key never appears in a plan, a log or an error (`Debug` omits it).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, StringArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, new_null_array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result as DfResult, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use tessera_governance::Mask;
use tessera_governance::keyed::mask_hash;

/// The scalar function applying `mask`; `key` is used by `hash` only.
pub(crate) fn udf(mask: Mask, key: Arc<[u8]>) -> ScalarUDF {
    ScalarUDF::new_from_impl(MaskFn {
        mask,
        key,
        name: format!("tessera_mask_{}", mask.as_str()),
        signature: Signature::any(1, Volatility::Immutable),
    })
}

struct MaskFn {
    mask: Mask,
    key: Arc<[u8]>,
    name: String,
    signature: Signature,
}

impl std::fmt::Debug for MaskFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskFn")
            .field("mask", &self.mask)
            .finish_non_exhaustive()
    }
}

impl PartialEq for MaskFn {
    fn eq(&self, other: &Self) -> bool {
        self.mask == other.mask && self.key == other.key
    }
}
impl Eq for MaskFn {}
impl Hash for MaskFn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_number(t: &DataType) -> bool {
    t.is_numeric()
}

impl ScalarUDFImpl for MaskFn {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        let t = &args[0];
        Ok(match self.mask {
            Mask::Null => t.clone(),
            Mask::Redact if is_text(t) => DataType::Utf8,
            Mask::Redact => t.clone(),
            Mask::Hash | Mask::Partial => DataType::Utf8,
            Mask::Generalize => match t {
                DataType::Timestamp(..) | DataType::Date32 => t.clone(),
                t if is_number(t) || is_text(t) => DataType::Utf8,
                t => t.clone(),
            },
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let input = args.args[0].to_array(rows)?;
        let out = self.apply(&input)?;
        Ok(ColumnarValue::Array(out))
    }
}

impl MaskFn {
    fn apply(&self, input: &ArrayRef) -> DfResult<ArrayRef> {
        let t = input.data_type();
        match self.mask {
            Mask::Null => Ok(new_null_array(t, input.len())),
            Mask::Redact if is_text(t) => Ok(map_text(input, |_| Some("***".into()))?),
            Mask::Redact => Ok(new_null_array(t, input.len())),
            Mask::Hash => {
                let key = self.key.clone();
                map_text(input, move |v| Some(mask_hash(&key, v.as_bytes())))
            }
            Mask::Partial => map_text(input, |v| Some(partial(v))),
            Mask::Generalize => match t {
                DataType::Timestamp(unit, tz) => month_of_timestamps(input, *unit, tz.clone()),
                DataType::Date32 => {
                    let days = input.as_primitive::<datafusion::arrow::datatypes::Date32Type>();
                    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
                    let out: Date32Array = days
                        .iter()
                        .map(|d| {
                            d.and_then(|d| {
                                let date =
                                    epoch + chrono::Days::new(0) + chrono::Duration::days(d as i64);
                                let first = date.with_day(1)?;
                                Some((first - epoch).num_days() as i32)
                            })
                        })
                        .collect();
                    Ok(Arc::new(out))
                }
                t if is_number(t) => {
                    let floats = cast(input, &DataType::Float64)?;
                    let floats = floats.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
                    let out: StringArray = floats.iter().map(|v| v.map(magnitude_range)).collect();
                    Ok(Arc::new(out))
                }
                t if is_text(t) => map_text(input, |_| Some("***".into())),
                _ => Ok(new_null_array(t, input.len())),
            },
        }
    }
}

/// Applies `f` to each non-null value's text (any type, cast to text first).
fn map_text(input: &ArrayRef, f: impl Fn(&str) -> Option<String>) -> DfResult<ArrayRef> {
    let text = cast(input, &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    let out: StringArray = text.iter().map(|v| v.and_then(&f)).collect();
    Ok(Arc::new(out))
}

/// `ada@example.com` → `***@example.com`; `Lovelace` → `L***`.
fn partial(v: &str) -> String {
    match v.rsplit_once('@') {
        Some((_, domain)) => format!("***@{domain}"),
        None => match v.chars().next() {
            Some(c) => format!("{c}***"),
            None => String::new(),
        },
    }
}

/// The order of magnitude a number lies in: `1234` → `[1000, 10000)`, `0` → `0`.
fn magnitude_range(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { "***".into() };
    }
    let k = v.abs().log10().floor();
    let lo = 10f64.powf(k);
    let hi = lo * 10.0;
    let fmt = |x: f64| {
        if x >= 1.0 {
            format!("{x:.0}")
        } else {
            format!("{x}")
        }
    };
    if v > 0.0 {
        format!("[{}, {})", fmt(lo), fmt(hi))
    } else {
        format!("(-{}, -{}]", fmt(hi), fmt(lo))
    }
}

fn month_of_timestamps(
    input: &ArrayRef,
    unit: TimeUnit,
    tz: Option<Arc<str>>,
) -> DfResult<ArrayRef> {
    let per_second: i64 = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    let values: Vec<Option<i64>> = match unit {
        TimeUnit::Second => input
            .as_any()
            .downcast_ref::<TimestampSecondArray>()
            .map(|a| a.iter().collect()),
        TimeUnit::Millisecond => input
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .map(|a| a.iter().collect()),
        TimeUnit::Microsecond => input
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .map(|a| a.iter().collect()),
        TimeUnit::Nanosecond => input
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .map(|a| a.iter().collect()),
    }
    .unwrap_or_default();
    if values.len() != input.len() {
        return exec_err!("tessera_mask_generalize: unexpected timestamp array");
    }
    let month = |v: i64| -> Option<i64> {
        let t: DateTime<Utc> = Utc.timestamp_opt(v.div_euclid(per_second), 0).single()?;
        let first = Utc
            .with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
            .single()?;
        Some(first.timestamp() * per_second)
    };
    let out: Vec<Option<i64>> = values.into_iter().map(|v| v.and_then(month)).collect();
    let array: ArrayRef = match unit {
        TimeUnit::Second => Arc::new(TimestampSecondArray::from(out).with_timezone_opt(tz)),
        TimeUnit::Millisecond => {
            Arc::new(TimestampMillisecondArray::from(out).with_timezone_opt(tz))
        }
        TimeUnit::Microsecond => {
            Arc::new(TimestampMicrosecondArray::from(out).with_timezone_opt(tz))
        }
        TimeUnit::Nanosecond => Arc::new(TimestampNanosecondArray::from(out).with_timezone_opt(tz)),
    };
    Ok(array)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_and_ranges_hide_what_they_should() {
        assert_eq!(partial("ada@example.com"), "***@example.com");
        assert_eq!(partial("Lovelace"), "L***");
        assert_eq!(magnitude_range(1234.0), "[1000, 10000)");
        assert_eq!(magnitude_range(19.99), "[10, 100)");
        assert_eq!(magnitude_range(5.01), "[1, 10)");
        assert_eq!(magnitude_range(0.0), "0");
        assert_eq!(magnitude_range(-42.0), "(-100, -10]");
    }

    #[test]
    fn masks_keep_nulls_and_types() {
        let key: Arc<[u8]> = Arc::from(&b"k"[..]);
        let f = |m| MaskFn {
            mask: m,
            key: key.clone(),
            name: String::new(),
            signature: Signature::any(1, Volatility::Immutable),
        };
        let ids: ArrayRef = Arc::new(datafusion::arrow::array::Int64Array::from(vec![
            Some(4711),
            None,
        ]));
        let hashed = f(Mask::Hash).apply(&ids).unwrap();
        let hashed = hashed.as_string::<i32>();
        assert_eq!(hashed.value(0), mask_hash(b"k", b"4711"));
        assert!(hashed.is_null(1));
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some(String::from("4711"))]));
        let from_text = f(Mask::Hash).apply(&text).unwrap();
        assert_eq!(
            from_text.as_string::<i32>().value(0),
            hashed.value(0),
            "an id hashes the same as text or integer"
        );
        let nulls = f(Mask::Null).apply(&ids).unwrap();
        assert_eq!(
            (nulls.data_type(), nulls.null_count()),
            (&DataType::Int64, 2)
        );
        let ts: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![Some(1_773_000_000_000_000)]).with_timezone("UTC"),
        );
        let month = f(Mask::Generalize).apply(&ts).unwrap();
        let month = month
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        let t = Utc.timestamp_micros(month.value(0)).unwrap();
        assert_eq!(
            (t.day(), t.format("%H:%M").to_string()),
            (1, "00:00".to_string())
        );
    }
}
