//! Publishing as every front end does it (`tessera publish --as P`, the HTTP API's
//! `POST /api/v1/products/{domain}/{product}/publish`): who may publish what, which
//! global rules block it, and the audit records of both. The build itself is
//! [`Engine::run`] with [`Mode::Publish`](crate::Mode::Publish).
//!
//! ```text
//!  may_publish(principal, targets)        Cedar `publish` on each product ─▶ Refusal::Policy
//!  blocking_violations(targets)           error-level global rules        ─▶ Refusal::Rules
//!  audit_publish_refused(…)               one `publish` record, outcome denied
//!  run(targets, Mode::Publish, …)
//!  audit_published(outcomes, …)           one `publish` record, ok or error
//! ```
//!
//! Publishing is not done for a purpose: the Cedar context's purpose is the action's name
//! (`publish`), with the basis `legitimate_interest` ([`operation_session`]).

use tessera_catalog::AuditOutcome;
use tessera_governance::{Action, Basis, Principal, Purpose, Resource, Session, Verdict};
use tessera_model::{Mesh, ProductRef};

use crate::rules::{RuleFailure, RuleSeverity, Violation};
use crate::{Engine, ProductOutcome, Result, Status};

/// Why a publish may not go ahead.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// The principal is not declared in `policies/principals.yaml`.
    UnknownPrincipal(String),
    /// No policy lets the principal publish these products (or one forbids it).
    Policy {
        principal: String,
        refused: Vec<(ProductRef, Verdict)>,
    },
    /// Error-level global rules that the products (or the mesh as a whole) violate.
    Rules(Vec<Violation>),
}

impl Refusal {
    /// One line per reason, as the CLI prints them after `error: ` and the API returns
    /// them.
    pub fn reasons(&self) -> Vec<String> {
        match self {
            Refusal::UnknownPrincipal(p) => {
                vec![format!(
                    "unknown principal `{p}` (policies/principals.yaml)"
                )]
            }
            Refusal::Policy { principal, refused } => refused
                .iter()
                .map(|(p, verdict)| {
                    format!(
                        "not permitted: {principal} may not publish {p}: {}",
                        verdict.explain()
                    )
                })
                .collect(),
            Refusal::Rules(violations) => violations
                .iter()
                .map(|v| format!("{}: {}", v.rule, v.message))
                .collect(),
        }
    }

    /// What the audit record says.
    pub fn audit_error(&self) -> String {
        match self {
            Refusal::UnknownPrincipal(p) => format!("unknown principal `{p}`"),
            Refusal::Policy { .. } => "not permitted by policy".into(),
            Refusal::Rules(_) => self.reasons().join("; "),
        }
    }
}

/// The products a publish of `products` covers: those, or every product when empty.
pub fn targets(mesh: &Mesh, products: &[ProductRef]) -> Vec<ProductRef> {
    if products.is_empty() {
        mesh.products().map(|p| p.reference()).collect()
    } else {
        products.to_vec()
    }
}

/// A session for an action that is not done for a purpose (publishing, managing tokens):
/// the context's purpose is the action's name, its basis `legitimate_interest`.
pub fn operation_session(principal: &Principal, action: Action) -> Session {
    Session {
        principal: principal.clone(),
        purpose: Purpose {
            name: action.as_str().into(),
            basis: Basis::LegitimateInterest,
            description: None,
            consent_purpose: String::new(),
        },
        granted: Default::default(),
    }
}

impl Engine {
    /// Whether `principal` may publish every product of `targets` (the Cedar `publish`
    /// action on each). Always `Ok` on a mesh without governance.
    pub fn may_publish(
        &self,
        principal: &str,
        targets: &[ProductRef],
    ) -> std::result::Result<(), Refusal> {
        let Some(gov) = self.governor.as_ref().and_then(|g| g.governance.as_ref()) else {
            return Ok(());
        };
        let Some(who) = gov.principals.get(principal) else {
            return Err(Refusal::UnknownPrincipal(principal.to_string()));
        };
        let session = operation_session(who, Action::Publish);
        let refused: Vec<(ProductRef, Verdict)> = targets
            .iter()
            .map(|p| {
                let verdict =
                    gov.authorize(&session, Action::Publish, &Resource::Product(p.to_string()));
                (p.clone(), verdict)
            })
            .filter(|(_, verdict)| !verdict.allowed)
            .collect();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Policy {
                principal: principal.to_string(),
                refused,
            })
        }
    }

    /// The error-level global rule violations that block publishing `targets`: those of
    /// a target product or its domain, and those tied to no product (the mesh as a
    /// whole). Also the rules that could not run (they block nothing).
    pub async fn blocking_violations(
        &self,
        targets: &[ProductRef],
    ) -> (Vec<Violation>, Vec<RuleFailure>) {
        let (violations, failures) = self.check_rules().await;
        let blocking = violations
            .into_iter()
            .filter(|v| v.severity == RuleSeverity::Error)
            .filter(|v| match (&v.domain, &v.product) {
                (Some(d), Some(p)) => targets
                    .iter()
                    .any(|t| t.domain.as_str() == d && t.product.as_str() == p),
                (Some(d), None) => targets.iter().any(|t| t.domain.as_str() == d),
                _ => true,
            })
            .collect();
        (blocking, failures)
    }

    /// Records a refused publish of `targets` (outcome `denied`, with why).
    pub async fn audit_publish_refused(
        &self,
        targets: &[ProductRef],
        principal: Option<&str>,
        refusal: &Refusal,
        interface: &str,
    ) -> Result<()> {
        let resources = serde_json::Value::Array(
            targets
                .iter()
                .map(|p| serde_json::json!({ "product": p.to_string(), "status": "refused" }))
                .collect(),
        );
        self.audit_action_via(
            interface,
            principal,
            None,
            "publish",
            resources,
            AuditOutcome::Denied,
            Some(refusal.audit_error()),
        )
        .await
    }

    /// One record per publish run: who published which products, and how each went
    /// (outcome `error` when one failed or was blocked).
    pub async fn audit_published(
        &self,
        outcomes: &[ProductOutcome],
        principal: Option<&str>,
        interface: &str,
    ) -> Result<()> {
        let resources: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|o| serde_json::json!({ "product": o.product.to_string(), "status": o.status }))
            .collect();
        let failed = outcomes
            .iter()
            .any(|o| matches!(o.status, Status::Failed | Status::Blocked));
        let outcome = if failed {
            AuditOutcome::Error
        } else {
            AuditOutcome::Ok
        };
        self.audit_action_via(
            interface,
            principal,
            None,
            "publish",
            serde_json::Value::Array(resources),
            outcome,
            None,
        )
        .await
    }
}
