//! Access requests as every front end handles them (`tessera access …`, the HTTP API's
//! `/api/v1/access-requests`, the web UI): a consumer asks for a port for a purpose, the
//! owners of the port's domain decide, and an approved request is a grant that policies
//! read as `context.granted` on the requester's next statement (`query/grants.rs`).
//!
//! ```text
//!  request_access(p, port, purpose, why)   validate (principal, port, purpose, text)
//!                                           ─▶ not granted already? would a grant change
//!                                              what p sees? ─▶ record ─▶ audit
//!  approve_access(o, id, expires, reason)  validate ─▶ authorize: Cedar `approve_access` on
//!  deny_access(o, id, reason)                 the port, context.purpose = the request's;
//!  revoke_access(o, id, reason)               never one's own request ─▶ decide ─▶ audit
//!  withdraw_access(p, id)                  the requester only, while undecided
//!  access_requests(p, filter)              one's own, and those one may decide
//! ```
//!
//! Every call once its principal is known writes one audit record — ok, denied (a
//! refused approval) or error — with the principal, the port (as the record's `table`)
//! and the request's purpose. The decision is recorded first, then its audit record; if
//! the audit write fails the call fails, and the decision stands.
//!
//! A request is decided once (the metadata store guarantees it under concurrency); a
//! second decision is a conflict that names the first.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use tessera_catalog::{
    AccessDecision, AccessQuery, AccessRequestRecord, AccessStatus, AuditOutcome, CatalogError,
    NewAccessRequest,
};
use tessera_governance::{Action, Governance, Resource, Session};

use crate::Engine;

/// The longest justification or reason, in characters.
pub const MAX_TEXT: usize = 4000;

/// Why an access request call failed. [`AccessError::kind`] groups them for the HTTP
/// status and the CLI's exit code.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The mesh declares no principals, so there is nothing to grant.
    #[error(
        "this mesh is not governed (it has no policies/principals.yaml): every session reads every port, so there is no access to request"
    )]
    NotGoverned,
    /// Bad input: unknown port or purpose, empty text, an expiry in the past, a request
    /// that would change nothing.
    #[error("{0}")]
    Invalid(String),
    /// Policy or the flow's rules refuse it.
    #[error("not permitted: {0}")]
    NotPermitted(String),
    /// No request the caller can see has this id.
    #[error("{0}")]
    NotFound(String),
    /// It contradicts what is recorded: already decided, already granted, already asked.
    #[error("{0}")]
    Conflict(String),
    /// The metadata store failed (the detail is for the log).
    #[error("metadata store: {0}")]
    Store(CatalogError),
}

/// How an [`AccessError`] should be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessErrorKind {
    Invalid,
    NotPermitted,
    NotFound,
    Conflict,
    Internal,
}

impl AccessError {
    pub fn kind(&self) -> AccessErrorKind {
        match self {
            AccessError::NotGoverned | AccessError::Invalid(_) => AccessErrorKind::Invalid,
            AccessError::NotPermitted(_) => AccessErrorKind::NotPermitted,
            AccessError::NotFound(_) => AccessErrorKind::NotFound,
            AccessError::Conflict(_) => AccessErrorKind::Conflict,
            AccessError::Store(_) => AccessErrorKind::Internal,
        }
    }

    fn outcome(&self) -> AuditOutcome {
        match self.kind() {
            AccessErrorKind::NotPermitted => AuditOutcome::Denied,
            _ => AuditOutcome::Error,
        }
    }
}

impl From<CatalogError> for AccessError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Conflict(m) => AccessError::Conflict(m),
            CatalogError::NotFound(m) => AccessError::NotFound(m),
            CatalogError::InvalidArgument(m) => AccessError::Invalid(m),
            e => AccessError::Store(e),
        }
    }
}

/// A request as a caller sees it: the record, its state now, and what the caller may do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessRequestView {
    #[serde(flatten)]
    pub request: AccessRequestRecord,
    /// `requested`, `approved` (a grant in force), `expired`, `denied`, `withdrawn` or
    /// `revoked`.
    pub state: &'static str,
    /// The caller made it.
    pub mine: bool,
    /// The caller may decide it now: approve or deny while requested, revoke while in
    /// force (Cedar `approve_access` on the port, and not their own request).
    pub can_decide: bool,
}

impl AccessRequestView {
    /// The state of `r` at `now`: its status, with an approval past its expiry `expired`.
    pub fn state_at(r: &AccessRequestRecord, now: DateTime<Utc>) -> &'static str {
        match r.status {
            AccessStatus::Approved if !r.is_active(now) => "expired",
            status => status.as_str(),
        }
    }
}

/// Which requests to list. Every filter set must hold; newest first.
#[derive(Debug, Clone, Default)]
pub struct AccessFilter {
    /// By stored status (`approved` includes expired grants; see `state`).
    pub status: Option<AccessStatus>,
    /// `domain.port`.
    pub port: Option<String>,
    /// Only the caller's own requests (`Some(true)`), only others' that the caller may
    /// decide (`Some(false)`), or both (`None`).
    pub mine: Option<bool>,
    pub limit: Option<usize>,
}

/// Parses an expiry: a duration from `now` (`90m`, `12h`, `30d`, `2w`; `s` for seconds)
/// or an RFC 3339 time (`2026-12-31T00:00:00Z`). It must be after `now`.
pub fn parse_expiry(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, AccessError> {
    let text = text.trim();
    let bad = || {
        AccessError::Invalid(format!(
            "expiry `{text}` is neither a duration nor a time\n  \
             help: write a duration such as 30d, 12h, 90m or 2w, or an RFC 3339 time such as 2026-12-31T00:00:00Z"
        ))
    };
    let at = if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        t.with_timezone(&Utc)
    } else {
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (n, unit) = text.split_at(split);
        let n: i64 = n.parse().map_err(|_| bad())?;
        let seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(bad()),
        };
        let span = n
            .checked_mul(seconds)
            .and_then(Duration::try_seconds)
            .ok_or_else(bad)?;
        now.checked_add_signed(span).ok_or_else(bad)?
    };
    if at <= now {
        return Err(AccessError::Invalid(format!(
            "expiry {} is not in the future\n  help: an approval ends after it is given; give a later time or a duration",
            at.to_rfc3339()
        )));
    }
    Ok(at)
}

fn check_text(what: &str, text: &str) -> Result<String, AccessError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AccessError::Invalid(format!(
            "the {what} is empty\n  help: say why, in a sentence the port's owners can act on"
        )));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(AccessError::Invalid(format!(
            "the {what} is longer than {MAX_TEXT} characters"
        )));
    }
    Ok(text.to_string())
}

impl Engine {
    fn access_governance(&self) -> Result<&Governance, AccessError> {
        self.governor
            .as_ref()
            .and_then(|g| g.governance.as_deref())
            .ok_or(AccessError::NotGoverned)
    }

    /// The session `principal` decides in, for a request's purpose.
    fn decider_session(
        &self,
        gov: &Governance,
        principal: &str,
        purpose: &str,
    ) -> Result<Session, AccessError> {
        gov.session(principal, purpose)
            .map_err(|e| AccessError::Invalid(e.to_string()))
    }

    /// Whether `principal` may decide requests for `r`'s port and purpose (Cedar
    /// `approve_access`), with the verdict's explanation.
    fn may_decide(
        &self,
        gov: &Governance,
        principal: &str,
        r: &AccessRequestRecord,
    ) -> (bool, String) {
        match self.decider_session(gov, principal, &r.purpose) {
            Ok(session) => {
                let v = gov.authorize(
                    &session,
                    Action::ApproveAccess,
                    &Resource::Port(r.port.clone()),
                );
                (v.allowed, v.explain())
            }
            Err(e) => (false, e.to_string()),
        }
    }

    fn view(
        &self,
        gov: &Governance,
        principal: &str,
        r: AccessRequestRecord,
        now: DateTime<Utc>,
    ) -> AccessRequestView {
        let state = AccessRequestView::state_at(&r, now);
        let decidable = matches!(state, "requested" | "approved");
        let can_decide =
            decidable && r.principal != principal && self.may_decide(gov, principal, &r).0;
        AccessRequestView {
            mine: r.principal == principal,
            state,
            can_decide,
            request: r,
        }
    }

    /// Checks that `port` (`domain.port`) is a port sessions can read.
    fn access_port(&self, port: &str) -> Result<crate::query::TableEntry, AccessError> {
        let set = self.table_set();
        let Some((domain, name)) = port.split_once('.') else {
            return Err(AccessError::Invalid(format!(
                "`{port}` is not a port name\n  help: name it as <domain>.<port>, e.g. crm.customers"
            )));
        };
        if let Some(why) = set.unavailable(domain, name) {
            return Err(AccessError::Invalid(format!(
                "port {port} cannot be read ({why}), so there is no access to request"
            )));
        }
        match set.get(domain, name) {
            Some(entry) if entry.kind == crate::query::TableKind::Port => Ok((**entry).clone()),
            _ => {
                let ports: Vec<String> = set
                    .entries()
                    .filter(|e| e.kind == crate::query::TableKind::Port)
                    .map(|e| e.qualified())
                    .collect();
                let hint =
                    tessera_model::diagnostic::suggest(port, ports.iter().map(String::as_str))
                        .map(|s| format!(" (did you mean {s}?)"))
                        .unwrap_or_default();
                Err(AccessError::Invalid(format!(
                    "no port {port} in this mesh{hint}\n  help: `tessera sql -c 'SHOW TABLES'` lists the ports"
                )))
            }
        }
    }

    /// The request with this id, if the caller may see it (their own, or one they may
    /// decide).
    async fn visible_request(
        &self,
        gov: &Governance,
        principal: &str,
        id: &str,
    ) -> Result<AccessRequestRecord, AccessError> {
        let found = self.catalog.access_request(id).await?;
        match found {
            Some(r) if r.principal == principal || self.may_decide(gov, principal, &r).0 => Ok(r),
            _ => Err(AccessError::NotFound(format!(
                "no access request you can see has the id {id}\n  help: `tessera access list` shows yours and those you may decide"
            ))),
        }
    }

    #[allow(clippy::too_many_arguments)] // the audit record's fields, each said once
    async fn audit_access<T>(
        &self,
        interface: &str,
        principal: &str,
        action: &str,
        purpose: Option<&str>,
        port: Option<&str>,
        details: serde_json::Value,
        result: Result<T, AccessError>,
    ) -> Result<T, AccessError> {
        let mut resource = json!({ "table": port });
        if let (Some(obj), serde_json::Value::Object(more)) = (resource.as_object_mut(), details) {
            obj.extend(more);
        }
        let (outcome, error) = match &result {
            Ok(_) => (AuditOutcome::Ok, None),
            Err(e) => (e.outcome(), Some(e.to_string())),
        };
        self.audit_action_via(
            interface,
            Some(principal),
            purpose,
            action,
            json!([resource]),
            outcome,
            error,
        )
        .await
        .map_err(|e| match e {
            crate::EngineError::Catalog(e) => AccessError::Store(e),
            e => AccessError::Store(CatalogError::InvalidArgument(e.to_string())),
        })?;
        result
    }

    /// `principal` asks for `port` (`domain.port`) for `purpose`, saying why. Refused when
    /// the port or purpose is unknown, the justification is empty, the principal already
    /// holds a grant (or an open request) for it, or a grant would change nothing for the
    /// principal (no policy reads `context.granted` for them, or a forbid wins) — the
    /// message says which.
    pub async fn request_access(
        &self,
        interface: &str,
        principal: &str,
        port: &str,
        purpose: &str,
        justification: &str,
    ) -> Result<AccessRequestView, AccessError> {
        let gov = self.access_governance()?;
        gov.principal(principal)
            .map_err(|e| AccessError::NotPermitted(e.to_string()))?;
        let result = self
            .request_checked(gov, principal, port, purpose, justification)
            .await;
        let details = match &result {
            Ok(v) => {
                json!({ "access_request": v.request.id, "justification": v.request.justification })
            }
            Err(_) => json!({ "justification": justification }),
        };
        self.audit_access(
            interface,
            principal,
            "request_access",
            Some(purpose),
            Some(port),
            details,
            result,
        )
        .await
    }

    async fn request_checked(
        &self,
        gov: &Governance,
        principal: &str,
        port: &str,
        purpose: &str,
        justification: &str,
    ) -> Result<AccessRequestView, AccessError> {
        let entry = self.access_port(port)?;
        let session = gov
            .session(principal, purpose)
            .map_err(|e| AccessError::Invalid(e.to_string()))?;
        let justification = check_text("justification", justification)?;
        let now = Utc::now();
        let held = self.catalog.access_grants(principal, now).await?;
        if let Some(g) = held.iter().find(|g| g.port == port && g.purpose == purpose) {
            let until = g
                .expires_at
                .map(|t| format!("until {}", t.to_rfc3339()))
                .unwrap_or_else(|| "with no expiry".into());
            return Err(AccessError::Conflict(format!(
                "{principal} already holds access to {port} for {purpose}: request {} approved by {} {until}",
                g.id,
                g.decided_by.as_deref().unwrap_or("?"),
            )));
        }
        // A request that policy could not honour would only waste the owners' time.
        let facts = crate::query::governed::facts(&entry);
        let without = gov.decide_port(&session, &facts);
        let granted = session.clone().with_grants([port.to_string()]);
        let with = gov.decide_port(&granted, &facts);
        if !with.query.allowed {
            return Err(AccessError::Invalid(format!(
                "an approved request would not let {principal} query {port} for {purpose}: {}\n  \
                 help: a grant counts only where a policy reads context.granted, and a forbid wins over it (docs/access.md)",
                with.query.explain()
            )));
        }
        let same = without.query.allowed
            && without
                .columns
                .iter()
                .zip(&with.columns)
                .all(|(a, b)| a.access == b.access);
        if same {
            return Err(AccessError::Invalid(format!(
                "{principal} may already query {port} for {purpose} ({}), and an approved request would change nothing they see",
                without.query.explain()
            )));
        }
        let record = NewAccessRequest {
            id: uuid::Uuid::now_v7().to_string(),
            principal: principal.to_string(),
            port: port.to_string(),
            purpose: purpose.to_string(),
            justification,
            created_at: now,
        };
        self.catalog.create_access_request(&record).await?;
        let stored = self
            .catalog
            .access_request(&record.id)
            .await?
            .ok_or_else(|| {
                AccessError::NotFound(format!("access request {} vanished", record.id))
            })?;
        Ok(self.view(gov, principal, stored, now))
    }

    /// The requests `principal` may see — their own, and those for ports they may decide
    /// (Cedar `approve_access`) — newest first.
    pub async fn access_requests(
        &self,
        principal: &str,
        filter: &AccessFilter,
    ) -> Result<Vec<AccessRequestView>, AccessError> {
        let gov = self.access_governance()?;
        gov.principal(principal)
            .map_err(|e| AccessError::NotPermitted(e.to_string()))?;
        let q = AccessQuery {
            principal: (filter.mine == Some(true)).then(|| principal.to_string()),
            ports: filter.port.as_ref().map(|p| vec![p.clone()]),
            status: filter.status,
            ..AccessQuery::default()
        };
        let now = Utc::now();
        let mut out = Vec::new();
        for r in self.catalog.access_requests(&q).await? {
            let mine = r.principal == principal;
            let shown = match filter.mine {
                Some(true) => mine,
                Some(false) => !mine && self.may_decide(gov, principal, &r).0,
                None => mine || self.may_decide(gov, principal, &r).0,
            };
            if shown {
                out.push(self.view(gov, principal, r, now));
                if filter.limit.is_some_and(|n| out.len() >= n) {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// One request, if `principal` may see it (their own, or one they may decide).
    pub async fn access_request(
        &self,
        principal: &str,
        id: &str,
    ) -> Result<AccessRequestView, AccessError> {
        let gov = self.access_governance()?;
        gov.principal(principal)
            .map_err(|e| AccessError::NotPermitted(e.to_string()))?;
        let r = self.visible_request(gov, principal, id).await?;
        Ok(self.view(gov, principal, r, Utc::now()))
    }

    /// Approves a request: from now on (until `expires_at`, when given) the requester's
    /// sessions for its purpose hold a grant on its port.
    pub async fn approve_access(
        &self,
        interface: &str,
        principal: &str,
        id: &str,
        expires_at: Option<DateTime<Utc>>,
        reason: Option<&str>,
    ) -> Result<AccessRequestView, AccessError> {
        let reason = match reason.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => Some(check_text("reason", r)?),
            None => None,
        };
        if let Some(at) = expires_at
            && at <= Utc::now()
        {
            return Err(AccessError::Invalid(format!(
                "expiry {} is not in the future",
                at.to_rfc3339()
            )));
        }
        self.decide_access(
            interface,
            principal,
            id,
            AccessStatus::Approved,
            reason,
            expires_at,
        )
        .await
    }

    /// Denies a request, with a reason the requester will read.
    pub async fn deny_access(
        &self,
        interface: &str,
        principal: &str,
        id: &str,
        reason: &str,
    ) -> Result<AccessRequestView, AccessError> {
        let reason = check_text("reason", reason)?;
        self.decide_access(
            interface,
            principal,
            id,
            AccessStatus::Denied,
            Some(reason),
            None,
        )
        .await
    }

    /// Takes an approved grant back; the requester's next statement no longer holds it.
    pub async fn revoke_access(
        &self,
        interface: &str,
        principal: &str,
        id: &str,
        reason: Option<&str>,
    ) -> Result<AccessRequestView, AccessError> {
        let reason = match reason.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => Some(check_text("reason", r)?),
            None => None,
        };
        self.decide_access(
            interface,
            principal,
            id,
            AccessStatus::Revoked,
            reason,
            None,
        )
        .await
    }

    /// The requester takes back a request nobody has decided yet.
    pub async fn withdraw_access(
        &self,
        interface: &str,
        principal: &str,
        id: &str,
    ) -> Result<AccessRequestView, AccessError> {
        self.decide_access(
            interface,
            principal,
            id,
            AccessStatus::Withdrawn,
            None,
            None,
        )
        .await
    }

    async fn decide_access(
        &self,
        interface: &str,
        principal: &str,
        id: &str,
        status: AccessStatus,
        reason: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<AccessRequestView, AccessError> {
        let gov = self.access_governance()?;
        gov.principal(principal)
            .map_err(|e| AccessError::NotPermitted(e.to_string()))?;
        let action = match status {
            AccessStatus::Approved => "approve_access",
            AccessStatus::Denied => "deny_access",
            AccessStatus::Revoked => "revoke_access",
            AccessStatus::Withdrawn | AccessStatus::Requested => "withdraw_access",
        };
        let request = match self.visible_request(gov, principal, id).await {
            Ok(r) => r,
            // Audited without a port: the caller may not learn which it is.
            Err(e) => {
                let details = json!({ "access_request": id });
                return self
                    .audit_access(interface, principal, action, None, None, details, Err(e))
                    .await;
            }
        };
        let result = async {
            if status == AccessStatus::Withdrawn {
                if request.principal != principal {
                    return Err(AccessError::NotPermitted(format!(
                        "only {} may withdraw their request {id}",
                        request.principal
                    )));
                }
            } else {
                if request.principal == principal {
                    return Err(AccessError::NotPermitted(format!(
                        "{principal} may not decide their own request {id}\n  help: another owner of the port's domain decides it"
                    )));
                }
                let (allowed, why) = self.may_decide(gov, principal, &request);
                if !allowed {
                    return Err(AccessError::NotPermitted(format!(
                        "{principal} may not decide access to {} for {}: {why}",
                        request.port, request.purpose
                    )));
                }
            }
            let d = AccessDecision {
                status,
                by: principal.to_string(),
                at: Utc::now(),
                reason: reason.clone(),
                expires_at,
            };
            let decided = self.catalog.decide_access_request(id, &d).await?;
            Ok(self.view(gov, principal, decided, d.at))
        }
        .await;
        let details = json!({
            "access_request": id,
            "requester": request.principal,
            "reason": reason,
            "expires_at": expires_at.map(|t| t.to_rfc3339()),
        });
        self.audit_access(
            interface,
            principal,
            action,
            Some(&request.purpose),
            Some(&request.port),
            details,
            result,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn expiries_are_durations_or_times_after_now() {
        let now = t("2026-01-01T00:00:00Z");
        for (text, want) in [
            ("30d", "2026-01-31T00:00:00Z"),
            ("12h", "2026-01-01T12:00:00Z"),
            ("90m", "2026-01-01T01:30:00Z"),
            ("2w", "2026-01-15T00:00:00Z"),
            ("5s", "2026-01-01T00:00:05Z"),
            (" 2026-06-01T10:00:00+02:00 ", "2026-06-01T08:00:00Z"),
        ] {
            assert_eq!(parse_expiry(text, now).unwrap(), t(want), "{text}");
        }
        for text in ["", "30", "d", "30y", "-1d", "1.5d", "99999999999999999999d"] {
            let e = parse_expiry(text, now).unwrap_err().to_string();
            assert!(e.contains("neither a duration nor a time"), "{text}: {e}");
        }
        for text in ["0d", "2025-12-31T00:00:00Z", "2026-01-01T00:00:00Z"] {
            let e = parse_expiry(text, now).unwrap_err().to_string();
            assert!(e.contains("is not in the future"), "{text}: {e}");
        }
    }

    #[test]
    fn texts_are_trimmed_and_bounded() {
        assert_eq!(check_text("reason", "  ok \n").unwrap(), "ok");
        assert!(
            check_text("reason", " \n")
                .unwrap_err()
                .to_string()
                .contains("the reason is empty")
        );
        assert!(check_text("reason", &"x".repeat(MAX_TEXT + 1)).is_err());
        assert!(check_text("reason", &"é".repeat(MAX_TEXT)).is_ok());
    }
}
