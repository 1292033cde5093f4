//! The build runner: `build` (candidates only) and `publish` (build, check, commit), and
//! `test` (check a candidate or the published version).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::Utc;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::SessionContext;
use serde::Serialize;
use serde_json::json;
use tessera_catalog::{
    CheckRecord, ContractRecord, NewRun, PortKey, PortRecord, ProductRecord, RunFinish, RunKind,
    RunStatus, VersionRecord,
};
use tessera_model::ProductRef;
use tessera_model::mesh::{InputTarget, Port, Product};
use tessera_model::odcs::{Contract, SchemaObject};
use tessera_quality::{CheckOptions, Report};
use tessera_storage::{CommitMeta, WriteMode};

use crate::candidate::{self, Candidate, Manifest};
use crate::hash::Hasher;
use crate::lineage::{self, Dataset};
use crate::session;
use crate::{Engine, EngineError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Build candidates; check and commit nothing.
    Build,
    /// Build, check, and commit when every error-level check passes.
    Publish,
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Rebuild even when nothing changed since the last good publish.
    pub force: bool,
    pub check: CheckOptions,
}

/// A port's contract status changed between its newest published version and this
/// publish (`active` → `deprecated`, …).
#[derive(Debug, Clone)]
struct LifecycleChange {
    table: String,
    from: String,
    to: String,
    sunset: Option<String>,
    replacement: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Succeeded,
    Failed,
    /// Nothing changed since the last good publish.
    Skipped,
    /// An upstream product failed in this run, so this one was not built.
    Blocked,
}

#[derive(Debug, Clone, Serialize)]
pub struct PortOutcome {
    pub port: String,
    pub rows: i64,
    /// The Delta version committed (publish) or serving (skipped).
    pub version: Option<i64>,
    pub report: Option<Report>,
    /// Where failing rows were written.
    pub quarantine: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceOutcome {
    /// `<domain>.<source>`.
    pub table: String,
    pub report: Report,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProductOutcome {
    pub product: String,
    pub run_id: Option<String>,
    pub status: Status,
    /// Why it was skipped or blocked, or what failed.
    pub message: Option<String>,
    pub ports: Vec<PortOutcome>,
    /// The product's source inputs, checked against their contracts before the build.
    pub sources: Vec<SourceOutcome>,
    pub duration_ms: u64,
    /// Problems that did not fail the run (e.g. a lineage endpoint that was down).
    pub warnings: Vec<String>,
}

impl ProductOutcome {
    /// Every check report: the sources' and the ports', with what each is of.
    pub fn reports(&self) -> impl Iterator<Item = (&str, &Report)> {
        self.sources
            .iter()
            .map(|s| (s.table.as_str(), &s.report))
            .chain(
                self.ports
                    .iter()
                    .filter_map(|p| p.report.as_ref().map(|r| (p.port.as_str(), r))),
            )
    }

    /// Every check result, as the metadata store records it.
    pub fn check_records(&self) -> Vec<CheckRecord> {
        self.reports()
            .flat_map(|(of, report)| {
                report.checks.iter().map(move |c| CheckRecord {
                    port: of.to_string(),
                    name: c.name.clone(),
                    kind: c.kind.clone(),
                    column: c.column.clone(),
                    severity: c.severity.as_str().into(),
                    passed: c.passed,
                    measured: c.measured,
                    expected: c.expected.clone(),
                    failed_rows: c.failed_rows,
                    samples: serde_json::Value::Array(c.samples.clone()),
                    message: c.message.clone(),
                })
            })
            .collect()
    }

    fn new(product: &ProductRef, status: Status, message: Option<String>) -> ProductOutcome {
        ProductOutcome {
            product: product.to_string(),
            run_id: None,
            status,
            message,
            ports: Vec::new(),
            sources: Vec::new(),
            duration_ms: 0,
            warnings: Vec::new(),
        }
    }
}

/// What a runner reports while it works.
pub enum Event<'a> {
    Started {
        product: &'a ProductRef,
        index: usize,
        total: usize,
    },
    Stage {
        product: &'a ProductRef,
        stage: &'a str,
    },
    Finished {
        outcome: &'a ProductOutcome,
    },
}

pub trait Observer: Send + Sync {
    fn event(&self, event: Event<'_>);
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {
    fn event(&self, _: Event<'_>) {}
}

pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into())
}

pub(crate) fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// Input ports pinned to a Delta version (`tesseraInputVersion`), by input name.
fn pins(product: &Product) -> HashMap<String, u64> {
    product
        .descriptor
        .input_ports
        .iter()
        .filter_map(|i| Some((i.name.clone(), i.pinned_version()?)))
        .collect()
}

/// The schema object of a contract that describes a port: the one named like the port,
/// else the first.
pub fn port_object<'c>(contract: &'c Contract, port: &str) -> Option<&'c SchemaObject> {
    contract
        .objects
        .iter()
        .find(|o| o.name == port)
        .or_else(|| contract.objects.first())
}

impl Engine {
    /// Builds (and with [`Mode::Publish`] checks and commits) `wanted` and their upstream
    /// products, in DAG order. Empty `wanted` means every product.
    pub async fn run(
        &self,
        wanted: &[ProductRef],
        mode: Mode,
        options: &RunOptions,
        observer: &dyn Observer,
    ) -> Result<Vec<ProductOutcome>> {
        let order = crate::plan::order(&self.mesh, wanted);
        let mut outcomes: Vec<ProductOutcome> = Vec::new();
        let mut failed: Vec<ProductRef> = Vec::new();
        // Candidates built in this run (build mode): downstream products read them.
        let mut built: HashMap<(String, String), Candidate> = HashMap::new();
        let total = order.len();
        for (index, r) in order.iter().enumerate() {
            let product = self
                .mesh
                .domains
                .get(&r.domain)
                .and_then(|d| d.products.get(&r.product))
                .expect("the plan only names products of the mesh");
            observer.event(Event::Started {
                product: r,
                index,
                total,
            });
            let upstream_failed: Vec<String> = crate::plan::upstream_of(&self.mesh, product)
                .into_iter()
                .filter(|u| failed.contains(u))
                .map(|u| u.to_string())
                .collect();
            let outcome = if !upstream_failed.is_empty() {
                ProductOutcome::new(
                    r,
                    Status::Blocked,
                    Some(format!(
                        "not built: its input {} failed in this run",
                        upstream_failed.join(", ")
                    )),
                )
            } else {
                // --force rebuilds the named products; their upstream products are
                // rebuilt only when stale.
                let named = wanted.is_empty() || wanted.contains(r);
                let options = RunOptions {
                    force: options.force && named,
                    ..options.clone()
                };
                self.run_product(product, mode, &options, &mut built, observer)
                    .await?
            };
            if matches!(outcome.status, Status::Failed | Status::Blocked) {
                failed.push(r.clone());
            }
            observer.event(Event::Finished { outcome: &outcome });
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    async fn content_hash(
        &self,
        product: &Product,
        built: &HashMap<(String, String), Candidate>,
    ) -> Result<String> {
        let mut h = Hasher::new();
        h.part(
            "descriptor",
            &serde_json::to_string(&product.descriptor.document).unwrap_or_default(),
        );
        for port in &product.ports {
            h.part("port", port.name.as_str());
            if let Some(sql) = &port.sql {
                h.part("sql", &sql.text);
            }
            if let Some(c) = &port.contract {
                h.part(
                    "contract",
                    &serde_json::to_string(&c.document).unwrap_or_default(),
                );
            }
        }
        let pins = pins(product);
        for (name, target) in self.mesh.inputs_of(product) {
            h.part("input", &name);
            let pin = pins.get(&name).copied();
            match &target {
                InputTarget::Source(d, s) => {
                    let source = &self.mesh.domains[d].sources[s];
                    h.part("source", &source.contract.to_yaml());
                    if let Ok((path, _)) = session::source_location(source, &self.mesh_dir) {
                        h.file("file", &path);
                    }
                }
                InputTarget::Port(p, port) => {
                    let key = (p.to_string(), port.to_string());
                    if let Some(v) = pin {
                        h.part("pinned", &v.to_string());
                    } else if let Some(c) = built.get(&key) {
                        h.part("candidate", &c.hash);
                    } else {
                        let url = self.storage.port_url(
                            p.domain.as_str(),
                            p.product.as_str(),
                            port.as_str(),
                        );
                        let version = self
                            .storage
                            .table(&url)
                            .await?
                            .and_then(|t| t.version())
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "unpublished".into());
                        h.part("port", &format!("{url}@{version}"));
                    }
                }
            }
        }
        Ok(h.finish())
    }

    /// Registers a product's inputs in a new session. Returns the session, the input
    /// datasets (for lineage) and a description of each table (for SQL errors).
    async fn input_session(
        &self,
        product: &Product,
        built: &HashMap<(String, String), Candidate>,
    ) -> Result<(SessionContext, Vec<Dataset>)> {
        let inputs = self.mesh.inputs_of(product);
        let ctx = session::new_session(inputs.iter().map(|(_, t)| match t {
            InputTarget::Port(p, _) => p.domain.to_string(),
            InputTarget::Source(d, _) => d.to_string(),
        }));
        let mut datasets = Vec::new();
        let pins = pins(product);
        for (name, target) in &inputs {
            let table = target.table();
            let pin = pins.get(name).copied();
            if let (Some(_), InputTarget::Source(..)) = (pin, target) {
                return Err(EngineError::Invalid(format!(
                    "{}: input {name} pins tesseraInputVersion, but it reads the source {table}; only output ports of products have versions",
                    product.descriptor.file
                )));
            }
            match target {
                InputTarget::Source(d, s) => {
                    let source = &self.mesh.domains[d].sources[s];
                    session::register_source(&ctx, source, &self.mesh_dir).await?;
                    let (path, _) = session::source_location(source, &self.mesh_dir)?;
                    let path = path.canonicalize().unwrap_or(path);
                    if let Ok(url) = url::Url::from_file_path(&path) {
                        datasets.push(Dataset::from_url(&url, Vec::new()));
                    }
                }
                InputTarget::Port(p, port) => {
                    let url =
                        self.storage
                            .port_url(p.domain.as_str(), p.product.as_str(), port.as_str());
                    if let Some(v) = pin {
                        let provider =
                            self.storage.provider(&url, Some(v as i64)).await.map_err(|e| {
                                EngineError::Invalid(format!(
                                    "{}: input {name} pins version {v} of {table}, which cannot be read: {e}",
                                    product.descriptor.file
                                ))
                            })?;
                        session::register_provider(&ctx, &table, provider)?;
                    } else if let Some(c) = built.get(&(p.to_string(), port.to_string())) {
                        session::register_batches(
                            &ctx,
                            &table,
                            c.schema.clone(),
                            c.batches.clone(),
                        )?;
                    } else {
                        if self.storage.table(&url).await?.is_none() {
                            return Err(EngineError::Unpublished {
                                table,
                                product: p.to_string(),
                            });
                        }
                        let provider = self.storage.provider(&url, None).await?;
                        session::register_provider(&ctx, &table, provider)?;
                    }
                    datasets.push(Dataset::from_url(&url, Vec::new()));
                }
            }
        }
        // Erased subjects never come back: the register filters every input.
        if let Some(erased) = self.erased().await? {
            self.filter_erased_inputs(&ctx, product, &erased).await?;
        }
        Ok((ctx, datasets))
    }

    /// Runs a port's SQL into a candidate.
    async fn build_port(&self, ctx: &SessionContext, port: &Port, hash: &str) -> Result<Candidate> {
        let sql = port
            .sql
            .as_ref()
            .ok_or_else(|| EngineError::Invalid(format!("port {} has no SQL", port.name)))?;
        let df = match ctx.sql(&sql.text).await {
            Ok(df) => df,
            Err(e) => return Err(sql_error(ctx, &sql.file, e).await),
        };
        let schema = session::storage_schema(df.schema().as_arrow());
        let batches = match df.collect().await {
            Ok(b) => b,
            Err(e) => return Err(sql_error(ctx, &sql.file, e).await),
        };
        let batches: Vec<_> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        let batches = session::to_storage(batches, &schema)?;
        Ok(Candidate {
            rows: batches.iter().map(|b| b.num_rows() as i64).sum(),
            schema,
            batches,
            hash: hash.to_string(),
        })
    }

    async fn run_product(
        &self,
        product: &Product,
        mode: Mode,
        options: &RunOptions,
        built: &mut HashMap<(String, String), Candidate>,
        observer: &dyn Observer,
    ) -> Result<ProductOutcome> {
        let started = Instant::now();
        let r = product.reference();
        let hash = match self.content_hash(product, built).await {
            Ok(h) => h,
            Err(e) => return Ok(ProductOutcome::new(&r, Status::Failed, Some(e.to_string()))),
        };
        if !options.force
            && let Some(mut outcome) = self.unchanged(product, &hash).await?
        {
            if matches!(mode, Mode::Publish) {
                // A publish that found nothing to do is still a publish on time: the
                // `frequency` SLA counts it (tessera_engine::sla).
                outcome.run_id = Some(
                    self.record_skipped_publish(product, &hash, &outcome)
                        .await?,
                );
            }
            return Ok(outcome);
        }

        let run_id = uuid::Uuid::now_v7().to_string();
        let kind = match mode {
            Mode::Build => RunKind::Build,
            Mode::Publish => RunKind::Publish,
        };
        self.catalog
            .start_run(&NewRun {
                id: run_id.clone(),
                kind,
                domain: r.domain.to_string(),
                product: r.product.to_string(),
                started_at: Utc::now(),
                content_hash: Some(hash.clone()),
                host: host_name(),
                pid: std::process::id(),
            })
            .await?;
        let mut outcome = ProductOutcome::new(&r, Status::Succeeded, None);
        outcome.run_id = Some(run_id.clone());

        let outputs: Vec<Dataset> = product
            .ports
            .iter()
            .map(|p| {
                let key = Self::port_key(product, p);
                Dataset::from_url(&self.port_url(&key), Vec::new())
            })
            .collect();
        let sink = self.lineage_sink();
        let job_namespace = format!("tessera://{}", self.mesh.config.name);
        let mut inputs = Vec::new();

        let mut lifecycle = Vec::new();
        let result = async {
            if matches!(mode, Mode::Publish) {
                observer.event(Event::Stage {
                    product: &r,
                    stage: "comparing contracts",
                });
                lifecycle = self.contract_gate(product).await?;
            }
            observer.event(Event::Stage {
                product: &r,
                stage: "reading inputs",
            });
            let (ctx, datasets) = self.input_session(product, built).await?;
            inputs = datasets;
            observer.event(Event::Stage {
                product: &r,
                stage: "checking sources",
            });
            self.check_sources(&ctx, product, options, &mut outcome)
                .await?;
            if let Some(sink) = &sink {
                let e = lineage::event(
                    "START",
                    &run_id,
                    &job_namespace,
                    r.to_string().as_str(),
                    &inputs,
                    &outputs,
                    None,
                );
                if let Err(w) = sink.send(&e).await {
                    outcome.warnings.push(format!("lineage: {w}"));
                }
            }
            let mut candidates = Vec::new();
            for port in &product.ports {
                observer.event(Event::Stage {
                    product: &r,
                    stage: "running SQL",
                });
                candidates.push(self.build_port(&ctx, port, &hash).await?);
            }
            match mode {
                Mode::Build => self.finish_build(product, &run_id, candidates, built, &mut outcome),
                Mode::Publish => {
                    self.check_and_commit(
                        product,
                        &run_id,
                        &hash,
                        candidates,
                        options,
                        observer,
                        &mut outcome,
                    )
                    .await
                }
            }
        }
        .await;

        if let Err(e) = result {
            outcome.status = Status::Failed;
            outcome.message = Some(e.to_string());
        }
        outcome.duration_ms = started.elapsed().as_millis() as u64;
        if outcome.status == Status::Succeeded {
            // A port's lifecycle status changed with this publish: audited, so when a port
            // was deprecated or retired, and by which publish, is on record.
            for change in &lifecycle {
                self.audit_action(
                    None,
                    None,
                    "lifecycle",
                    json!([{"table": change.table, "from": change.from, "to": change.to,
                            "sunset": change.sunset, "replacement": change.replacement,
                            "run": run_id}]),
                    tessera_catalog::AuditOutcome::Ok,
                    None,
                )
                .await?;
            }
        }

        // Record checks and the run's end, whatever happened.
        let checks = outcome.check_records();
        self.catalog.record_checks(&run_id, &checks).await?;
        let rows: i64 = outcome.ports.iter().map(|p| p.rows).sum();
        self.catalog
            .finish_run(
                &run_id,
                &RunFinish {
                    status: match outcome.status {
                        Status::Succeeded => RunStatus::Succeeded,
                        _ => RunStatus::Failed,
                    },
                    finished_at: Utc::now(),
                    rows: Some(rows),
                    error: outcome.message.clone(),
                    summary: json!({
                        "ports": outcome.ports.iter().map(|p| json!({
                            "port": p.port,
                            "rows": p.rows,
                            "version": p.version,
                            "checks": p.report.as_ref().map(|r| r.checks.len()),
                            "failed": p.report.as_ref().map(|r| r.checks.iter().filter(|c| !c.passed).count()),
                            "quarantine": p.quarantine,
                        })).collect::<Vec<_>>(),
                    }),
                },
            )
            .await?;
        if let Some(sink) = &sink {
            let mut outputs = outputs;
            for (d, p) in outputs.iter_mut().zip(&outcome.ports) {
                d.rows = Some(p.rows);
            }
            let (kind, error) = match outcome.status {
                Status::Succeeded => ("COMPLETE", None),
                _ => ("FAIL", outcome.message.as_deref()),
            };
            let e = lineage::event(
                kind,
                &run_id,
                &job_namespace,
                &r.to_string(),
                &inputs,
                &outputs,
                error,
            );
            if let Err(w) = sink.send(&e).await {
                outcome.warnings.push(format!("lineage: {w}"));
            }
        }
        Ok(outcome)
    }

    /// The breaking-change gate: a port whose contract breaks the promise of its newest
    /// published version without a new major version is not published — nothing of the
    /// product is built. The refusal lists each breaking change with the consumers it
    /// would break (queries of the last 30 days, downstream products).
    async fn contract_gate(&self, product: &Product) -> Result<Vec<LifecycleChange>> {
        let mut refusals = Vec::new();
        let mut lifecycle = Vec::new();
        for port in &product.ports {
            let Some(contract) = &port.contract else {
                continue;
            };
            let published = crate::evolution::published_contract(self, product, port, None)
                .await
                .map_err(EngineError::Invalid)?;
            let Some((version, old)) = published else {
                continue;
            };
            if old.status != contract.status {
                lifecycle.push(LifecycleChange {
                    table: format!("{}.{}", product.domain, port.name),
                    from: old.status.clone(),
                    to: contract.status.clone(),
                    sunset: contract.sunset().map(str::to_string),
                    replacement: contract.replacement().map(str::to_string),
                });
            }
            let d = tessera_model::diff::diff(&old, contract);
            let Err(refusal) = d.version_gate() else {
                continue;
            };
            let table = format!("{}.{}", product.domain, port.name);
            let mut text = format!(
                "{table} (published version {version} under contract {}): {refusal}",
                old.version
            );
            let since = Utc::now() - chrono::Duration::days(30);
            match crate::evolution::consumers(self, &table, &d, since).await {
                Ok(impacts) => {
                    let mut names: Vec<&str> = impacts
                        .iter()
                        .flat_map(|i| i.consumers.iter().map(|c| c.name.as_str()))
                        .collect();
                    names.sort_unstable();
                    names.dedup();
                    if names.is_empty() {
                        text.push_str(
                            "\n  no consumer read the changed columns in the last 30 days",
                        );
                    } else {
                        text.push_str(&format!(
                            "\n  this breaks {} consumer{} of the last 30 days: {} (tessera diff {table} says which change breaks whom)",
                            names.len(),
                            if names.len() == 1 { "" } else { "s" },
                            names.join(", ")
                        ));
                    }
                }
                Err(e) => text.push_str(&format!("\n  consumers unknown: {e}")),
            }
            refusals.push(text);
        }
        if refusals.is_empty() {
            Ok(lifecycle)
        } else {
            Err(EngineError::Invalid(format!(
                "the contract breaks what its consumers rely on; nothing was built or published:\n{}",
                refusals.join("\n")
            )))
        }
    }

    /// Checks each source input against its contract, in the build's session (the source
    /// is read where it lies, not copied). An error-level failure fails the build.
    async fn check_sources(
        &self,
        ctx: &SessionContext,
        product: &Product,
        options: &RunOptions,
        outcome: &mut ProductOutcome,
    ) -> Result<()> {
        let mut failed = Vec::new();
        for (_, target) in self.mesh.inputs_of(product) {
            let InputTarget::Source(d, s) = &target else {
                continue;
            };
            let source = &self.mesh.domains[d].sources[s];
            let Some(object) = source.contract.objects.first() else {
                continue;
            };
            let table = target.table();
            let report =
                tessera_quality::check(ctx, &table, &source.contract, object, &options.check)
                    .await
                    .map_err(|e| EngineError::Source {
                        table: table.clone(),
                        file: source.contract.file.clone(),
                        why: e.to_string(),
                    })?;
            if !report.passed() {
                failed.push(table.clone());
            }
            outcome.sources.push(SourceOutcome { table, report });
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Invalid(format!(
                "the source{} {} broke error-level checks of {} contract; nothing was built or published",
                if failed.len() == 1 { "" } else { "s" },
                failed.join(", "),
                if failed.len() == 1 { "its" } else { "their" }
            )))
        }
    }

    /// Records a publish that found the product unchanged, as a `Skipped` run.
    async fn record_skipped_publish(
        &self,
        product: &Product,
        hash: &str,
        outcome: &ProductOutcome,
    ) -> Result<String> {
        let r = product.reference();
        let id = uuid::Uuid::now_v7().to_string();
        let now = Utc::now();
        self.catalog
            .start_run(&NewRun {
                id: id.clone(),
                kind: RunKind::Publish,
                domain: r.domain.to_string(),
                product: r.product.to_string(),
                started_at: now,
                content_hash: Some(hash.to_string()),
                host: host_name(),
                pid: std::process::id(),
            })
            .await?;
        self.catalog
            .finish_run(
                &id,
                &RunFinish {
                    status: RunStatus::Skipped,
                    finished_at: Utc::now(),
                    rows: Some(outcome.ports.iter().map(|p| p.rows).sum()),
                    error: None,
                    summary: json!({
                        "skipped": outcome.message,
                        "ports": outcome.ports.iter().map(|p| json!({
                            "port": p.port, "rows": p.rows, "version": p.version,
                        })).collect::<Vec<_>>(),
                    }),
                },
            )
            .await?;
        Ok(id)
    }

    /// `Some(skipped)` when the product's last good publish had this hash and its tables
    /// still serve that publish.
    async fn unchanged(&self, product: &Product, hash: &str) -> Result<Option<ProductOutcome>> {
        let r = product.reference();
        let Some(last) = self
            .catalog
            .last_good_publish(r.domain.as_str(), r.product.as_str())
            .await?
        else {
            return Ok(None);
        };
        if last.content_hash.as_deref() != Some(hash) {
            return Ok(None);
        }
        let mut ports = Vec::new();
        for port in &product.ports {
            let key = Self::port_key(product, port);
            match self.catalog.latest_version(&key).await? {
                Some(v) if v.content_hash == hash => ports.push(PortOutcome {
                    port: port.name.to_string(),
                    rows: v.rows,
                    version: Some(v.version),
                    report: None,
                    quarantine: None,
                }),
                _ => return Ok(None),
            }
        }
        let mut outcome = ProductOutcome::new(
            &r,
            Status::Skipped,
            Some(
                "unchanged since its last publish (inputs, SQL and contract); --force rebuilds"
                    .into(),
            ),
        );
        outcome.ports = ports;
        Ok(Some(outcome))
    }

    fn finish_build(
        &self,
        product: &Product,
        run_id: &str,
        candidates: Vec<Candidate>,
        built: &mut HashMap<(String, String), Candidate>,
        outcome: &mut ProductOutcome,
    ) -> Result<()> {
        let dir = candidate::folder(
            &self.mesh_dir,
            product.domain.as_str(),
            product.name.as_str(),
        );
        for (port, c) in product.ports.iter().zip(candidates) {
            candidate::save(
                &dir,
                port.name.as_str(),
                &c,
                &Manifest {
                    run_id: run_id.to_string(),
                    content_hash: c.hash.clone(),
                    rows: c.rows,
                    built_at: Utc::now(),
                },
            )?;
            outcome.ports.push(PortOutcome {
                port: port.name.to_string(),
                rows: c.rows,
                version: None,
                report: None,
                quarantine: None,
            });
            built.insert((product.reference().to_string(), port.name.to_string()), c);
        }
        Ok(())
    }

    /// Checks every port's candidate; commits them all only when every error-level check
    /// of every port passed.
    #[allow(clippy::too_many_arguments)]
    async fn check_and_commit(
        &self,
        product: &Product,
        run_id: &str,
        hash: &str,
        candidates: Vec<Candidate>,
        options: &RunOptions,
        observer: &dyn Observer,
        outcome: &mut ProductOutcome,
    ) -> Result<()> {
        let r = product.reference();
        observer.event(Event::Stage {
            product: &r,
            stage: "checking",
        });
        let mut all_passed = true;
        for (port, c) in product.ports.iter().zip(&candidates) {
            let key = Self::port_key(product, port);
            let (report, quarantine) = self.check_candidate(&key, port, c, run_id, options).await?;
            all_passed &= report.as_ref().is_none_or(Report::passed);
            outcome.ports.push(PortOutcome {
                port: port.name.to_string(),
                rows: c.rows,
                version: None,
                report,
                quarantine,
            });
        }
        if !all_passed {
            let failed: usize = outcome
                .ports
                .iter()
                .filter_map(|p| p.report.as_ref())
                .map(|r| r.failed(tessera_quality::Severity::Error).count())
                .sum();
            return Err(EngineError::Invalid(format!(
                "{failed} error-level check{} failed; nothing was published (the last good version keeps serving)",
                if failed == 1 { "" } else { "s" }
            )));
        }

        observer.event(Event::Stage {
            product: &r,
            stage: "committing",
        });
        for ((port, c), out) in product
            .ports
            .iter()
            .zip(candidates)
            .zip(outcome.ports.iter_mut())
        {
            let key = Self::port_key(product, port);
            let contract = port.contract.as_ref();
            let contract_version = contract.map(|c| c.version.clone()).unwrap_or_default();
            let mode = contract
                .and_then(|c| WriteMode::parse(c.write_mode()))
                .unwrap_or(WriteMode::Overwrite);
            let meta = CommitMeta {
                run_id: run_id.to_string(),
                product: r.to_string(),
                rows: c.rows,
                content_hash: hash.to_string(),
                contract_version: contract_version.clone(),
            };
            let url = self.port_url(&key);
            self.record_contract(port).await?;
            let version = self
                .storage
                .commit(&url, c.schema.clone(), c.batches, mode, &meta)
                .await?;
            out.version = Some(version);
            self.catalog
                .record_version(&VersionRecord {
                    key: key.clone(),
                    version,
                    run_id: run_id.to_string(),
                    rows: c.rows,
                    content_hash: hash.to_string(),
                    contract_version: contract_version.clone(),
                    committed_at: Utc::now(),
                })
                .await?;
            self.record_port(product, port, &key, mode).await?;
        }
        self.catalog
            .upsert_product(&ProductRecord {
                domain: r.domain.to_string(),
                product: r.product.to_string(),
                status: product.descriptor.status.clone(),
                description: product
                    .descriptor
                    .document
                    .pointer("/description/purpose")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
                descriptor_yaml: tessera_model::yaml::to_yaml(&product.descriptor.document),
                updated_at: Utc::now(),
            })
            .await?;
        Ok(())
    }

    /// Records the port's contract document. Before the version is committed, so the
    /// contract a version was published under is the newest recorded before it
    /// (`evolution::published_contract`), also when only its content changed (a status).
    async fn record_contract(&self, port: &Port) -> Result<()> {
        let Some(contract) = &port.contract else {
            return Ok(());
        };
        let yaml = contract.to_yaml();
        let mut h = Hasher::new();
        h.part("contract", &yaml);
        self.catalog
            .record_contract(&ContractRecord {
                contract_id: contract.id.to_string(),
                version: contract.version.clone(),
                content_hash: h.finish(),
                document_yaml: yaml,
                recorded_at: Utc::now(),
            })
            .await?;
        Ok(())
    }

    async fn record_port(
        &self,
        _product: &Product,
        port: &Port,
        key: &PortKey,
        mode: WriteMode,
    ) -> Result<()> {
        let Some(contract) = &port.contract else {
            return Ok(());
        };
        self.record_contract(port).await?;
        self.catalog
            .upsert_port(&PortRecord {
                key: key.clone(),
                contract_id: contract.id.to_string(),
                contract_version: contract.version.clone(),
                table_uri: self.port_url(key).to_string(),
                write_mode: mode.as_str().into(),
                updated_at: Utc::now(),
            })
            .await?;
        Ok(())
    }

    /// Checks one port's candidate against its contract and quarantines failing rows.
    async fn check_candidate(
        &self,
        key: &PortKey,
        port: &Port,
        c: &Candidate,
        run_id: &str,
        options: &RunOptions,
    ) -> Result<(Option<Report>, Option<String>)> {
        let Some(contract) = &port.contract else {
            return Ok((None, None));
        };
        let Some(object) = port_object(contract, port.name.as_str()) else {
            return Ok((None, None));
        };
        let (report, ctx) = check_batches(
            contract,
            object,
            c.schema.clone(),
            c.batches.clone(),
            &options.check,
        )
        .await?;
        let quarantine = match &report.quarantine_sql {
            Some(sql) => Some(self.quarantine(&ctx, key, sql, run_id).await?),
            None => None,
        };
        Ok((Some(report), quarantine))
    }

    async fn quarantine(
        &self,
        ctx: &SessionContext,
        key: &PortKey,
        sql: &str,
        run_id: &str,
    ) -> Result<String> {
        let df = ctx.sql(sql).await.map_err(|e| EngineError::DataFusion {
            context: "selecting rows to quarantine".into(),
            source: e,
        })?;
        let schema: SchemaRef = std::sync::Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(|e| EngineError::DataFusion {
            context: "selecting rows to quarantine".into(),
            source: e,
        })?;
        let mut bytes = Vec::new();
        {
            let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, None)
                .map_err(|e| EngineError::Invalid(format!("writing quarantine: {e}")))?;
            for b in &batches {
                w.write(b)
                    .map_err(|e| EngineError::Invalid(format!("writing quarantine: {e}")))?;
            }
            w.close()
                .map_err(|e| EngineError::Invalid(format!("writing quarantine: {e}")))?;
        }
        let dir = self
            .storage
            .quarantine_url(&key.domain, &key.product, &key.port);
        let url = self
            .storage
            .put(&dir, &format!("{run_id}.parquet"), bytes)
            .await?;
        Ok(url.to_string())
    }

    fn lineage_sink(&self) -> Option<lineage::Sink> {
        let l = self.mesh.config.lineage.as_ref()?;
        if let Some(url) = &l.url {
            return Some(lineage::Sink::Http(url.clone()));
        }
        l.file
            .as_ref()
            .map(|f| lineage::Sink::File(self.mesh_dir.join(f)))
    }

    /// Checks products' ports: the built candidates, or the published versions.
    pub async fn test(
        &self,
        wanted: &[ProductRef],
        published: bool,
        options: &RunOptions,
        observer: &dyn Observer,
    ) -> Result<Vec<ProductOutcome>> {
        let products: Vec<&Product> = if wanted.is_empty() {
            self.mesh.products().collect()
        } else {
            wanted
                .iter()
                .filter_map(|r| self.mesh.domains.get(&r.domain)?.products.get(&r.product))
                .collect()
        };
        let total = products.len();
        let mut outcomes = Vec::new();
        for (index, product) in products.into_iter().enumerate() {
            let r = product.reference();
            observer.event(Event::Started {
                product: &r,
                index,
                total,
            });
            let started = Instant::now();
            let started_at = Utc::now();
            let mut outcome = ProductOutcome::new(&r, Status::Succeeded, None);
            let run_id = uuid::Uuid::now_v7().to_string();
            let dir = candidate::folder(&self.mesh_dir, r.domain.as_str(), r.product.as_str());
            let mut missing = Vec::new();
            let mut reports: BTreeMap<String, (i64, Option<i64>, Report)> = BTreeMap::new();
            for port in &product.ports {
                let key = Self::port_key(product, port);
                let (schema, batches, rows, version) = if published {
                    let url = self.port_url(&key);
                    let Some(table) = self.storage.table(&url).await? else {
                        missing.push(format!("{} has not been published", port.name));
                        continue;
                    };
                    let version = table.version().map(|v| v as i64);
                    let ctx = SessionContext::new();
                    let provider = self.storage.provider(&url, None).await?;
                    let df = ctx.read_table(provider).map_err(EngineError::internal)?;
                    let schema: SchemaRef = std::sync::Arc::new(df.schema().as_arrow().clone());
                    let batches = df.collect().await.map_err(EngineError::internal)?;
                    let rows = batches.iter().map(|b| b.num_rows() as i64).sum();
                    (schema, batches, rows, version)
                } else {
                    match candidate::load(&dir, port.name.as_str())? {
                        Some((c, _)) => (c.schema, c.batches, c.rows, None),
                        None => {
                            missing.push(format!("{} has not been built", port.name));
                            continue;
                        }
                    }
                };
                let Some(contract) = &port.contract else {
                    continue;
                };
                let Some(object) = port_object(contract, port.name.as_str()) else {
                    continue;
                };
                observer.event(Event::Stage {
                    product: &r,
                    stage: "checking",
                });
                let (report, _) =
                    check_batches(contract, object, schema, batches, &options.check).await?;
                reports.insert(port.name.to_string(), (rows, version, report));
            }
            if !missing.is_empty() {
                outcome.status = Status::Failed;
                outcome.message = Some(format!(
                    "{}\n  help: {}",
                    missing.join("; "),
                    if published {
                        format!("tessera publish {r}")
                    } else {
                        format!("tessera build {r} (or test the published version: --published)")
                    }
                ));
            }
            for (port, (rows, version, report)) in reports {
                if !report.passed() {
                    outcome.status = Status::Failed;
                }
                outcome.ports.push(PortOutcome {
                    port,
                    rows,
                    version,
                    report: Some(report),
                    quarantine: None,
                });
            }
            if outcome.status == Status::Failed && outcome.message.is_none() {
                outcome.message = Some("error-level checks failed".into());
            }
            // A test is a run too: it shows in `tessera runs` with its checks.
            self.catalog
                .start_run(&NewRun {
                    id: run_id.clone(),
                    kind: RunKind::Test,
                    domain: r.domain.to_string(),
                    product: r.product.to_string(),
                    started_at,
                    content_hash: None,
                    host: host_name(),
                    pid: std::process::id(),
                })
                .await?;
            let checks = outcome.check_records();
            self.catalog.record_checks(&run_id, &checks).await?;
            self.catalog
                .finish_run(
                    &run_id,
                    &RunFinish {
                        status: if outcome.status == Status::Succeeded {
                            RunStatus::Succeeded
                        } else {
                            RunStatus::Failed
                        },
                        finished_at: Utc::now(),
                        rows: Some(outcome.ports.iter().map(|p| p.rows).sum()),
                        error: outcome.message.clone(),
                        summary: json!({"published": published}),
                    },
                )
                .await?;
            outcome.run_id = Some(run_id);
            outcome.duration_ms = started.elapsed().as_millis() as u64;
            observer.event(Event::Finished { outcome: &outcome });
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}

/// Checks batches against a schema object, in a session holding only them (registered
/// under the object's name, so a rule's SQL can name the table as the contract does).
pub async fn check_batches(
    contract: &Contract,
    object: &SchemaObject,
    schema: SchemaRef,
    batches: Vec<datafusion::arrow::array::RecordBatch>,
    options: &CheckOptions,
) -> Result<(Report, SessionContext)> {
    let ctx = SessionContext::new();
    session::register_batches(&ctx, &tessera_quality::ident(&object.name), schema, batches)?;
    let report = tessera_quality::check(&ctx, &object.name, contract, object, options).await?;
    Ok((report, ctx))
}

/// A SQL error pointing at the .sql file, with the tables the query can read.
async fn sql_error(
    ctx: &SessionContext,
    file: &str,
    e: datafusion::error::DataFusionError,
) -> EngineError {
    let (line, column) = e
        .diagnostic()
        .and_then(|d| d.span)
        .map(|s| (Some(s.start.line), Some(s.start.column)))
        .unwrap_or((None, None));
    let mut tables = Vec::new();
    let catalog = ctx.catalog("datafusion");
    if let Some(catalog) = catalog {
        for schema in catalog.schema_names() {
            let Some(s) = catalog.schema(&schema) else {
                continue;
            };
            for t in s.table_names() {
                if let Ok(Some(provider)) = s.table(&t).await {
                    let cols: Vec<String> = provider
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect();
                    tables.push(format!("{schema}.{t} ({})", cols.join(", ")));
                }
            }
        }
    }
    tables.sort();
    tables.retain(|t| !t.starts_with("public."));
    let message = e.strip_backtrace().to_string();
    EngineError::Sql {
        file: file.to_string(),
        line,
        column,
        message,
        tables,
    }
}
