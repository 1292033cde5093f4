//! Names that become SQL identifiers: domains, products, ports, sources, columns; and the
//! ids documents give themselves.
//!
//! A domain and a port together name a table (`crm.customers`), so both must be plain SQL
//! identifiers that need no quoting: lower-case letters, digits and underscores, starting
//! with a letter, at most 63 characters (PostgreSQL's limit, so the names also work over
//! the PostgreSQL wire protocol).
//!
//! Each kind of name is its own type ([`DomainName`], [`ProductName`], [`PortName`],
//! [`SourceName`]), made only by `parse`, so a value of one is valid by construction and
//! code past the edge (the mesh loader, the CLI's arguments) never re-checks a string.
//! Ids ([`ContractId`], [`ProductId`]) are whatever string a document gives (the standards
//! do not constrain them); their types keep a contract id from being passed as a product
//! id or a port name.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Schema names the engine reserves for itself.
pub const RESERVED_DOMAINS: &[&str] = &["mesh_meta", "information_schema", "pg_catalog", "public"];

/// The folder in a domain that holds source contracts, so no product may take its name.
pub const SOURCES_DIR: &str = "sources";

pub const MAX_LEN: usize = 63;

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && s.len() <= MAX_LEN
}

/// Why `s` is not a valid name, if it is not; and a suggestion.
pub fn identifier_problem(s: &str) -> Option<(String, String)> {
    if is_identifier(s) {
        return None;
    }
    let suggestion: String = s
        .trim()
        .chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            'a'..='z' | '0'..='9' | '_' => c,
            _ => '_',
        })
        .collect();
    let suggestion = suggestion.trim_start_matches(|c: char| c.is_ascii_digit() || c == '_');
    let why = if s.is_empty() {
        "is empty".to_string()
    } else if s.len() > MAX_LEN {
        format!("is longer than {MAX_LEN} characters")
    } else {
        "is not a valid name: use lower-case letters, digits and _, starting with a letter"
            .to_string()
    };
    let help = if suggestion.is_empty() || suggestion == s {
        "for example `customers` or `web_events`".to_string()
    } else {
        format!("try `{}`", &suggestion[..suggestion.len().min(MAX_LEN)])
    };
    Some((why, help))
}

/// A string that is not a valid name, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    /// What the name was for, e.g. "domain name".
    pub what: &'static str,
    pub name: String,
    pub why: String,
    /// A corrected name or an example.
    pub help: String,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} `{}` {} ({})",
            self.what, self.name, self.why, self.help
        )
    }
}

impl std::error::Error for NameError {}

fn check_identifier(what: &'static str, s: &str) -> Result<(), NameError> {
    match identifier_problem(s) {
        None => Ok(()),
        Some((why, help)) => Err(NameError {
            what,
            name: s.to_string(),
            why,
            help,
        }),
    }
}

/// The methods and traits every string-backed name and id shares.
macro_rules! string_type {
    ($ty:ident) => {
        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// Maps keyed by the type can be searched with a `&str`.
        impl Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// A name that must be a plain SQL identifier (see the module docs).
macro_rules! identifier {
    ($(#[$doc:meta])* $ty:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $ty(String);

        impl $ty {
            pub fn parse(s: &str) -> Result<Self, NameError> {
                check_identifier($what, s)?;
                Ok($ty(s.to_string()))
            }

            /// A name written in Tessera's own code (e.g. the scaffold's `crm`); the tests
            /// that validate what the scaffold writes check it.
            #[allow(dead_code, reason = "not every kind of name is written as a literal")]
            pub(crate) fn literal(s: &'static str) -> Self {
                debug_assert!(is_identifier(s), "`{s}` is not a valid name");
                $ty(s.to_string())
            }
        }

        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                $ty::parse(s)
            }
        }

        string_type!($ty);
    };
}

identifier!(
    /// A domain: a folder under `domains/`, and the SQL schema its tables live in. Never
    /// one of [`RESERVED_DOMAINS`].
    DomainName,
    "domain name"
);
identifier!(
    /// A data product, unique within its domain: its folder under `domains/<domain>/`.
    /// Never [`SOURCES_DIR`].
    ProductName,
    "product name"
);
identifier!(
    /// An output port; with its domain, a table: `<domain>.<port>`.
    PortName,
    "port name"
);
identifier!(
    /// A source: `domains/<domain>/sources/<source>.odcs.yaml`, read as `<domain>.<source>`.
    SourceName,
    "source name"
);

impl DomainName {
    /// Like [`DomainName::parse`], and refuses the schema names the engine reserves.
    pub fn parse_for_new(s: &str) -> Result<Self, NameError> {
        let name = Self::parse(s)?;
        if RESERVED_DOMAINS.contains(&s) {
            return Err(NameError {
                what: "domain name",
                name: s.to_string(),
                why: "is reserved by the engine".to_string(),
                help: format!("the reserved names are {}", RESERVED_DOMAINS.join(", ")),
            });
        }
        Ok(name)
    }
}

/// A product's name is a valid port name: a product's first port is usually named like it.
impl From<&ProductName> for PortName {
    fn from(product: &ProductName) -> Self {
        PortName(product.0.clone())
    }
}

/// A product, named by its domain and its name: `crm/customers`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProductRef {
    pub domain: DomainName,
    pub product: ProductName,
}

impl ProductRef {
    /// Reads `<domain>/<product>` as a user types it (e.g. on the command line), refusing
    /// reserved names as well as malformed ones.
    pub fn parse(s: &str) -> Result<ProductRef, String> {
        let Some((domain, product)) = s.split_once('/') else {
            return Err(format!(
                "expected <domain>/<product>, e.g. crm/customers; got `{s}`"
            ));
        };
        let domain = DomainName::parse_for_new(domain).map_err(|e| e.to_string())?;
        let product = ProductName::parse(product).map_err(|e| e.to_string())?;
        if product == SOURCES_DIR {
            return Err(format!(
                "`{SOURCES_DIR}` is reserved for a domain's source contracts"
            ));
        }
        Ok(ProductRef { domain, product })
    }
}

impl fmt::Display for ProductRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.product)
    }
}

/// The `id` of an ODCS contract; input ports find their contract by it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContractId(String);

/// The `id` of an ODPS data product.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProductId(String);

impl ContractId {
    pub fn new(id: impl Into<String>) -> Self {
        ContractId(id.into())
    }
}

impl ProductId {
    pub fn new(id: impl Into<String>) -> Self {
        ProductId(id.into())
    }
}

string_type!(ContractId);
string_type!(ProductId);

impl From<&str> for ContractId {
    fn from(id: &str) -> Self {
        ContractId::new(id)
    }
}

impl From<&str> for ProductId {
    fn from(id: &str) -> Self {
        ProductId::new(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_lower_snake_case() {
        assert!(is_identifier("customer_360"));
        assert!(!is_identifier("Customer"));
        assert!(!is_identifier("360_customer"));
        assert!(!is_identifier("web-events"));
        assert!(!is_identifier(""));
        assert!(!is_identifier(&"a".repeat(64)));
        assert_eq!(
            identifier_problem("Web-Events").unwrap().1,
            "try `web_events`"
        );
    }

    #[test]
    fn names_are_made_only_from_valid_strings() {
        assert_eq!(DomainName::parse("crm").unwrap().as_str(), "crm");
        let err = PortName::parse("Web-Events").unwrap_err();
        assert_eq!(
            err.to_string(),
            "port name `Web-Events` is not a valid name: use lower-case letters, digits and _, starting with a letter (try `web_events`)"
        );
        assert!("".parse::<SourceName>().is_err());
        assert!(DomainName::parse("mesh_meta").is_ok());
        assert!(
            DomainName::parse_for_new("mesh_meta")
                .unwrap_err()
                .to_string()
                .contains("reserved by the engine")
        );
    }

    #[test]
    fn product_refs_read_domain_slash_product() {
        let r = ProductRef::parse("crm/customers").unwrap();
        assert_eq!(
            (r.domain.as_str(), r.product.as_str()),
            ("crm", "customers")
        );
        assert_eq!(r.to_string(), "crm/customers");
        assert!(
            ProductRef::parse("crm")
                .unwrap_err()
                .contains("expected <domain>/<product>")
        );
        assert!(
            ProductRef::parse("CRM/x")
                .unwrap_err()
                .contains("try `crm`")
        );
        assert!(
            ProductRef::parse("crm/sources")
                .unwrap_err()
                .contains("reserved")
        );
        assert!(
            ProductRef::parse("pg_catalog/x")
                .unwrap_err()
                .contains("reserved")
        );
    }

    #[test]
    fn maps_keyed_by_names_are_searched_with_str() {
        let mut m = std::collections::BTreeMap::new();
        m.insert(DomainName::parse("crm").unwrap(), 1);
        assert_eq!(m.get("crm"), Some(&1));
    }
}
