//! ODCS logical types and Arrow types: which Arrow types satisfy a contract's
//! `logicalType`, and which Arrow type a source file's column is read as.
//!
//! | logicalType | accepted Arrow types | a CSV/JSON source column is read as |
//! |---|---|---|
//! | string | Utf8, LargeUtf8, Utf8View | Utf8 |
//! | integer | Int8…Int64, UInt8…UInt64 | Int64 |
//! | number | every integer, Float16/32/64, Decimal128/256 | Float64 |
//! | boolean | Boolean | Boolean |
//! | date | Date32, Date64 | Date32 |
//! | timestamp | Timestamp (any unit, with or without a time zone) | Timestamp(µs, UTC) |
//! | time | Time32, Time64 | Time64(µs) |
//! | object | Struct, Map | Utf8 (JSON text) |
//! | array | List, LargeList, FixedSizeList, ListView | Utf8 (JSON text) |
//!
//! Kept in step with docs/contract-checks.md.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use tessera_model::odcs::Property;

/// Whether data of Arrow type `dt` keeps the promise of `logical`.
pub fn compatible(logical: &str, dt: &DataType) -> bool {
    use DataType::*;
    match logical {
        "string" => matches!(dt, Utf8 | LargeUtf8 | Utf8View),
        "integer" => dt.is_integer(),
        "number" => {
            dt.is_integer() || dt.is_floating() || matches!(dt, Decimal128(..) | Decimal256(..))
        }
        "boolean" => matches!(dt, Boolean),
        "date" => matches!(dt, Date32 | Date64),
        "timestamp" => matches!(dt, Timestamp(..)),
        "time" => matches!(dt, Time32(_) | Time64(_)),
        "object" => matches!(dt, Struct(_) | Map(..)),
        "array" => matches!(
            dt,
            List(_) | LargeList(_) | FixedSizeList(..) | ListView(_) | LargeListView(_)
        ),
        // A contract without a logical type promises nothing about the type.
        _ => true,
    }
}

/// The Arrow type a column of a text source (CSV, JSON) is read as.
pub fn source_type(logical: Option<&str>) -> DataType {
    match logical {
        Some("integer") => DataType::Int64,
        Some("number") => DataType::Float64,
        Some("boolean") => DataType::Boolean,
        Some("date") => DataType::Date32,
        Some("timestamp") => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Some("time") => DataType::Time64(TimeUnit::Microsecond),
        _ => DataType::Utf8,
    }
}

/// The schema a text source is read with: the contract's columns, in order.
pub fn source_schema(properties: &[Property]) -> Arc<Schema> {
    Arc::new(Schema::new(
        properties
            .iter()
            .map(|p| Field::new(&p.name, source_type(p.logical_type.as_deref()), true))
            .collect::<Vec<_>>(),
    ))
}

/// A short name of an Arrow type for messages (`Int64`, `Utf8`, `Timestamp(µs, UTC)`).
pub fn describe(dt: &DataType) -> String {
    match dt {
        DataType::Timestamp(unit, tz) => {
            let unit = match unit {
                TimeUnit::Second => "s",
                TimeUnit::Millisecond => "ms",
                TimeUnit::Microsecond => "µs",
                TimeUnit::Nanosecond => "ns",
            };
            match tz {
                Some(tz) => format!("Timestamp({unit}, {tz})"),
                None => format!("Timestamp({unit})"),
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_is_allowed_within_a_logical_type_but_not_across() {
        assert!(compatible("integer", &DataType::Int32));
        assert!(compatible("number", &DataType::Int64));
        assert!(!compatible("integer", &DataType::Float64));
        assert!(!compatible("string", &DataType::Int64));
        assert!(compatible(
            "timestamp",
            &DataType::Timestamp(TimeUnit::Nanosecond, None)
        ));
        assert!(!compatible(
            "date",
            &DataType::Timestamp(TimeUnit::Nanosecond, None)
        ));
    }
}
