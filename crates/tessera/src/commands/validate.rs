//! `tessera validate [PATH]`: check a mesh, a folder in it, or one file.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tessera_model::{Diagnostic, Diagnostics, Mesh};

use crate::cli::{Format, ValidateArgs};
use crate::exit;
use crate::files;

/// What was checked, for the summary line.
enum Scope {
    Mesh(Option<MeshCounts>),
    Folder(String),
    File,
}

#[derive(Serialize, Clone, Copy)]
struct MeshCounts {
    domains: usize,
    products: usize,
    ports: usize,
    sources: usize,
}

impl MeshCounts {
    fn of(mesh: &Mesh) -> Self {
        MeshCounts {
            domains: mesh.domains.len(),
            products: mesh.products().count(),
            ports: mesh.products().map(|p| p.ports.len()).sum(),
            sources: mesh.sources().count(),
        }
    }
}

pub fn run(args: ValidateArgs) -> Result<ExitCode> {
    let given = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    if !given.exists() {
        bail!("{}: no such file or folder", given.display());
    }
    let (diags, scope, files_checked) = if given.is_file() {
        let bytes = fs::read(&given).with_context(|| format!("cannot read {}", given.display()))?;
        let shown = given.to_string_lossy().trim_start_matches("./").to_string();
        (tessera_model::check_file(&shown, &bytes), Scope::File, 1)
    } else if given.join("mesh.yaml").is_file() {
        let (diags, counts, n) = check_mesh(&given, &given)?;
        (diags, Scope::Mesh(counts), n)
    } else if let Some(root) = files::find_mesh_root(&given) {
        // A folder inside a mesh: check the whole mesh (inputs and ids span files), then
        // keep what concerns this folder.
        let shown_root = relative_to_cwd(&root);
        let (all, _, n) = check_mesh(&root, &shown_root)?;
        let prefix = files::display_path(&shown_root, &rel_inside(&root, &given)?);
        let prefix = format!("{}/", prefix.trim_end_matches('/'));
        let kept: Vec<Diagnostic> = all
            .into_iter()
            .filter(|d| d.file.starts_with(&prefix))
            .collect();
        let mut diags = Diagnostics::new();
        kept.into_iter().for_each(|d| diags.push(d));
        (diags, Scope::Folder(prefix), n)
    } else {
        bail!(
            "{} is not a mesh (no mesh.yaml here or in a folder above) nor a file; pass a mesh root, a folder in a mesh, or a file",
            given.display()
        );
    };
    report(&diags, &scope, files_checked, args.format)?;
    let failed = diags.has_errors() || (args.deny_warnings && diags.warning_count() > 0);
    Ok(if failed {
        ExitCode::from(exit::INVALID)
    } else {
        ExitCode::SUCCESS
    })
}

fn check_mesh(root: &Path, shown_root: &Path) -> Result<(Diagnostics, Option<MeshCounts>, usize)> {
    let mesh_files = files::read_mesh(root)?;
    let (mesh, mut diags) = tessera_model::load(&mesh_files);
    if let Some(mesh) = mesh.as_ref().filter(|_| !diags.has_errors()) {
        diags.extend(governance_findings(mesh, root)?);
    }
    let mut shown = Diagnostics::new();
    for mut d in diags {
        d.file = files::display_path(shown_root, &d.file);
        shown.push(d);
    }
    Ok((shown, mesh.as_ref().map(MeshCounts::of), mesh_files.len()))
}

/// Governance's findings (principals, policies validated against the mesh's Cedar
/// schema, row filters, consent) and the global rules' violations.
fn governance_findings(mesh: &Mesh, root: &Path) -> Result<Diagnostics> {
    let mut out = Diagnostics::new();
    let governance = if tessera_governance::Governance::configured(mesh) {
        let (gov, diags) = tessera_governance::Governance::load(mesh);
        out.extend(diags);
        if out.has_errors() {
            return Ok(out);
        }
        gov.map(std::sync::Arc::new)
    } else {
        None
    };
    if mesh.rules.is_empty() {
        return Ok(out);
    }
    let runtime = crate::commands::mesh::runtime()?;
    let (violations, failures) = runtime.block_on(async {
        let engine = tessera_engine::Engine::for_rules(mesh.clone(), root, governance).await?;
        anyhow::Ok(engine.check_rules().await)
    })?;
    for f in failures {
        out.push(
            Diagnostic::error(
                "rule-failed",
                f.rule,
                format!("the rule does not run: {}", f.error),
            )
            .with_help("a rule is a query over mesh_meta.* (see docs/governance.md)"),
        );
    }
    for v in violations {
        let d = match v.severity {
            tessera_engine::rules::RuleSeverity::Error => {
                Diagnostic::error("rule", v.rule, v.message)
            }
            tessera_engine::rules::RuleSeverity::Warning => {
                Diagnostic::warning("rule", v.rule, v.message)
            }
        };
        out.push(d);
    }
    Ok(out)
}

fn relative_to_cwd(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| cwd.canonicalize().ok())
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p
            }
        })
        .unwrap_or_else(|| path.to_path_buf())
}

fn rel_inside(root: &Path, path: &Path) -> Result<String> {
    let abs = path
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", path.display()))?;
    let rel = abs.strip_prefix(root).unwrap_or(&abs);
    Ok(rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/"))
}

#[derive(Serialize)]
struct JsonReport<'a> {
    valid: bool,
    errors: usize,
    warnings: usize,
    files: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    mesh: Option<MeshCounts>,
    diagnostics: &'a Diagnostics,
}

fn report(diags: &Diagnostics, scope: &Scope, files_checked: usize, format: Format) -> Result<()> {
    let errors = diags.error_count();
    let warnings = diags.warning_count();
    match format {
        Format::Json => {
            let report = JsonReport {
                valid: errors == 0,
                errors,
                warnings,
                files: files_checked,
                mesh: match scope {
                    Scope::Mesh(c) => *c,
                    _ => None,
                },
                diagnostics: diags,
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Format::Text => {
            for d in diags {
                println!("{d}");
            }
            let counts = plural(errors, "error") + ", " + &plural(warnings, "warning");
            let what = match scope {
                Scope::Mesh(Some(c)) => format!(
                    "mesh with {}, {}, {}, {} ({})",
                    plural(c.domains, "domain"),
                    plural(c.products, "product"),
                    plural(c.ports, "output port"),
                    plural(c.sources, "source"),
                    plural(files_checked, "file")
                ),
                Scope::Mesh(None) => format!("mesh ({})", plural(files_checked, "file")),
                Scope::Folder(prefix) => format!(
                    "{} (checked with the whole mesh)",
                    prefix.trim_end_matches('/')
                ),
                Scope::File => {
                    "file (on its own; validate the mesh for checks across files)".to_string()
                }
            };
            if errors == 0 {
                println!("valid: {what}; {counts}");
            } else {
                println!("invalid: {what}; {counts}");
            }
        }
    }
    Ok(())
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
