//! The venues' own documented example replies, the templates every fake
//! venue builds its answers from, and the shape check that holds the fakes
//! to them.
//!
//! Each file under `tests/fixtures/documented/<venue>/<name>.json` holds
//! one endpoint's example reply copied field for field from the venue's API
//! documentation, with the page it came from (`source`) and where the text
//! was read (`repo_path` / `found_in`). A fake answers with a copy of that
//! example in which only the fields its state decides are replaced
//! ([`with`]); [`with`] refuses a field the example does not have, so a fake
//! cannot invent one, and `documented_shapes.rs` checks every endpoint's
//! live answer against the example with [`same_shape`].
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

fn cache() -> &'static Mutex<HashMap<String, Value>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Value>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The whole fixture file (`source`, `endpoint`, `example`, ...).
pub fn fixture(venue: &str, name: &str) -> Value {
    let key = format!("{venue}/{name}");
    if let Some(v) = cache().lock().unwrap().get(&key) {
        return v.clone();
    }
    // From this crate's tests, or from the workspace root's (the service's
    // end-to-end tests include these fakes too).
    let root = env!("CARGO_MANIFEST_DIR");
    let path = [format!("{root}/tests/fixtures"), format!("{root}/martingale-exchange/tests/fixtures")]
        .into_iter()
        .map(|dir| format!("{dir}/documented/{key}.json"))
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| format!("{root}/tests/fixtures/documented/{key}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    cache().lock().unwrap().insert(key, v.clone());
    v
}

/// The documented example reply of one endpoint.
pub fn example(venue: &str, name: &str) -> Value {
    fixture(venue, name)["example"].clone()
}

/// The first element of a documented list (a row template).
pub fn row(venue: &str, name: &str) -> Value {
    first(&example(venue, name))
}

/// The first element of a list.
pub fn first(v: &Value) -> Value {
    v.as_array().and_then(|a| a.first()).cloned().unwrap_or_else(|| panic!("not a non-empty list: {v}"))
}

/// `template` with `fields` replaced; every field must exist in the
/// template (a fake may not invent fields the venue does not send).
pub fn with(mut template: Value, fields: &[(&str, Value)]) -> Value {
    assert!(template.is_object(), "not an object: {template}");
    let obj = template.as_object_mut().unwrap();
    for (k, v) in fields {
        assert!(obj.contains_key(*k), "the documented reply has no field `{k}`: {obj:?}");
        obj.insert(k.to_string(), v.clone());
    }
    template
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// `got` has the documented shape: the same keys in every object, the
/// same kind of value under each (numbers of any form are one kind; a
/// documented `null` or empty list accepts anything), lists checked
/// element by element against the documented first element, or position
/// by position when the documented list is a tuple of mixed kinds (a
/// candle row).
pub fn same_shape(got: &Value, documented: &Value) -> Result<(), String> {
    shape_at("$", got, documented)
}

fn shape_at(at: &str, got: &Value, doc: &Value) -> Result<(), String> {
    match (got, doc) {
        (_, Value::Null) => Ok(()),
        (Value::Object(g), Value::Object(d)) => {
            let missing: Vec<&String> = d.keys().filter(|k| !g.contains_key(*k)).collect();
            let extra: Vec<&String> = g.keys().filter(|k| !d.contains_key(*k)).collect();
            if !missing.is_empty() || !extra.is_empty() {
                return Err(format!("{at}: missing {missing:?}, not documented {extra:?}"));
            }
            d.iter().try_for_each(|(k, dv)| shape_at(&format!("{at}.{k}"), &g[k], dv))
        }
        (Value::Array(g), Value::Array(d)) => {
            let Some(d0) = d.first() else { return Ok(()) };
            let tuple = d.iter().any(|x| kind(x) != kind(d0));
            if tuple {
                if g.len() != d.len() {
                    return Err(format!("{at}: {} elements, documented {}", g.len(), d.len()));
                }
                g.iter().zip(d).enumerate().try_for_each(|(i, (gv, dv))| shape_at(&format!("{at}[{i}]"), gv, dv))
            } else {
                g.iter().enumerate().try_for_each(|(i, gv)| shape_at(&format!("{at}[{i}]"), gv, d0))
            }
        }
        (g, d) if kind(g) == kind(d) => Ok(()),
        (g, d) => Err(format!("{at}: a {} ({g}), documented a {} ({d})", kind(g), kind(d))),
    }
}
