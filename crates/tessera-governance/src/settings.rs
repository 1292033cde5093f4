//! Governance's part of `mesh.yaml`: the purposes a session may declare, how each
//! classification is masked, and where consent is recorded.
//!
//! ```yaml
//! purposes:
//!   analytics:       { basis: legitimate_interest, description: Reporting and analysis }
//!   email_marketing: { basis: consent, consent_purpose: marketing }
//! masking:           # classification -> method
//!   restricted: hash
//!   confidential: generalize
//! consent:
//!   port: consent.consents      # <domain>.<port>
//!   subject: customer_id        # the column holding the subject key
//!   purpose: purpose
//!   granted: granted
//!   recorded_at: updated_at     # the latest record per subject and purpose wins
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use tessera_model::Diagnostics;
use tessera_model::yaml::Node;

use crate::read::{Reader, join};

/// The lawful basis a purpose relies on (GDPR Art. 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Needs the data subject's consent to this purpose.
    Consent,
    Contract,
    LegalObligation,
    VitalInterests,
    PublicTask,
    LegitimateInterest,
}

impl Basis {
    pub const ALL: &[(&str, Basis)] = &[
        ("consent", Basis::Consent),
        ("contract", Basis::Contract),
        ("legal_obligation", Basis::LegalObligation),
        ("vital_interests", Basis::VitalInterests),
        ("public_task", Basis::PublicTask),
        ("legitimate_interest", Basis::LegitimateInterest),
    ];

    pub fn as_str(self) -> &'static str {
        Basis::ALL
            .iter()
            .find(|(_, b)| *b == self)
            .map(|(s, _)| *s)
            .unwrap_or("consent")
    }
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Purpose {
    pub name: String,
    pub basis: Basis,
    pub description: Option<String>,
    /// The value this purpose has in the consent port's purpose column (default: its name).
    pub consent_purpose: String,
}

/// How a masked column's values are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mask {
    /// A constant (`***` for text; null for other types).
    Redact,
    /// Null.
    Null,
    /// A keyed hash (HMAC-SHA256 with the mesh secret) of the value as text: the same value
    /// hashes the same in every product, so masked keys still join.
    Hash,
    /// Part of the value hidden: an e-mail's local part (`***@example.com`), else all but
    /// the first character.
    Partial,
    /// Timestamps and dates to the first of their month; numbers to their order of
    /// magnitude (`1234` → `[1000, 10000)`); text to `***`.
    Generalize,
}

impl Mask {
    pub const ALL: &[(&str, Mask)] = &[
        ("redact", Mask::Redact),
        ("null", Mask::Null),
        ("hash", Mask::Hash),
        ("partial", Mask::Partial),
        ("generalize", Mask::Generalize),
    ];

    pub fn as_str(self) -> &'static str {
        Mask::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map(|(s, _)| *s)
            .unwrap_or("redact")
    }

    pub fn parse(text: &str) -> Option<Mask> {
        Mask::ALL.iter().find(|(s, _)| *s == text).map(|(_, m)| *m)
    }
}

impl fmt::Display for Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where consent is recorded: a port with one row per (subject, purpose) decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentSettings {
    /// `<domain>.<port>`.
    pub port: String,
    pub subject: String,
    pub purpose: String,
    pub granted: String,
    pub recorded_at: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Settings {
    pub purposes: BTreeMap<String, Purpose>,
    /// Classification → mask.
    pub masking: BTreeMap<String, Mask>,
    pub consent: Option<ConsentSettings>,
}

impl Settings {
    /// Reads `purposes`, `masking` and `consent` of a parsed `mesh.yaml`.
    pub(crate) fn read(file: &str, root: &Node, diags: &mut Diagnostics) -> Settings {
        let mut r = Reader {
            file: file.to_string(),
            diags,
        };
        let mut settings = Settings::default();
        if let Some(node) = root.get("purposes") {
            for (name, value) in r.map(node, "purposes") {
                let path = join("purposes", name);
                if let Some(p) = read_purpose(&mut r, name, value, &path) {
                    settings.purposes.insert(name.to_string(), p);
                }
            }
        }
        if let Some(node) = root.get("masking") {
            for (classification, value) in r.map(node, "masking") {
                let path = join("masking", classification);
                let Some(text) = r.string(value, &path) else {
                    continue;
                };
                match Mask::parse(&text) {
                    Some(m) => {
                        settings.masking.insert(classification.to_string(), m);
                    }
                    None => r.error_help(
                        Some(value),
                        &path,
                        format!("unknown masking method `{text}`"),
                        format!(
                            "use one of {}",
                            Mask::ALL
                                .iter()
                                .map(|(s, _)| *s)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                }
            }
        }
        if let Some(node) = root.get("consent") {
            settings.consent = read_consent(&mut r, node);
        }
        settings
    }
}

fn read_purpose(r: &mut Reader, name: &str, node: &Node, path: &str) -> Option<Purpose> {
    r.known_keys(node, path, &["basis", "description", "consent_purpose"]);
    let entries = r.map(node, path);
    let basis_node = entries.iter().find(|(k, _)| *k == "basis").map(|(_, v)| *v);
    let Some(basis_node) = basis_node else {
        r.error_help(
            Some(node),
            path,
            format!("purpose `{name}` has no lawful basis"),
            "add `basis: consent` (needs the data subject's consent) or contract, legal_obligation, legitimate_interest, vital_interests, public_task",
        );
        return None;
    };
    let text = r.string(basis_node, &join(path, "basis"))?;
    let Some(basis) = Basis::ALL.iter().find(|(s, _)| *s == text).map(|(_, b)| *b) else {
        r.error_help(
            Some(basis_node),
            &join(path, "basis"),
            format!("unknown lawful basis `{text}`"),
            format!(
                "use one of {}",
                Basis::ALL
                    .iter()
                    .map(|(s, _)| *s)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        return None;
    };
    let field = |key: &str| entries.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let description = field("description").and_then(|n| r.string(n, &join(path, "description")));
    let consent_purpose = field("consent_purpose")
        .and_then(|n| r.string(n, &join(path, "consent_purpose")))
        .unwrap_or_else(|| name.to_string());
    Some(Purpose {
        name: name.to_string(),
        basis,
        description,
        consent_purpose,
    })
}

fn read_consent(r: &mut Reader, node: &Node) -> Option<ConsentSettings> {
    const KEYS: &[&str] = &["port", "subject", "purpose", "granted", "recorded_at"];
    r.known_keys(node, "consent", KEYS);
    let mut values = Vec::new();
    for key in KEYS {
        let path = join("consent", key);
        match node.get(key) {
            Some(v) => values.push(r.string(v, &path)),
            None => {
                r.error(
                    Some(node),
                    &path,
                    format!("consent needs `{key}` (the consent port's {key} column)"),
                );
                values.push(None);
            }
        }
    }
    let [port, subject, purpose, granted, recorded_at] =
        <[Option<String>; 5]>::try_from(values).ok()?;
    let port = port?;
    if port.split('.').count() != 2 {
        r.error_help(
            node.get("port"),
            "consent.port",
            format!("`{port}` is not a port name"),
            "write <domain>.<port>, e.g. consent.consents",
        );
        return None;
    }
    Some(ConsentSettings {
        port,
        subject: subject?,
        purpose: purpose?,
        granted: granted?,
        recorded_at: recorded_at?,
    })
}
