//! Governance: who may see which columns and rows, for which purpose.
//!
//! ```text
//! mesh.yaml (purposes, masking, consent) ─┐
//! policies/principals.yaml ───────────────┤ Governance::load ─▶ Governance
//! policies/*.cedar (validated against a ──┤        │
//!   Cedar schema generated from the mesh) │        ▼ session(principal, purpose)
//! policies/row_filters.yaml ──────────────┘     Session ─▶ decide_port(port) ─▶ PortDecision
//!                                                            query: allowed? (Cedar `query`)
//!                                                            columns: visible / masked / absent
//!                                                              (Cedar `read_column`, `read_column_masked`)
//!                                                            row filters (bound to the principal)
//!                                                            consent: subject-key columns to filter
//! ```
//!
//! Invariant: this crate decides, it does not enforce. The engine turns a [`PortDecision`]
//! into the governed view a session reads (masks, filters, the consent semi-join); nothing
//! here touches data, so decisions cost the same at any data size.
//!
//! Invariant: deny by default. A principal not in principals.yaml, a purpose not in
//! mesh.yaml, a request no policy permits, a policy that fails to evaluate: all deny.

mod filters;
pub mod keyed;
mod policy;
pub mod principals;
mod read;
pub mod settings;

use std::collections::BTreeSet;

use serde::Serialize;
use tessera_model::{Diagnostic, Diagnostics, Mesh};

pub use filters::RowFilter;
pub use policy::{Action, Policies, PolicyRef, Resource, Verdict, schema_text};
pub use principals::{AttrKind, AttrValue, Principal, PrincipalKind, Principals};
pub use settings::{Basis, ConsentSettings, Mask, Purpose, Settings};

/// Everything governance knows about a mesh.
#[derive(Debug)]
pub struct Governance {
    pub settings: Settings,
    pub principals: Principals,
    pub policies: Policies,
    pub filters: Vec<RowFilter>,
    /// The subject kind consent is recorded for (the consent port's subject column's
    /// `tesseraSubjectKey`), when consent is configured.
    pub consent_subject: Option<String>,
}

/// A session's identity: a known principal and a declared purpose, and the ports the
/// principal was granted for that purpose (approved access requests, `context.granted`
/// in policies; empty until the caller adds them with [`Session::with_grants`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub principal: Principal,
    pub purpose: Purpose,
    /// `domain.port` names.
    pub granted: BTreeSet<String>,
}

impl Session {
    /// The same session, holding grants on `ports` (`domain.port`) for its purpose.
    /// Grants give nothing by themselves: a policy must read `context.granted`.
    pub fn with_grants(mut self, ports: impl IntoIterator<Item = String>) -> Session {
        self.granted = ports.into_iter().collect();
        self
    }
}

/// Why a session cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("unknown principal `{name}`{}", hint(.suggestion))]
    UnknownPrincipal {
        name: String,
        suggestion: Option<String>,
    },
    #[error("unknown purpose `{name}`: the mesh declares {}", .known.join(", "))]
    UnknownPurpose { name: String, known: Vec<String> },
}

fn hint(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_else(|| " (principals are declared in policies/principals.yaml)".into())
}

/// What the contract says about a port, as governance needs it.
#[derive(Debug, Clone, Default)]
pub struct PortFacts {
    /// `domain.port`.
    pub table: String,
    pub columns: Vec<ColumnFacts>,
}

#[derive(Debug, Clone, Default)]
pub struct ColumnFacts {
    pub name: String,
    pub classification: Option<String>,
    pub subject_key: Option<String>,
}

/// How a column is shown to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "decision", content = "method")]
pub enum Access {
    Visible,
    Masked(Mask),
    Absent,
}

impl Access {
    pub fn label(self) -> String {
        match self {
            Access::Visible => "visible".into(),
            Access::Masked(m) => format!("masked ({m})"),
            Access::Absent => "absent".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnDecision {
    pub name: String,
    pub access: Access,
    /// The verdict that decided (read_column when visible, else read_column_masked).
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedFilter {
    pub name: String,
    /// The predicate with the principal's values bound in.
    pub predicate: String,
}

/// Rows whose subject has not consented to the purpose are not shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentFilter {
    /// The port's columns holding the consent subject's key (each must have consented).
    pub columns: Vec<String>,
    /// The purpose's value in the consent port.
    pub purpose: String,
    pub settings: ConsentSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortDecision {
    pub table: String,
    pub query: Verdict,
    pub columns: Vec<ColumnDecision>,
    pub row_filters: Vec<AppliedFilter>,
    pub consent: Option<ConsentFilter>,
}

impl PortDecision {
    pub fn column(&self, name: &str) -> Option<&ColumnDecision> {
        self.columns.iter().find(|c| c.name == name)
    }
}

impl Governance {
    /// Whether the mesh is governed: it declares its principals.
    pub fn configured(mesh: &Mesh) -> bool {
        mesh.governance_files
            .iter()
            .any(|f| f.path == principals::FILE)
    }

    /// Reads and checks the mesh's governance files. `None` when the mesh has none
    /// ([`Governance::configured`] is false) or when they have errors (in the diagnostics).
    pub fn load(mesh: &Mesh) -> (Option<Governance>, Diagnostics) {
        let mut diags = Diagnostics::new();
        let text_of = |path: &str, diags: &mut Diagnostics| -> Option<String> {
            let file = mesh.governance_files.iter().find(|f| f.path == path)?;
            match tessera_model::yaml::decode(path, &file.bytes) {
                Ok(t) => Some(t.to_string()),
                Err(d) => {
                    diags.push(d);
                    None
                }
            }
        };
        let Some(principals_text) = text_of(principals::FILE, &mut diags) else {
            return (None, diags);
        };
        let principals = Principals::read(&principals_text, &mut diags);
        let settings = text_of("mesh.yaml", &mut diags)
            .and_then(|t| tessera_model::yaml::parse("mesh.yaml", &t).ok())
            .map(|node| Settings::read("mesh.yaml", &node, &mut diags))
            .unwrap_or_default();
        let filters = text_of(filters::FILE, &mut diags)
            .map(|t| filters::read(&t, mesh, &principals, &mut diags))
            .unwrap_or_default();
        let consent_subject = check_consent(mesh, &settings, &mut diags);
        for (name, domain) in &mesh.domains {
            let Some(config) = &domain.config else {
                continue;
            };
            for owner in config.owners() {
                if principals.get(owner).is_none() {
                    let mut r = read::Reader {
                        file: format!("domains/{name}/domain.yaml"),
                        diags: &mut diags,
                    };
                    r.warning(
                        config.node.get("team"),
                        "team.members",
                        format!(
                            "owner `{owner}` of domain {name} is not a principal in {}, so no one can act as them",
                            principals::FILE
                        ),
                    );
                }
            }
        }
        for f in &mesh.governance_files {
            let p = f.path.as_str();
            let known = p == "mesh.yaml"
                || p == principals::FILE
                || p == filters::FILE
                || p.ends_with(".cedar")
                || p.starts_with("policies/tests/")
                || p.ends_with(".md");
            if !known {
                diags.push(
                    Diagnostic::warning("ignored-file", p, "governance does not read this file")
                        .with_help("policies/ holds *.cedar, principals.yaml, row_filters.yaml, rules/*.sql and tests/*.slt"),
                );
            }
        }
        let policies = Policies::load(mesh, &principals, &mut diags);
        if diags.has_errors() {
            return (None, diags);
        }
        let Some(policies) = policies else {
            return (None, diags);
        };
        (
            Some(Governance {
                settings,
                principals,
                policies,
                filters,
                consent_subject,
            }),
            diags,
        )
    }

    /// A declared principal, or why not (with the nearest declared name).
    pub fn principal(&self, name: &str) -> Result<&Principal, SessionError> {
        self.principals
            .get(name)
            .ok_or_else(|| SessionError::UnknownPrincipal {
                name: name.to_string(),
                suggestion: read::suggest(
                    name,
                    self.principals.principals.keys().map(String::as_str),
                )
                .map(str::to_string),
            })
    }

    /// Starts a session as `principal` for `purpose`; both must be declared.
    pub fn session(&self, principal: &str, purpose: &str) -> Result<Session, SessionError> {
        let p = self.principal(principal)?;
        let Some(purpose) = self.settings.purposes.get(purpose) else {
            return Err(SessionError::UnknownPurpose {
                name: purpose.to_string(),
                known: self.settings.purposes.keys().cloned().collect(),
            });
        };
        Ok(Session {
            principal: p.clone(),
            purpose: purpose.clone(),
            granted: BTreeSet::new(),
        })
    }

    /// Whether the session may do `action` on `resource`.
    pub fn authorize(&self, s: &Session, action: Action, resource: &Resource) -> Verdict {
        self.policies.decide(
            &s.principal.id,
            action,
            resource,
            &s.purpose.name,
            s.purpose.basis.as_str(),
            &s.granted,
        )
    }

    /// What the session may see of a port.
    pub fn decide_port(&self, s: &Session, port: &PortFacts) -> PortDecision {
        let query = self.authorize(s, Action::Query, &Resource::Port(port.table.clone()));
        let mut columns = Vec::with_capacity(port.columns.len());
        for c in &port.columns {
            let resource = Resource::Column(port.table.clone(), c.name.clone());
            let read = self.authorize(s, Action::ReadColumn, &resource);
            let decision = if read.allowed {
                ColumnDecision {
                    name: c.name.clone(),
                    access: Access::Visible,
                    verdict: read,
                }
            } else {
                let masked = self.authorize(s, Action::ReadColumnMasked, &resource);
                let access = if masked.allowed {
                    Access::Masked(self.mask_for(c.classification.as_deref()))
                } else {
                    Access::Absent
                };
                // A forbid on read_column is the more telling reason for an absent column.
                let verdict = if masked.allowed || read.policies.is_empty() {
                    masked
                } else {
                    read
                };
                ColumnDecision {
                    name: c.name.clone(),
                    access,
                    verdict,
                }
            };
            columns.push(decision);
        }
        let row_filters = self
            .filters
            .iter()
            .filter(|f| f.applies(&s.principal, &port.table))
            .map(|f| AppliedFilter {
                name: f.name.clone(),
                predicate: f.bind(&s.principal),
            })
            .collect();
        let consent = match (&self.settings.consent, &self.consent_subject) {
            (Some(settings), Some(kind)) if s.purpose.basis == Basis::Consent => {
                let keyed: Vec<String> = port
                    .columns
                    .iter()
                    .filter(|c| c.subject_key.as_deref() == Some(kind.as_str()))
                    .map(|c| c.name.clone())
                    .collect();
                (!keyed.is_empty()).then(|| ConsentFilter {
                    columns: keyed,
                    purpose: s.purpose.consent_purpose.clone(),
                    settings: settings.clone(),
                })
            }
            _ => None,
        };
        PortDecision {
            table: port.table.clone(),
            query,
            columns,
            row_filters,
            consent,
        }
    }

    /// The mask for a classification; `redact` when mesh.yaml names none (a global rule
    /// can require one).
    pub fn mask_for(&self, classification: Option<&str>) -> Mask {
        classification
            .and_then(|c| self.settings.masking.get(c))
            .copied()
            .unwrap_or(Mask::Redact)
    }
}

/// Checks `consent:` against the mesh; returns the consent subject's kind.
fn check_consent(mesh: &Mesh, settings: &Settings, diags: &mut Diagnostics) -> Option<String> {
    let needs: Vec<&str> = settings
        .purposes
        .values()
        .filter(|p| p.basis == Basis::Consent)
        .map(|p| p.name.as_str())
        .collect();
    let Some(c) = &settings.consent else {
        if !needs.is_empty() {
            diags.push(
                Diagnostic::error(
                    "invalid-value",
                    "mesh.yaml",
                    format!(
                        "purposes {} need consent, but mesh.yaml names no consent port",
                        needs.join(", ")
                    ),
                )
                .with_path("consent")
                .with_help("add `consent: {port: <domain>.<port>, subject: …, purpose: …, granted: …, recorded_at: …}`"),
            );
        }
        return None;
    };
    let (domain, port) = c.port.split_once('.')?;
    let found = mesh
        .domains
        .iter()
        .filter(|(d, _)| d.as_str() == domain)
        .flat_map(|(_, d)| d.products.values())
        .flat_map(|p| p.ports.iter())
        .find(|p| p.name.as_str() == port);
    let Some(found) = found else {
        diags.push(
            Diagnostic::error(
                "invalid-value",
                "mesh.yaml",
                format!("consent port `{}` is not a port of the mesh", c.port),
            )
            .with_path("consent.port"),
        );
        return None;
    };
    let columns = found
        .contract
        .as_ref()
        .and_then(|c| c.objects.first())
        .map(|o| o.properties.as_slice())
        .unwrap_or_default();
    let names: BTreeSet<&str> = columns.iter().map(|p| p.name.as_str()).collect();
    for (key, column) in [
        ("subject", &c.subject),
        ("purpose", &c.purpose),
        ("granted", &c.granted),
        ("recorded_at", &c.recorded_at),
    ] {
        if !names.contains(column.as_str()) {
            diags.push(
                Diagnostic::error(
                    "invalid-value",
                    "mesh.yaml",
                    format!("consent.{key}: {} has no column `{column}`", c.port),
                )
                .with_path(format!("consent.{key}"))
                .with_help(format!(
                    "{} has: {}",
                    c.port,
                    names.iter().copied().collect::<Vec<_>>().join(", ")
                )),
            );
        }
    }
    let kind = columns
        .iter()
        .find(|p| p.name == c.subject)
        .and_then(|p| p.subject_key());
    if kind.is_none() && names.contains(c.subject.as_str()) {
        diags.push(
            Diagnostic::error(
                "invalid-value",
                "mesh.yaml",
                format!(
                    "consent.subject: column `{}` of {} is not marked as a subject key",
                    c.subject, c.port
                ),
            )
            .with_path("consent.subject")
            .with_help("mark it in the contract: customProperties: [{property: tesseraSubjectKey, value: customer}]"),
        );
    }
    kind.map(str::to_string)
}
