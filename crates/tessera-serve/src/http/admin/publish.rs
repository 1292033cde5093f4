//! `POST /api/v1/products/{domain}/{product}/publish`: a domain owner's CI publishes a
//! product, with new files for its folder or as it is on disk.
//!
//! ```text
//!  validate names ─▶ Cedar `publish` (as `tessera publish --as`; refusals recorded)
//!  ─▶ stage: the mesh's files with the new ones ─▶ load + validate the whole mesh and its
//!     governance (400: every diagnostic) ─▶ error-level global rules (400, recorded)
//!  ─▶ on a task of its own: write the files ─▶ Engine::run(Publish)
//!        ├─ ok:     keep the files, record, serve a freshly opened engine
//!        └─ failed: put the previous files back, record; the versions served stay
//! ```
//!
//! Publishes are serialised per mesh folder (a lock on this server, [`crate::publish_lock`],
//! which scheduled publishes take too).

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tessera_catalog::{AuditOutcome, CheckRecord};
use tessera_engine::publish::Refusal;
use tessera_engine::run::Quiet;
use tessera_engine::{Engine, EngineError, Mode, ProductOutcome, RunOptions, Status};
use tessera_model::{Diagnostic, Diagnostics, MeshFile, ProductRef};

use super::{INTERFACE, bad_path, unrecorded};
use crate::error::{ErrorBody, ErrorKind, ServeError};
use crate::http::caller;
use crate::state::Shared;

/// What to publish: files of the product's folder to write first (none: publish what is
/// on disk).
#[derive(serde::Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishRequest {
    /// File name in the product's folder (`dataproduct.yaml`, `<port>.odcs.yaml`,
    /// `<port>.sql`) → its new text. Files not named stay as they are.
    #[serde(default)]
    files: BTreeMap<String, String>,
    /// Rebuild even when nothing changed since the last good publish.
    #[serde(default)]
    force: bool,
}

/// How a publish went.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PublishResponse {
    /// `domain/product`.
    product: String,
    /// `succeeded` (new versions are served) or `skipped` (nothing changed since the last
    /// good publish; the versions served stay).
    status: String,
    /// The files written, relative to the mesh root (those whose text changed).
    files_written: Vec<String>,
    /// Every product the run built: the one asked for, and upstream products that were
    /// stale.
    products: Vec<ProductRun>,
    /// Warnings of the mesh's validation, and global rules that could not run.
    warnings: Vec<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ProductRun {
    product: String,
    /// `succeeded`, `skipped`, `failed` or `blocked`.
    status: String,
    /// Why it was skipped or blocked, or what failed.
    message: Option<String>,
    run_id: Option<String>,
    duration_ms: u64,
    ports: Vec<PortRun>,
    /// The checks of its sources and ports, together.
    checks: ChecksSummary,
    warnings: Vec<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PortRun {
    port: String,
    /// The Delta version committed (or still served, when skipped).
    version: Option<i64>,
    rows: i64,
    checks: ChecksSummary,
    /// Failed checks: `name: message`.
    failed: Vec<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema, Default)]
pub(crate) struct ChecksSummary {
    total: usize,
    passed: usize,
    /// Error-level checks that failed (they stop a publish).
    failed: usize,
    /// Warning-level checks that failed.
    warnings: usize,
}

impl ChecksSummary {
    fn of<'a>(checks: impl Iterator<Item = &'a CheckRecord>) -> ChecksSummary {
        let mut s = ChecksSummary::default();
        for c in checks {
            s.total += 1;
            if c.passed {
                s.passed += 1;
            } else if c.severity == "warning" {
                s.warnings += 1;
            } else {
                s.failed += 1;
            }
        }
        s
    }
}

impl From<&ProductOutcome> for ProductRun {
    fn from(o: &ProductOutcome) -> ProductRun {
        // Every check of the run: of each source (`domain.source`) and each port.
        let checks = o.check_records();
        let ports: Vec<PortRun> = o
            .ports
            .iter()
            .map(|p| {
                let of_port = || checks.iter().filter(|c| c.port == p.port);
                PortRun {
                    port: p.port.clone(),
                    version: p.version,
                    rows: p.rows,
                    checks: ChecksSummary::of(of_port()),
                    failed: of_port()
                        .filter(|c| !c.passed)
                        .map(|c| match &c.message {
                            Some(m) => format!("{} ({}): {m}", c.name, c.severity),
                            None => format!("{} ({}): expected {}", c.name, c.severity, c.expected),
                        })
                        .collect(),
                }
            })
            .collect();
        ProductRun {
            product: o.product.clone(),
            status: status_str(o.status).into(),
            message: o.message.clone(),
            run_id: o.run_id.clone(),
            duration_ms: o.duration_ms,
            ports,
            checks: ChecksSummary::of(checks.iter()),
            warnings: o.warnings.clone(),
        }
    }
}

fn status_str(s: Status) -> &'static str {
    match s {
        Status::Succeeded => "succeeded",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
        Status::Blocked => "blocked",
    }
}

/// A refused publish whose reason is in files: the API's error shape, with every finding.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PublishErrorBody {
    error: PublishErrorDetail,
}

/// [`ErrorBody`]'s fields, and the findings.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PublishErrorDetail {
    kind: ErrorKind,
    /// Every error as `file:line:column: message`, one a line.
    message: String,
    error_id: String,
    /// Every finding about the files; absent when the request itself was bad (its path
    /// or body), which the message says.
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnostics: Option<Vec<DiagnosticOut>>,
}

/// One finding about the mesh's files.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct DiagnosticOut {
    /// `error` or `warning`.
    severity: String,
    /// A stable name tools may match on (`unknown-field`, `yaml-syntax`, `rule`, …).
    code: String,
    /// Relative to the mesh root.
    file: String,
    line: Option<usize>,
    column: Option<usize>,
    /// The field inside the document, e.g. `schema[0].properties[2].logicalType`.
    path: Option<String>,
    message: String,
    help: Option<String>,
}

impl From<&Diagnostic> for DiagnosticOut {
    fn from(d: &Diagnostic) -> DiagnosticOut {
        DiagnosticOut {
            severity: d.severity.to_string(),
            code: d.code.to_string(),
            file: d.file.clone(),
            line: d.location.map(|l| l.line),
            column: d.location.map(|l| l.column),
            path: d.path.clone(),
            message: d.message.clone(),
            help: d.help.clone(),
        }
    }
}

/// Why a publish did not happen.
pub(super) enum PublishError {
    Serve(ServeError),
    /// The files (or the global rules) say no: 400, with every finding.
    Invalid {
        error: ServeError,
        diagnostics: Vec<DiagnosticOut>,
    },
}

impl From<ServeError> for PublishError {
    fn from(e: ServeError) -> PublishError {
        PublishError::Serve(e)
    }
}

impl PublishError {
    fn invalid(what: &str, diags: &Diagnostics) -> PublishError {
        let errors: Vec<String> = diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect();
        PublishError::Invalid {
            error: ServeError::bad_request(format!(
                "{what}; nothing was written and the versions served stay:\n{}",
                errors.join("\n")
            )),
            diagnostics: diags.iter().map(DiagnosticOut::from).collect(),
        }
    }
}

impl IntoResponse for PublishError {
    fn into_response(self) -> Response {
        match self {
            PublishError::Serve(e) => e.into_response(),
            PublishError::Invalid { error, diagnostics } => (
                StatusCode::BAD_REQUEST,
                Json(PublishErrorBody {
                    error: PublishErrorDetail {
                        kind: error.kind,
                        message: error.message,
                        error_id: error.error_id,
                        diagnostics: Some(diagnostics),
                    },
                }),
            )
                .into_response(),
        }
    }
}

/// An optional JSON body: none (or only blanks) is the default request. Errors in the
/// API's shape, as [`super::JsonBody`]'s.
pub(super) struct OptionalJson<T>(T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Default,
{
    type Rejection = ServeError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ServeError::new(
                        ErrorKind::TooLarge,
                        "the request body is larger than the server accepts (server.max_request_size)",
                    )
                } else {
                    ServeError::bad_request(format!("cannot read the request body: {rejection}"))
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(OptionalJson)
            .map_err(|e| {
                ServeError::bad_request(format!(
                    "the request body is not the JSON expected: {e} (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            })
    }
}

/// The file names a publish may write: those a product folder is made of.
fn check_file_name(name: &str) -> Result<(), String> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control);
    let kind = name == "dataproduct.yaml"
        || name
            .strip_suffix(".odcs.yaml")
            .is_some_and(|s| !s.is_empty())
        || name.strip_suffix(".sql").is_some_and(|s| !s.is_empty());
    if plain && kind {
        Ok(())
    } else {
        Err(format!(
            "`{name}`: a product folder holds dataproduct.yaml, <port>.odcs.yaml and <port>.sql (names only, no folders)"
        ))
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, ServeError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ServeError::internal)?
        .map_err(ServeError::internal)
}

/// Publishes a data product: for a domain owner's CI.
///
/// With `files`, writes them into the product's folder first; without, publishes what is
/// on disk. The caller needs the Cedar action `publish` on the product (as `tessera
/// publish --as`). The whole mesh is loaded and validated with the new files (errors:
/// 400 with every diagnostic, nothing written); error-level global rules the product
/// violates refuse it (400). Then the files are written, the product (and any stale
/// upstream product) is built, checked and committed; if that fails, the previous files
/// are put back and the versions served stay. On success the server serves the new
/// versions to new sessions. Publishes are serialised; each is recorded in the audit log.
#[utoipa::path(post, path = "/api/v1/products/{domain}/{product}/publish", tag = "admin",
    params(
        ("domain" = String, Path, description = "The product's domain"),
        ("product" = String, Path, description = "The product (its folder name)")
    ),
    request_body(content = Option<PublishRequest>, description = "Files to write first; an empty body publishes what is on disk"),
    responses(
        (status = 200, description = "Published (or nothing changed): the run's outcome", body = PublishResponse),
        (status = 400, description = "Invalid files (every diagnostic: file, line, column, message), a violated global rule, or a failed build or check; nothing changed", body = PublishErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Refused by policy (Cedar `publish`), or the mesh is not governed", body = ErrorBody),
        (status = 404, description = "No such product in the mesh", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody)
    ))]
pub(super) async fn publish(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    OptionalJson(request): OptionalJson<PublishRequest>,
) -> Result<Json<PublishResponse>, PublishError> {
    // Validate.
    let Path((domain, product)) = path.map_err(bad_path)?;
    let target = ProductRef::parse(&format!("{domain}/{product}"))
        .map_err(|e| ServeError::bad_request(format!("bad product: {e}")))?;
    let bad: Vec<String> = request
        .files
        .keys()
        .filter_map(|name| check_file_name(name).err())
        .collect();
    if !bad.is_empty() {
        return Err(ServeError::bad_request(format!("files: {}", bad.join("; "))).into());
    }
    let caller = caller(&shared, &headers).await?;

    // One publish at a time; the engine is read after the lock, so it has the previous
    // publish's result.
    let lock = crate::publish_lock(&shared.engine().mesh_dir);
    let guard = lock.lock_owned().await;
    let engine = shared.engine();
    let root = engine.mesh_dir.clone();
    if !engine.mesh.products().any(|p| p.reference() == target) {
        let known: Vec<String> = engine
            .mesh
            .products()
            .map(|p| p.reference().to_string())
            .collect();
        return Err(ServeError::not_found(format!(
            "no product `{target}` in this mesh (products: {}); a new product is published with `tessera publish` once its folder is in the mesh",
            known.join(", ")
        ))
        .into());
    }

    // Authorize (as `tessera publish --as`). Without governance no policy can grant it,
    // and a server does not write files for whoever holds a token.
    if engine
        .governor
        .as_ref()
        .is_none_or(|g| g.governance.is_none())
    {
        return Err(ServeError::new(
            ErrorKind::NotPermitted,
            format!(
                "not permitted: this mesh is not governed (no policies/principals.yaml), so no policy can let {} publish over the API; use `tessera publish` on the server's host",
                caller.principal
            ),
        )
        .into());
    }
    let targets = vec![target.clone()];
    if let Err(refusal) = engine.may_publish(&caller.principal, &targets) {
        engine
            .audit_publish_refused(&targets, Some(&caller.principal), &refusal, INTERFACE)
            .await
            .map_err(unrecorded)?;
        let why = refusal.reasons().join("; ");
        return Err(ServeError::new(
            ErrorKind::NotPermitted,
            format!("{why}; nothing was written"),
        )
        .into());
    }

    // Stage: the mesh's files with the new ones, loaded and validated as a whole.
    let folder = format!("domains/{}/{}", target.domain, target.product);
    let uploads: Vec<MeshFile> = request
        .files
        .into_iter()
        .map(|(name, text)| MeshFile {
            path: format!("{folder}/{name}"),
            bytes: text.into_bytes(),
        })
        .collect();
    let (files, changed) = {
        let root = root.clone();
        blocking(move || {
            let mut files = tessera_engine::files::read_mesh(&root)?;
            let mut changed = Vec::new();
            for upload in uploads {
                match files.iter_mut().find(|f| f.path == upload.path) {
                    Some(f) if f.bytes == upload.bytes => {}
                    Some(f) => {
                        f.bytes = upload.bytes.clone();
                        changed.push(upload);
                    }
                    None => {
                        files.push(upload.clone());
                        changed.push(upload);
                    }
                }
            }
            files.sort_by(|a, b| a.path.cmp(&b.path));
            Ok((files, changed))
        })
        .await?
    };
    let (mesh, mut diags) = tessera_model::load(&files);
    let mesh = match mesh {
        Some(m) if !diags.has_errors() => m,
        _ => {
            return Err(PublishError::invalid(
                "the mesh has errors with these files",
                &diags,
            ));
        }
    };
    let mut staged = Engine::open(mesh, &root)
        .await
        .map_err(|e| ServeError::internal(format!("opening the staged mesh: {e}")))?;
    let governance = staged
        .enable_governance()
        .map_err(|e| ServeError::internal(format!("loading the staged mesh's governance: {e}")))?;
    diags.extend(governance);
    if diags.has_errors() || staged.governor.is_none() {
        return Err(PublishError::invalid(
            "the mesh's policies have errors with these files",
            &diags,
        ));
    }
    let (blocking_rules, failures) = staged.blocking_violations(&targets).await;
    if !blocking_rules.is_empty() {
        let mut found = Diagnostics::new();
        for v in &blocking_rules {
            found.push(Diagnostic::error("rule", v.rule.clone(), v.message.clone()));
        }
        staged
            .audit_publish_refused(
                &targets,
                Some(&caller.principal),
                &Refusal::Rules(blocking_rules),
                INTERFACE,
            )
            .await
            .map_err(unrecorded)?;
        return Err(PublishError::invalid(
            "error-level global rules (policies/rules/) refuse it",
            &found,
        ));
    }
    let mut warnings: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    warnings.extend(
        failures
            .iter()
            .map(|f| format!("rule {} does not run: {}", f.rule, f.error)),
    );

    // Act and record, on a task of its own so that a client hanging up cannot stop it
    // between writing the files and putting them back.
    let principal = caller.principal.clone();
    let task = tokio::spawn(async move {
        let _guard = guard;
        act(
            shared,
            staged,
            root,
            target,
            changed,
            request.force,
            principal,
            warnings,
        )
        .await
    });
    task.await
        .map_err(|e| PublishError::Serve(ServeError::internal(e)))?
}

/// Writes the files, publishes, and either serves the result or puts the files back.
#[allow(clippy::too_many_arguments)] // the stages' results, handed over once
async fn act(
    shared: Arc<Shared>,
    staged: Engine,
    root: PathBuf,
    target: ProductRef,
    changed: Vec<MeshFile>,
    force: bool,
    principal: String,
    warnings: Vec<String>,
) -> Result<Json<PublishResponse>, PublishError> {
    let files_written: Vec<String> = changed.iter().map(|f| f.path.clone()).collect();
    let replaced = {
        let root = root.clone();
        blocking(move || tessera_engine::files::replace(&root, &changed)).await?
    };
    let options = RunOptions {
        force,
        ..Default::default()
    };
    let run = staged
        .run(
            std::slice::from_ref(&target),
            Mode::Publish,
            &options,
            &Quiet,
        )
        .await;
    let failed = match &run {
        Ok(outcomes) => outcomes
            .iter()
            .any(|o| matches!(o.status, Status::Failed | Status::Blocked)),
        Err(_) => true,
    };
    if failed {
        let restored = blocking(move || replaced.restore()).await;
        if let Err(e) = &restored {
            tracing::error!(
                product = %target,
                "a failed publish could not put the previous files back: {}",
                e.message
            );
        }
    } else {
        replaced.keep();
    }
    let outcomes = match run {
        Ok(outcomes) => outcomes,
        Err(e) => {
            staged
                .audit_action_via(
                    INTERFACE,
                    Some(&principal),
                    None,
                    "publish",
                    serde_json::json!([{ "product": target.to_string(), "status": "failed" }]),
                    AuditOutcome::Error,
                    Some(e.to_string()),
                )
                .await
                .map_err(unrecorded)?;
            return Err(run_error(&target, e).into());
        }
    };
    staged
        .audit_published(&outcomes, Some(&principal), INTERFACE)
        .await
        .map_err(unrecorded)?;
    let products: Vec<ProductRun> = outcomes.iter().map(ProductRun::from).collect();
    if failed {
        let why: Vec<String> = products
            .iter()
            .filter(|p| matches!(p.status.as_str(), "failed" | "blocked"))
            .map(|p| {
                let checks: Vec<String> = p
                    .ports
                    .iter()
                    .flat_map(|port| {
                        port.failed
                            .iter()
                            .map(move |c| format!("{}: {c}", port.port))
                    })
                    .collect();
                format!(
                    "{} {}{}{}",
                    p.product,
                    p.status,
                    p.message
                        .as_ref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default(),
                    if checks.is_empty() {
                        String::new()
                    } else {
                        format!("; failed checks: {}", checks.join("; "))
                    }
                )
            })
            .collect();
        return Err(ServeError::bad_request(format!(
            "{target} was not published; the previous files are back: {}",
            why.join(" | ")
        ))
        .into());
    }
    let status = outcomes
        .iter()
        .find(|o| o.product == target.to_string())
        .map(|o| status_str(o.status))
        .unwrap_or("skipped");
    shared.replace_engine(fresh_engine(&root, staged).await);
    Ok(Json(PublishResponse {
        product: target.to_string(),
        status: status.into(),
        files_written,
        products,
        warnings,
    }))
}

/// The engine to serve after a publish: the mesh read afresh from disk (as `tessera
/// serve` opens it), or, if that fails, the staged engine it was published with (the
/// same files).
async fn fresh_engine(root: &FsPath, staged: Engine) -> Engine {
    let reopened = async {
        let root_buf = root.to_path_buf();
        let files = blocking(move || tessera_engine::files::read_mesh(&root_buf)).await?;
        let (mesh, diags) = tessera_model::load(&files);
        let mesh = mesh
            .filter(|_| !diags.has_errors())
            .ok_or_else(|| ServeError::internal("the mesh on disk has errors"))?;
        let mut engine = Engine::open(mesh, root)
            .await
            .map_err(ServeError::internal)?;
        let diags = engine.enable_governance().map_err(ServeError::internal)?;
        if diags.has_errors() || engine.governor.is_none() {
            return Err(ServeError::internal(
                "the mesh's governance on disk has errors",
            ));
        }
        Ok(engine)
    }
    .await;
    match reopened {
        Ok(engine) => engine,
        Err(e) => {
            tracing::warn!(
                error_id = %e.error_id,
                "serving the staged engine after a publish: the mesh could not be reopened"
            );
            staged
        }
    }
}

/// A build that could not run: the user's (SQL, inputs, sources) or ours.
fn run_error(target: &ProductRef, e: EngineError) -> ServeError {
    match e {
        EngineError::Sql { .. }
        | EngineError::Unpublished { .. }
        | EngineError::Source { .. }
        | EngineError::Invalid(_) => ServeError::bad_request(format!(
            "nothing of {target} was published; the previous files are back and the versions served stay: {e}"
        )),
        e => ServeError::internal(format!("publishing {target}: {e}")),
    }
}
