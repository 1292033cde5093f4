//! Contract diff: a table of hand-written changes, each breaking or not, and the
//! schema-evolution fixtures of datacontract-cli.

use serde_json::{Value, json};
use tessera_model::diff::{GateError, Impact, diff};
use tessera_model::odcs::Contract;

/// The old contract every case starts from.
fn base() -> Value {
    json!({
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "shop.orders.orders",
        "version": "1.2.0", "status": "active",
        "schema": [{
            "name": "orders", "physicalType": "table", "description": "One row per order.",
            "properties": [
                {"name": "order_id", "logicalType": "integer", "physicalType": "bigint",
                 "required": true, "unique": true, "primaryKey": true, "primaryKeyPosition": 1},
                {"name": "status", "logicalType": "string", "required": true,
                 "quality": [{"metric": "invalidValues",
                              "arguments": {"validValues": ["open", "paid", "shipped"]},
                              "mustBe": 0}]},
                {"name": "email", "logicalType": "string", "classification": "restricted",
                 "logicalTypeOptions": {"maxLength": 254, "minLength": 3}},
                {"name": "amount", "logicalType": "number", "physicalType": "decimal(10,2)",
                 "description": "Order total."},
                {"name": "note", "logicalType": "string"}
            ],
            "quality": [{"name": "enough rows", "metric": "rowCount", "mustBeGreaterThan": 100}]
        }],
        "slaProperties": [
            {"property": "latency", "value": 4, "unit": "h"},
            {"property": "retention", "value": 2, "unit": "y"},
            {"property": "availability", "value": "99.9%"},
            {"property": "frequency", "value": 1, "unit": "d"}
        ]
    })
}

fn contract(file: &str, doc: &Value) -> Contract {
    let text = serde_json::to_string_pretty(doc).unwrap();
    let (c, diags) = Contract::parse(file, &text);
    c.unwrap_or_else(|| panic!("{file} does not parse: {diags:?}"))
}

fn column<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
    doc["schema"][0]["properties"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["name"] == name)
        .unwrap()
}

fn sla<'a>(doc: &'a mut Value, property: &str) -> &'a mut Value {
    doc["slaProperties"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["property"] == property)
        .unwrap()
}

type Edit = fn(&mut Value);

type Case = (&'static str, Edit, &'static [(&'static str, Impact)]);

/// (what, the edit, the change kinds expected with their impact).
fn cases() -> Vec<Case> {
    use Impact::{Breaking as B, NonBreaking as N};
    vec![
        ("nothing", |_| {}, &[]),
        (
            "a column removed",
            |d| {
                d["schema"][0]["properties"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|p| p["name"] != "note");
            },
            &[("column_removed", B)],
        ),
        (
            "a column renamed (removed + added)",
            |d| column(d, "note")["name"] = json!("remark"),
            &[("column_removed", B), ("column_added", N)],
        ),
        (
            "a type widened (integer → number)",
            |d| column(d, "order_id")["logicalType"] = json!("number"),
            &[("type_changed", B)],
        ),
        (
            "a physical type widened (decimal(10,2) → decimal(18,2))",
            |d| column(d, "amount")["physicalType"] = json!("decimal(18,2)"),
            &[("type_changed", B)],
        ),
        (
            "the same type in other letters",
            |d| column(d, "order_id")["physicalType"] = json!("BIGINT"),
            &[],
        ),
        (
            "required → optional",
            |d| column(d, "status")["required"] = json!(false),
            &[("required_dropped", B)],
        ),
        (
            "optional → required",
            |d| column(d, "note")["required"] = json!(true),
            &[("required_added", N)],
        ),
        (
            "unique dropped",
            |d| column(d, "order_id")["unique"] = json!(false),
            &[("unique_dropped", B)],
        ),
        (
            "primary key dropped",
            |d| column(d, "order_id")["primaryKey"] = json!(false),
            &[("primary_key_dropped", B)],
        ),
        (
            "allowed values added",
            |d| {
                column(d, "status")["quality"][0]["arguments"]["validValues"] =
                    json!(["open", "paid", "shipped", "refunded"])
            },
            &[("allowed_values_added", B)],
        ),
        (
            "fewer allowed values",
            |d| {
                column(d, "status")["quality"][0]["arguments"]["validValues"] =
                    json!(["open", "paid"])
            },
            &[("allowed_values_removed", N)],
        ),
        (
            "a larger maximum length",
            |d| column(d, "email")["logicalTypeOptions"]["maxLength"] = json!(320),
            &[("type_options_loosened", B)],
        ),
        (
            "a smaller maximum length",
            |d| column(d, "email")["logicalTypeOptions"]["maxLength"] = json!(200),
            &[("type_options_tightened", N)],
        ),
        (
            "a minimum length dropped",
            |d| {
                column(d, "email")["logicalTypeOptions"]
                    .as_object_mut()
                    .unwrap()
                    .remove("minLength");
            },
            &[("type_options_loosened", B)],
        ),
        (
            "a pattern added",
            |d| column(d, "email")["logicalTypeOptions"]["pattern"] = json!("^.+@.+$"),
            &[("type_options_tightened", N)],
        ),
        (
            "an SLA weakened (latency 4 h → 1 d)",
            |d| {
                let s = sla(d, "latency");
                s["value"] = json!(1);
                s["unit"] = json!("d");
            },
            &[("sla_weakened", B)],
        ),
        (
            "an SLA tightened (latency 4 h → 30 min)",
            |d| {
                let s = sla(d, "latency");
                s["value"] = json!(30);
                s["unit"] = json!("min");
            },
            &[("sla_tightened", N)],
        ),
        (
            "retention shortened",
            |d| sla(d, "retention")["value"] = json!(1),
            &[("sla_weakened", B)],
        ),
        (
            "availability lowered",
            |d| sla(d, "availability")["value"] = json!("99.5%"),
            &[("sla_weakened", B)],
        ),
        (
            "availability raised",
            |d| sla(d, "availability")["value"] = json!("99.99%"),
            &[("sla_tightened", N)],
        ),
        (
            "an SLA removed",
            |d| {
                d["slaProperties"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|s| s["property"] != "frequency");
            },
            &[("sla_removed", B)],
        ),
        (
            "an SLA this diff cannot compare",
            |d| {
                d["slaProperties"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"property": "custom", "value": "gold"}));
            },
            &[("sla_added", N)],
        ),
        (
            "a classification loosened",
            |d| column(d, "email")["classification"] = json!("internal"),
            &[("classification_loosened", B)],
        ),
        (
            "a classification tightened",
            |d| column(d, "note")["classification"] = json!("confidential"),
            &[("classification_tightened", N)],
        ),
        (
            "a new optional column",
            |d| {
                d["schema"][0]["properties"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "coupon", "logicalType": "string"}));
            },
            &[("column_added", N)],
        ),
        (
            "a new description",
            |d| column(d, "amount")["description"] = json!("Order total in EUR, tax included."),
            &[("description_changed", N)],
        ),
        (
            "a table-level quality rule dropped",
            |d| d["schema"][0]["quality"] = json!([]),
            &[("quality_removed", B)],
        ),
        (
            "a quality rule rewritten",
            |d| d["schema"][0]["quality"][0]["mustBeGreaterThan"] = json!(10),
            &[("quality_changed", B)],
        ),
        (
            "the status deprecated",
            |d| d["status"] = json!("deprecated"),
            &[("status_changed", N)],
        ),
    ]
}

#[test]
fn every_kind_of_change_is_classified_from_the_consumers_side() {
    let old = contract("old.odcs.yaml", &base());
    let mut failures = Vec::new();
    for (what, edit, expected) in cases() {
        let mut doc = base();
        edit(&mut doc);
        let new = contract("new.odcs.yaml", &doc);
        let d = diff(&old, &new);
        let mut got: Vec<(&str, Impact)> = d.changes.iter().map(|c| (c.kind, c.impact)).collect();
        let mut want = expected.to_vec();
        got.sort();
        want.sort();
        if got != want {
            failures.push(format!(
                "{what}: expected {want:?}, got:\n{}",
                d.changes
                    .iter()
                    .map(|c| format!("    {c}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        // Breaking changes come first.
        assert!(
            d.changes.is_sorted_by_key(|c| c.impact),
            "{what}: {:?}",
            d.changes
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn reasons_say_what_changed_and_why_it_breaks() {
    let old = contract("old.odcs.yaml", &base());
    let mut doc = base();
    column(&mut doc, "note")["name"] = json!("remark");
    column(&mut doc, "order_id")["logicalType"] = json!("number");
    let d = diff(&old, &contract("new.odcs.yaml", &doc));
    let text: Vec<String> = d.changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "breaking  orders.order_id.logicalType: logicalType `integer` → `number`: a reader typed for the old type can fail or misread, even when the new one is wider",
            "breaking  orders.note: column `note` was removed: queries that select it fail (renamed to `remark`? a rename is a removal for its readers)",
            "      ok  orders.remark: optional column `remark` was added",
        ]
    );
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["changes"][0]["impact"], "breaking");
    assert_eq!(json["changes"][0]["kind"], "type_changed");
    assert_eq!(json["changes"][0]["before"], "integer");
    assert_eq!(json["changes"][0]["after"], "number");
}

#[test]
fn breaking_changes_need_a_new_major_version() {
    let old = contract("old.odcs.yaml", &base());
    let mut doc = base();
    column(&mut doc, "status")["required"] = json!(false);
    for (version, passes) in [
        ("1.3.0", false),
        ("1.2.1", false),
        ("2.0.0", true),
        ("v2.1.0", true),
    ] {
        doc["version"] = json!(version);
        let d = diff(&old, &contract("new.odcs.yaml", &doc));
        assert_eq!(d.version_gate().is_ok(), passes, "{version}");
    }
    doc["version"] = json!("1.3.0");
    let err = diff(&old, &contract("new.odcs.yaml", &doc))
        .version_gate()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "1 breaking change needs a new major version (the contract goes from 1.2.0 to 1.3.0; make it 2.0.0 or later, or keep the old promise):\n  - orders.status.required: required true → false: the column may now be null: a reader that relied on a value fails"
    );
    // Below 1.0.0 the minor number is the major one.
    let mut zero = base();
    zero["version"] = json!("0.4.2");
    let old_zero = contract("old.odcs.yaml", &zero);
    column(&mut zero, "status")["required"] = json!(false);
    zero["version"] = json!("0.4.3");
    let err = diff(&old_zero, &contract("new.odcs.yaml", &zero))
        .version_gate()
        .unwrap_err();
    assert!(
        matches!(&err, GateError::NeedsMajor { suggested, .. } if suggested == "0.5.0"),
        "{err}"
    );
    zero["version"] = json!("0.5.0");
    assert!(
        diff(&old_zero, &contract("new.odcs.yaml", &zero))
            .version_gate()
            .is_ok()
    );
    // A version that is not semver cannot be checked: said so.
    zero["version"] = json!("next");
    let err = diff(&old_zero, &contract("new.odcs.yaml", &zero))
        .version_gate()
        .unwrap_err();
    assert!(
        err.to_string().contains("`next` is not a semantic version"),
        "{err}"
    );
    // Without a breaking change, any version will do.
    let mut doc = base();
    column(&mut doc, "note")["required"] = json!(true);
    doc["version"] = json!("1.2.0");
    assert!(
        diff(&old, &contract("new.odcs.yaml", &doc))
            .version_gate()
            .is_ok()
    );
}

/// datacontract-cli's schema-evolution fixtures: version 2 adds an optional column
/// (`population`) and servers, and bumps the major version; going back removes it.
#[test]
fn the_schema_evolution_fixtures() {
    let dir = crate::conformance::fixtures().join("odcs/examples/datacontract-cli");
    let read = |name: &str| {
        let file = dir.join(name);
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // Version 2's JSON servers carry `delimiter`, which ODCS v3.1.0 does not allow
        // (the fixtures' README lists it); the servers are not what is compared here.
        let text: String = text
            .lines()
            .filter(|l| l.trim() != "delimiter: new_line")
            .map(|l| format!("{l}\n"))
            .collect();
        let (c, diags) = Contract::parse(name, &text);
        c.unwrap_or_else(|| panic!("{name} does not parse: {diags:?}"))
    };
    let v1 = read("schema-evolution__odcs-datacontract-cities-version-1.yaml");
    let v2 = read("schema-evolution__odcs-datacontract-cities-version-2.yaml");
    let forward = diff(&v1, &v2);
    let kinds: Vec<(&str, &str, Impact)> = forward
        .changes
        .iter()
        .map(|c| (c.kind, c.path.as_str(), c.impact))
        .collect();
    assert_eq!(
        kinds,
        [
            ("column_added", "cities.population", Impact::NonBreaking),
            ("servers_changed", "servers", Impact::NonBreaking),
        ]
    );
    assert!(forward.version_gate().is_ok());
    let back = diff(&v2, &v1);
    assert!(back.is_breaking());
    assert_eq!(back.changes[0].kind, "column_removed");
    assert_eq!(back.changes[0].path, "cities.population");
    // 2.0.0 → 1.0.0 with a removed column: refused.
    assert!(matches!(
        back.version_gate(),
        Err(GateError::NeedsMajor { .. })
    ));
}
