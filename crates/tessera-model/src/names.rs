//! Names that become SQL identifiers: domains, products, ports, sources, columns.
//!
//! A domain and a port together name a table (`crm.customers`), so both must be plain SQL
//! identifiers that need no quoting: lower-case letters, digits and underscores, starting
//! with a letter, at most 63 characters (PostgreSQL's limit, so the names also work over
//! the PostgreSQL wire protocol).

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
}
