//! SLA history and webhook deliveries: evaluations read back per port and time, the
//! newest state of each SLA is found, a repeated evaluation is a no-op, and deliveries
//! read back newest first.

use tessera_catalog::{SlaRecord, WebhookDelivery};

use crate::support::{Fixture, at};

backend_tests!(
    history_reads_back_by_port_and_time,
    the_latest_state_of_each_sla_is_found,
    deliveries_read_back_newest_first,
);

fn record(port: &str, property: &str, element: &str, when: i64, state: &str) -> SlaRecord {
    SlaRecord {
        port: port.into(),
        property: property.into(),
        element: element.into(),
        evaluated_at: at(when),
        state: state.into(),
        measured: Some(when as f64 * 1.5),
        target: "8 h".into(),
        detail: format!("{state} at {when}"),
        probe_ok: state != "red",
    }
}

async fn history_reads_back_by_port_and_time(fx: Fixture) {
    let store = fx.open().await;
    let batch = vec![
        record(
            "crm.customers",
            "latency",
            "customers.signup_date",
            10,
            "green",
        ),
        record("crm.customers", "availability", "", 10, "green"),
        record("web.events", "latency", "", 10, "amber"),
    ];
    store.record_slas(&batch).await.unwrap();
    // The same evaluation again (a retried write) changes nothing.
    store.record_slas(&batch).await.unwrap();
    store
        .record_slas(&[record(
            "crm.customers",
            "latency",
            "customers.signup_date",
            20,
            "red",
        )])
        .await
        .unwrap();

    let other = fx.open().await;
    let all = other.sla_history(None, at(0)).await.unwrap();
    assert_eq!(all.len(), 4, "{all:#?}");
    let keys: Vec<(&str, &str, i64)> = all
        .iter()
        .map(|r| {
            (
                r.port.as_str(),
                r.property.as_str(),
                (r.evaluated_at - at(0)).num_seconds(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("crm.customers", "availability", 10),
            ("crm.customers", "latency", 10),
            ("crm.customers", "latency", 20),
            ("web.events", "latency", 10),
        ]
    );
    assert_eq!(
        all[2],
        record(
            "crm.customers",
            "latency",
            "customers.signup_date",
            20,
            "red"
        )
    );
    let recent = other
        .sla_history(Some("crm.customers"), at(15))
        .await
        .unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].state, "red");
    assert!(!recent[0].probe_ok);
    assert!(
        other
            .sla_history(Some("nope.nothing"), at(0))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_latest_state_of_each_sla_is_found(fx: Fixture) {
    let store = fx.open().await;
    assert!(store.latest_slas().await.unwrap().is_empty());
    for (when, state) in [(10, "green"), (20, "red"), (30, "amber")] {
        store
            .record_slas(&[
                record(
                    "crm.customers",
                    "latency",
                    "customers.signup_date",
                    when,
                    state,
                ),
                record("crm.customers", "latency", "", when, "green"),
            ])
            .await
            .unwrap();
    }
    let latest = store.latest_slas().await.unwrap();
    let got: Vec<(&str, &str, &str)> = latest
        .iter()
        .map(|r| (r.property.as_str(), r.element.as_str(), r.state.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("latency", "", "green"),
            ("latency", "customers.signup_date", "amber"),
        ]
    );
    assert_eq!(latest[1].evaluated_at, at(30));
}

async fn deliveries_read_back_newest_first(fx: Fixture) {
    let store = fx.open().await;
    let delivery = |id: &str, when: i64, delivered: bool| WebhookDelivery {
        id: id.into(),
        url: "http://127.0.0.1:9/hooks".into(),
        event: "breach".into(),
        port: "crm.customers".into(),
        property: "latency".into(),
        attempts: if delivered { 1 } else { 4 },
        delivered,
        status: if delivered { Some(204) } else { None },
        error: (!delivered).then(|| "connection refused".to_string()),
        created_at: at(when),
        finished_at: at(when + 5),
        payload: format!("{{\"delivery\":\"{id}\"}}"),
    };
    store
        .record_webhook_delivery(&delivery("d1", 10, true))
        .await
        .unwrap();
    store
        .record_webhook_delivery(&delivery("d2", 20, false))
        .await
        .unwrap();
    // Recording the same delivery again is a no-op.
    store
        .record_webhook_delivery(&delivery("d2", 20, false))
        .await
        .unwrap();
    let got = fx.open().await.webhook_deliveries(10).await.unwrap();
    assert_eq!(
        got,
        vec![delivery("d2", 20, false), delivery("d1", 10, true)]
    );
    assert_eq!(store.webhook_deliveries(1).await.unwrap().len(), 1);
}
