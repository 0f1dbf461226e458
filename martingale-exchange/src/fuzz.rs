//! Strategies shared by the adapters' fuzz tests (test builds only):
//! arbitrary JSON, and documented reply shapes with perturbed field values
//! (huge, tiny, negative, scientific numbers; wrong types; missing fields).

use proptest::prelude::*;
use serde_json::{Map, Value};

/// A hostile field value: numbers as strings and as JSON numbers (huge,
/// tiny, negative, scientific, fractional), wrong types, null.
pub(crate) fn field() -> impl Strategy<Value = Value> {
    prop_oneof![
        // Numeric strings, including ones that overflow a Decimal.
        prop_oneof![
            Just("0".to_string()),
            Just("-5".to_string()),
            Just("1e-28".to_string()),
            Just("7.9e28".to_string()),
            Just("79228162514264337593543950335".to_string()),
            Just("99999999999999999999999999999999".to_string()),
            Just("0.0000000000000000000000000001".to_string()),
            Just("1718386312255.3608".to_string()),
            Just("NaN".to_string()),
            Just(String::new()),
            "-?[0-9]{1,32}(\\.[0-9]{0,30})?(e-?[0-9]{1,3})?",
        ]
        .prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        ".{0,12}".prop_map(Value::String),
        Just(Value::Array(vec![])),
        Just(Value::Object(Map::new())),
    ]
}

/// Arbitrary JSON, a few levels deep.
pub(crate) fn json() -> impl Strategy<Value = Value> {
    field().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A documented reply `shape` with some fields replaced by hostile values
/// or removed: `edits` are (field index, replacement or removal).
pub(crate) fn perturbed(shape: Value) -> impl Strategy<Value = Value> {
    let keys: Vec<String> = shape.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    let n = keys.len().max(1);
    prop::collection::vec((0..n, prop::option::weighted(0.9, field())), 0..6).prop_map(move |edits| {
        let mut v = shape.clone();
        if let Some(obj) = v.as_object_mut() {
            for (i, value) in edits {
                let Some(k) = keys.get(i) else { continue };
                match value {
                    Some(x) => {
                        obj.insert(k.clone(), x);
                    }
                    None => {
                        obj.remove(k);
                    }
                }
            }
        }
        v
    })
}

/// HTTP statuses a venue may answer with.
pub(crate) fn status() -> impl Strategy<Value = reqwest::StatusCode> {
    prop_oneof![
        Just(200u16),
        Just(400),
        Just(401),
        Just(403),
        Just(404),
        Just(408),
        Just(418),
        Just(422),
        Just(429),
        Just(500),
        Just(503),
        100u16..600,
    ]
    .prop_map(|s| reqwest::StatusCode::from_u16(s).unwrap_or(reqwest::StatusCode::OK))
}
