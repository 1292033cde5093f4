//! Products, ports and contracts: what the mesh looks like.

use tessera_catalog::{ContractRecord, PortKey, PortRecord, ProductRecord};

use crate::support::{Fixture, at};

backend_tests!(
    products_upsert_and_read_back_in_order,
    ports_upsert_and_read_back_by_key,
    contracts_keep_history_and_ignore_repeats,
);

fn product(domain: &str, name: &str, updated: i64) -> ProductRecord {
    ProductRecord {
        domain: domain.into(),
        product: name.into(),
        status: "draft".into(),
        description: Some(format!("The {name} of {domain}: naïve ünïcode, 'quotes'")),
        descriptor_yaml: format!("apiVersion: v1.0.0\nkind: DataProduct\nname: {name}\n"),
        updated_at: at(updated),
    }
}

async fn products_upsert_and_read_back_in_order(fx: Fixture) {
    let store = fx.open().await;
    assert_eq!(store.products().await.unwrap(), vec![]);
    for p in [
        product("sales", "orders", 1),
        product("crm", "leads", 2),
        product("crm", "customers", 3),
    ] {
        store.upsert_product(&p).await.unwrap();
    }
    // An upsert replaces every field, including clearing the description.
    let updated = ProductRecord {
        status: "active".into(),
        description: None,
        descriptor_yaml: "name: leads\nstatus: active\n".into(),
        updated_at: at(10),
        ..product("crm", "leads", 0)
    };
    store.upsert_product(&updated).await.unwrap();
    store.upsert_product(&updated).await.unwrap();

    assert_eq!(
        store.products().await.unwrap(),
        vec![
            product("crm", "customers", 3),
            updated,
            product("sales", "orders", 1),
        ]
    );
}

fn port(domain: &str, product: &str, name: &str) -> PortRecord {
    PortRecord {
        key: PortKey::new(domain, product, name),
        contract_id: format!("urn:contract:{domain}:{product}"),
        contract_version: "1.0.0".into(),
        table_uri: format!("file:///data/{domain}/{product}/{name}"),
        write_mode: "overwrite".into(),
        updated_at: at(0),
    }
}

async fn ports_upsert_and_read_back_by_key(fx: Fixture) {
    let store = fx.open().await;
    for p in [
        port("crm", "customers", "main"),
        port("crm", "customers", "archive"),
        port("analytics", "churn", "main"),
    ] {
        store.upsert_port(&p).await.unwrap();
    }
    let moved = PortRecord {
        contract_version: "2.0.0".into(),
        table_uri: "s3://bucket/crm/customers/main".into(),
        write_mode: "append".into(),
        updated_at: at(60),
        ..port("crm", "customers", "main")
    };
    store.upsert_port(&moved).await.unwrap();

    let ports = store.ports().await.unwrap();
    let mut by_key = ports.clone();
    by_key.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(ports, by_key, "ports() is ordered by key");
    assert_eq!(
        ports,
        vec![
            port("analytics", "churn", "main"),
            port("crm", "customers", "archive"),
            moved,
        ]
    );
}

fn contract(version: &str, hash: &str, recorded: i64) -> ContractRecord {
    ContractRecord {
        contract_id: "urn:contract:crm:customers".into(),
        version: version.into(),
        content_hash: hash.into(),
        document_yaml: format!("version: {version}\n# {hash}\n"),
        recorded_at: at(recorded),
    }
}

async fn contracts_keep_history_and_ignore_repeats(fx: Fixture) {
    let store = fx.open().await;
    let first = contract("1.0.0", "h1", 1);
    store.record_contract(&first).await.unwrap();
    // The same (id, version, hash) again: the first record stays, unchanged.
    store
        .record_contract(&ContractRecord {
            document_yaml: "something else".into(),
            recorded_at: at(5),
            ..first.clone()
        })
        .await
        .unwrap();
    // The same (id, version) with new content: history, not an error.
    let edited = contract("1.0.0", "h2", 2);
    store.record_contract(&edited).await.unwrap();
    let next = contract("1.1.0", "h3", 3);
    store.record_contract(&next).await.unwrap();
    let other = ContractRecord {
        contract_id: "urn:contract:crm:leads".into(),
        ..contract("1.0.0", "h1", 0)
    };
    store.record_contract(&other).await.unwrap();

    assert_eq!(
        store.contracts("urn:contract:crm:customers").await.unwrap(),
        vec![first, edited, next]
    );
    assert_eq!(
        store.contracts("urn:contract:crm:leads").await.unwrap(),
        vec![other]
    );
    assert_eq!(store.contracts("urn:unknown").await.unwrap(), vec![]);
}
