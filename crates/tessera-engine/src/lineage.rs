//! OpenLineage run events: START when a product build begins, COMPLETE or FAIL when it ends,
//! with the input datasets (source files, upstream ports) and the output ports.
//!
//! Sent where mesh.yaml's `lineage` says: appended as one JSON line to a file, or POSTed to
//! an HTTP endpoint (e.g. Marquez's `/api/v1/lineage`). Off by default. Emitting is best
//! effort: a lineage endpoint that is down never fails a publish; it is reported as a warning.

use serde_json::{Value, json};
use tessera_model::Mesh;
use tessera_model::mesh::{InputTarget, Product};
use url::Url;

pub const PRODUCER: &str = concat!(
    "https://github.com/tessera-mesh/tessera/tree/v",
    env!("CARGO_PKG_VERSION")
);
const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent";

/// Where events go.
#[derive(Debug, Clone)]
pub enum Sink {
    File(std::path::PathBuf),
    Http(String),
}

/// A dataset as OpenLineage names it: the namespace is the store (`file`, `s3://bucket`),
/// the name the path within it.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub namespace: String,
    pub name: String,
    /// Columns and their types, for the schema facet.
    pub fields: Vec<(String, String)>,
    pub rows: Option<i64>,
}

impl Dataset {
    pub fn from_url(url: &Url, fields: Vec<(String, String)>) -> Dataset {
        let namespace = match url.host_str() {
            Some(h) if !h.is_empty() => format!("{}://{h}", url.scheme()),
            _ => url.scheme().to_string(),
        };
        Dataset {
            namespace,
            name: url.path().trim_end_matches('/').to_string(),
            fields,
            rows: None,
        }
    }

    fn to_json(&self, output: bool) -> Value {
        let mut facets = serde_json::Map::new();
        if !self.fields.is_empty() {
            facets.insert(
                "schema".into(),
                json!({
                    "_producer": PRODUCER,
                    "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
                    "fields": self.fields.iter().map(|(n, t)| json!({"name": n, "type": t})).collect::<Vec<_>>(),
                }),
            );
        }
        let mut v = json!({"namespace": self.namespace, "name": self.name, "facets": facets});
        if let (true, Some(rows)) = (output, self.rows) {
            v["outputFacets"] = json!({
                "outputStatistics": {
                    "_producer": PRODUCER,
                    "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet",
                    "rowCount": rows,
                }
            });
        }
        v
    }
}

/// One run event.
pub fn event(
    kind: &str,
    run_id: &str,
    job_namespace: &str,
    job_name: &str,
    inputs: &[Dataset],
    outputs: &[Dataset],
    error: Option<&str>,
) -> Value {
    let mut run = json!({"runId": run_id});
    if let Some(message) = error {
        run["facets"] = json!({
            "errorMessage": {
                "_producer": PRODUCER,
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
                "message": message,
                "programmingLanguage": "SQL",
            }
        });
    }
    json!({
        "eventType": kind,
        "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "run": run,
        "job": {"namespace": job_namespace, "name": job_name},
        "inputs": inputs.iter().map(|d| d.to_json(false)).collect::<Vec<_>>(),
        "outputs": outputs.iter().map(|d| d.to_json(true)).collect::<Vec<_>>(),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
    })
}

impl Sink {
    /// Sends one event; an error is a message for a warning.
    pub async fn send(&self, event: &Value) -> Result<(), String> {
        match self {
            Sink::File(path) => {
                use std::io::Write;
                let mut line = serde_json::to_vec(event).map_err(|e| e.to_string())?;
                line.push(b'\n');
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .and_then(|mut f| f.write_all(&line))
                    .map_err(|e| format!("{}: {e}", path.display()))
            }
            Sink::Http(url) => {
                let client = reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(10))
                    .build()
                    .map_err(|e| e.to_string())?;
                let response = client
                    .post(url)
                    .json(event)
                    .send()
                    .await
                    .map_err(|e| format!("{url}: {e}"))?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("{url}: HTTP {}", response.status()))
                }
            }
        }
    }
}

/// One edge of the mesh's lineage: a product reads an input, which is a source or another
/// product's output port. `mesh_meta.lineage` and the HTTP catalog's lineage graph are both
/// built from [`edges`], so they agree.
#[derive(Debug, Clone)]
pub struct Edge<'a> {
    /// The product that reads the input.
    pub downstream: &'a Product,
    /// The input port's name in the downstream product's descriptor.
    pub input: &'a str,
    /// What the input port's contract id resolves to.
    pub upstream: InputTarget,
    /// The Delta version the input is pinned to (`tesseraInputVersion`), if any.
    pub pinned_version: Option<u64>,
}

/// Every resolved input of every product: products in mesh order (by domain, then name),
/// each product's inputs as its descriptor lists them. Inputs whose contract id resolves to
/// nothing are left out (validation reports them). Linear in the size of the mesh: the
/// contract index is built once, where [`Mesh::inputs_of`] builds it per product.
pub fn edges(mesh: &Mesh) -> Vec<Edge<'_>> {
    let index = mesh.contract_index();
    mesh.products()
        .flat_map(|product| {
            let index = &index;
            product
                .descriptor
                .input_ports
                .iter()
                .filter_map(move |input| {
                    index.get(input.contract_id.as_str()).map(|target| Edge {
                        downstream: product,
                        input: input.name.as_str(),
                        upstream: target.clone(),
                        pinned_version: input.pinned_version(),
                    })
                })
        })
        .collect()
}
