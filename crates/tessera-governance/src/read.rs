//! Reading governance's YAML with locations: a small helper over the model's located tree,
//! so every problem names its file, line, column and field.

use tessera_model::yaml::{Node, NodeValue};
use tessera_model::{Diagnostic, Diagnostics};

/// A file being read: its name and where its problems go.
pub(crate) struct Reader<'d> {
    pub file: String,
    pub diags: &'d mut Diagnostics,
}

impl Reader<'_> {
    pub fn error(&mut self, node: Option<&Node>, path: &str, message: impl Into<String>) {
        self.diags.push(
            Diagnostic::error("invalid-value", self.file.clone(), message)
                .at_opt(node.map(|n| n.loc))
                .with_path(path.to_string()),
        );
    }

    pub fn error_help(
        &mut self,
        node: Option<&Node>,
        path: &str,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags.push(
            Diagnostic::error("invalid-value", self.file.clone(), message)
                .at_opt(node.map(|n| n.loc))
                .with_path(path.to_string())
                .with_help(help.into()),
        );
    }

    pub fn warning(&mut self, node: Option<&Node>, path: &str, message: impl Into<String>) {
        self.diags.push(
            Diagnostic::warning("governance", self.file.clone(), message)
                .at_opt(node.map(|n| n.loc))
                .with_path(path.to_string()),
        );
    }

    /// The entries of a mapping; an error (and nothing) when the node is something else.
    pub fn map<'n>(&mut self, node: &'n Node, path: &str) -> Vec<(&'n str, &'n Node)> {
        match &node.value {
            NodeValue::Map(entries) => entries.iter().map(|(k, v)| (k.name.as_str(), v)).collect(),
            NodeValue::Null => Vec::new(),
            _ => {
                self.error(
                    Some(node),
                    path,
                    format!("expected a mapping, got {}", node.kind()),
                );
                Vec::new()
            }
        }
    }

    /// Flags keys of a mapping that are not in `known`, suggesting the nearest.
    pub fn known_keys(&mut self, node: &Node, path: &str, known: &[&str]) {
        let Some(entries) = node.as_map() else { return };
        for (key, _) in entries {
            if !known.contains(&key.name.as_str()) {
                let help = suggest(&key.name, known.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| format!("known fields: {}", known.join(", ")));
                self.diags.push(
                    Diagnostic::error(
                        "unknown-field",
                        self.file.clone(),
                        format!("unknown field `{}`", key.name),
                    )
                    .at(key.loc)
                    .with_path(join(path, &key.name))
                    .with_help(help),
                );
            }
        }
    }

    pub fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            NodeValue::String(s) => Some(s.clone()),
            _ => {
                self.error(
                    Some(node),
                    path,
                    format!("expected a string, got {}", node.kind()),
                );
                None
            }
        }
    }

    /// A list of strings; a single string is read as a list of one.
    pub fn strings(&mut self, node: &Node, path: &str) -> Vec<String> {
        match &node.value {
            NodeValue::String(s) => vec![s.clone()],
            NodeValue::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, n)| self.string(n, &format!("{path}[{i}]")))
                .collect(),
            NodeValue::Null => Vec::new(),
            _ => {
                self.error(
                    Some(node),
                    path,
                    format!("expected a list of strings, got {}", node.kind()),
                );
                Vec::new()
            }
        }
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The nearest of `options` to `word`, if any is near enough to be a likely typo.
pub(crate) fn suggest<'a>(
    word: &str,
    options: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    options
        .into_iter()
        .map(|o| (strsim::jaro_winkler(word, o), o))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, o)| o)
}
