//! Full-text search over the catalog: a small in-memory inverted index, built once per
//! engine.
//!
//! Why not tantivy (listed in STACK.md): the catalog is metadata — thousands to tens of
//! thousands of products, each a few dozen short texts — rebuilt from the mesh whenever
//! the server loads a new engine. Held in memory as a term → postings map it answers in
//! microseconds; the ranking the catalog wants (by *which* field matched, in a fixed
//! order) is a dozen lines here and would be a custom scorer and a schema there; and
//! tantivy is among the slowest crates of the stack to build. Revisit if the index must
//! outgrow memory or needs stemming, fuzzy matching or phrase queries.
//!
//! ```text
//!  documents (one per product) ─▶ fields (name, title, port names, tags, columns,
//!                                   descriptions) ─▶ tokens (lowercase, split on
//!                                   anything not a letter or digit)
//!  term → postings (field, term frequency), names and descriptions apart
//!  sorted terms, for prefix matches on names
//!  whole values of product and port names, for exact matches of the whole query
//! ```
//!
//! Ranking, per query term and product: the best match among its names, tags and columns
//! (exact name > name prefix > tag > column name), plus its description words with a
//! term-frequency weight (capped, so that long descriptions do not outweigh names); then
//! summed over terms, with a bonus when the whole query is a product's or port's name.

use std::collections::HashMap;
use std::ops::Range;

use super::types::MatchField;

/// One searchable text of a document.
#[derive(Debug, Clone)]
pub(crate) struct FieldText {
    pub field: MatchField,
    /// The port the text belongs to, if any.
    pub port: Option<String>,
    /// The column the text belongs to, if any.
    pub column: Option<String>,
    pub text: String,
}

/// A document's fields. `exact` are extra whole values that count as the product's name
/// for an exact match of the whole query (its id), without being tokenised.
#[derive(Debug, Clone, Default)]
pub(crate) struct Document {
    pub fields: Vec<FieldText>,
    pub exact: Vec<String>,
}

/// What one term is worth in one document, computed when the index is built: the best
/// name-like field holding it as a word, the best holding a word it begins, and its
/// description words (term-frequency weighted, capped).
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    doc: u32,
    token: f32,
    prefix: f32,
    words: f32,
}

/// How a query term met a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// The whole query is the field's whole value.
    Whole,
    /// A query term is one of the field's words.
    Token,
    /// A query term begins one of the field's words.
    Prefix,
}

/// Weights encode the ranking order: exact name > name prefix > tag > column name >
/// description words.
fn weight(field: MatchField, how: How) -> f32 {
    use MatchField::*;
    match (field, how) {
        (ProductName | Title, How::Whole) => 100.0,
        (PortName, How::Whole) => 60.0,
        (ProductName | Title, How::Token) => 40.0,
        (PortName, How::Token) => 30.0,
        (ProductName | Title, How::Prefix) => 25.0,
        (Tag, How::Token | How::Whole) => 20.0,
        (PortName, How::Prefix) => 15.0,
        (ColumnName, How::Token | How::Whole) => 10.0,
        (Tag, How::Prefix) => 8.0,
        (ColumnName, How::Prefix) => 4.0,
        (Description | PortDescription | ColumnDescription, How::Token | How::Whole) => 2.0,
        (Description | PortDescription | ColumnDescription, How::Prefix) => 0.0,
    }
}

fn is_description(field: MatchField) -> bool {
    matches!(
        field,
        MatchField::Description | MatchField::PortDescription | MatchField::ColumnDescription
    )
}

/// Description words add at most this much per query term and product.
const DESCRIPTION_CAP: f32 = 6.0;
/// Prefixes shorter than this are not expanded (one letter would match half the index).
const MIN_PREFIX: usize = 2;
/// At most this many index terms are tried for one prefix.
const MAX_EXPANSIONS: usize = 128;
/// Words of a query used; the rest are ignored.
const MAX_QUERY_TERMS: usize = 12;

/// The words of a text: lowercase runs of letters and digits.
pub(crate) fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

/// A text compared as a whole: lowercase, words separated by one space.
fn normalise(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The index. Documents are numbered in the order given.
#[derive(Debug, Default)]
pub(crate) struct SearchIndex {
    fields: Vec<FieldText>,
    /// Each field's text in lowercase, to explain matches without allocating.
    lower: Vec<String>,
    doc_fields: Vec<Range<usize>>,
    /// Term → its entries, one per document holding it, by document.
    terms: HashMap<String, Vec<Entry>>,
    /// Every term that is a word of some name-like field, sorted, for prefix lookups.
    sorted: Vec<String>,
    /// A normalised whole product name, title, id or port name → the documents it names
    /// and how much that counts.
    whole: HashMap<String, Vec<(u32, f32)>>,
}

/// One reason a document matched.
#[derive(Debug, Clone)]
pub(crate) struct Matched<'a> {
    pub field: &'a FieldText,
    pub snippet: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Hit<'a> {
    pub doc: usize,
    pub score: f32,
    pub matches: Vec<Matched<'a>>,
}

impl SearchIndex {
    pub(crate) fn build(documents: Vec<Document>) -> SearchIndex {
        let mut index = SearchIndex::default();
        for (doc, document) in documents.into_iter().enumerate() {
            let doc = doc as u32;
            let start = index.fields.len();
            let mut whole: HashMap<String, f32> = HashMap::new();
            for exact in &document.exact {
                whole.insert(
                    normalise(exact),
                    weight(MatchField::ProductName, How::Whole),
                );
            }
            let mut entries: HashMap<String, Entry> = HashMap::new();
            for field in document.fields {
                if matches!(
                    field.field,
                    MatchField::ProductName | MatchField::Title | MatchField::PortName
                ) {
                    let w = whole.entry(normalise(&field.text)).or_default();
                    *w = w.max(weight(field.field, How::Whole));
                }
                let mut counts: HashMap<String, u32> = HashMap::new();
                for t in tokens(&field.text) {
                    *counts.entry(t).or_default() += 1;
                }
                for (term, tf) in counts {
                    let e = entries.entry(term).or_insert(Entry {
                        doc,
                        ..Entry::default()
                    });
                    if is_description(field.field) {
                        e.words += weight(field.field, How::Token) * (1.0 + (tf as f32).ln());
                    } else {
                        e.token = e.token.max(weight(field.field, How::Token));
                        e.prefix = e.prefix.max(weight(field.field, How::Prefix));
                    }
                }
                index.lower.push(field.text.to_lowercase());
                index.fields.push(field);
            }
            for (text, w) in whole {
                index.whole.entry(text).or_default().push((doc, w));
            }
            for (term, mut e) in entries {
                e.words = e.words.min(DESCRIPTION_CAP);
                index.terms.entry(term).or_default().push(e);
            }
            index.doc_fields.push(start..index.fields.len());
        }
        index.sorted = index
            .terms
            .iter()
            .filter(|(_, entries)| entries.iter().any(|e| e.prefix > 0.0))
            .map(|(term, _)| term.clone())
            .collect();
        index.sorted.sort_unstable();
        index
    }

    pub(crate) fn documents(&self) -> usize {
        self.doc_fields.len()
    }

    /// The best `limit` documents for `query` among those `allow` lets through, best
    /// first, and how many matched in all.
    pub(crate) fn search(
        &self,
        query: &str,
        limit: usize,
        allow: impl Fn(usize) -> bool,
    ) -> (usize, Vec<Hit<'_>>) {
        let n = self.documents();
        let mut terms: Vec<String> = Vec::new();
        for t in tokens(query) {
            if !terms.contains(&t) && terms.len() < MAX_QUERY_TERMS {
                terms.push(t);
            }
        }
        let mut score = vec![0f32; n];
        let mut scored: Vec<u32> = Vec::new();
        let mut add = |score: &mut Vec<f32>, doc: u32, w: f32| {
            if score[doc as usize] == 0.0 && w > 0.0 {
                scored.push(doc);
            }
            score[doc as usize] += w;
        };

        // The whole query as a product's or port's name.
        for (doc, w) in self.whole.get(&normalise(query)).into_iter().flatten() {
            add(&mut score, *doc, *w);
        }

        // Each term: its best name-like match (as a word, else as a prefix of one) plus
        // its description words.
        let mut names = vec![0f32; n];
        let mut words = vec![0f32; n];
        let mut touched: Vec<u32> = Vec::new();
        for term in &terms {
            if let Some(entries) = self.terms.get(term) {
                for e in entries {
                    touched.push(e.doc);
                    names[e.doc as usize] = e.token;
                    words[e.doc as usize] = e.words;
                }
            }
            if term.chars().count() >= MIN_PREFIX {
                for other in self.prefixed(term) {
                    for e in &self.terms[other] {
                        let b = &mut names[e.doc as usize];
                        if e.prefix > *b {
                            if *b == 0.0 && words[e.doc as usize] == 0.0 {
                                touched.push(e.doc);
                            }
                            *b = e.prefix;
                        }
                    }
                }
            }
            for doc in touched.drain(..) {
                let d = doc as usize;
                let w = std::mem::take(&mut names[d]) + std::mem::take(&mut words[d]);
                add(&mut score, doc, w);
            }
        }

        let mut ranked: Vec<(f32, u32)> = scored
            .into_iter()
            .filter(|d| score[*d as usize] > 0.0 && allow(*d as usize))
            .map(|d| (score[d as usize], d))
            .collect();
        let total = ranked.len();
        let order = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if limit > 0 && ranked.len() > limit {
            ranked.select_nth_unstable_by(limit - 1, order);
        }
        ranked.truncate(limit);
        ranked.sort_unstable_by(order);
        let hits = ranked
            .into_iter()
            .map(|(score, doc)| Hit {
                doc: doc as usize,
                score,
                matches: self.explain(doc as usize, query, &terms),
            })
            .collect();
        (total, hits)
    }

    /// Index terms that begin with `prefix` (not `prefix` itself), at most
    /// [`MAX_EXPANSIONS`].
    fn prefixed<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        let start = self.sorted.partition_point(|t| t.as_str() < prefix);
        self.sorted[start..]
            .iter()
            .take_while(move |t| t.starts_with(prefix))
            .filter(move |t| t.as_str() != prefix)
            .take(MAX_EXPANSIONS)
    }

    /// What matched in one document, best first: at most three fields.
    fn explain(&self, doc: usize, query: &str, terms: &[String]) -> Vec<Matched<'_>> {
        let whole = normalise(query);
        let mut found: Vec<(f32, usize, Option<&str>)> = Vec::new();
        for id in self.doc_fields[doc].clone() {
            let field = &self.fields[id];
            let lower = &self.lower[id];
            let mut w = 0f32;
            let mut first: Option<&str> = None;
            if !is_description(field.field) && lower.split_whitespace().eq(whole.split(' ')) {
                w = w.max(weight(field.field, How::Whole));
            }
            for token in lower.split(|c: char| !c.is_alphanumeric()) {
                for term in terms {
                    let how = if token == term {
                        How::Token
                    } else if term.chars().count() >= MIN_PREFIX
                        && token.starts_with(term.as_str())
                        && !is_description(field.field)
                    {
                        How::Prefix
                    } else {
                        continue;
                    };
                    let tw = weight(field.field, how);
                    if tw > 0.0 && first.is_none() {
                        first = Some(token);
                    }
                    w = w.max(tw);
                }
            }
            if w > 0.0 {
                found.push((w, id, first));
            }
        }
        found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        found
            .into_iter()
            .take(3)
            .map(|(_, id, word)| {
                let field = &self.fields[id];
                let snippet = match (is_description(field.field), word) {
                    (true, Some(word)) => snippet(&field.text, word),
                    _ => field.text.clone(),
                };
                Matched { field, snippet }
            })
            .collect()
    }
}

/// Characters of context on each side of a matched word in a long text.
const CONTEXT: usize = 60;

/// A window of `text` around the first occurrence of `word` (lowercase), with `…` where
/// it was cut.
fn snippet(text: &str, word: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 2 * CONTEXT {
        return text.to_string();
    }
    let lower: Vec<char> = chars
        .iter()
        .map(|c| c.to_lowercase().next().unwrap_or(*c))
        .collect();
    let word: Vec<char> = word.chars().collect();
    let at = lower
        .windows(word.len().max(1))
        .position(|w| w == word.as_slice())
        .unwrap_or(0);
    let start = at.saturating_sub(CONTEXT);
    let end = (at + word.len() + CONTEXT).min(chars.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(&chars[start..end]);
    if end < chars.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(fields: &[(MatchField, &str)]) -> Document {
        Document {
            fields: fields
                .iter()
                .map(|(field, text)| FieldText {
                    field: *field,
                    port: None,
                    column: None,
                    text: text.to_string(),
                })
                .collect(),
            exact: Vec::new(),
        }
    }

    fn ranked(index: &SearchIndex, q: &str) -> Vec<usize> {
        index
            .search(q, 10, |_| true)
            .1
            .iter()
            .map(|h| h.doc)
            .collect()
    }

    #[test]
    fn ranks_exact_name_then_prefix_tag_column_description() {
        use MatchField::*;
        let index = SearchIndex::build(vec![
            doc(&[
                (ProductName, "zeta"),
                (Description, "acme acme acme, acme everywhere"),
            ]),
            doc(&[(ProductName, "eta"), (ColumnName, "acme")]),
            doc(&[(ProductName, "theta"), (Tag, "acme")]),
            doc(&[(ProductName, "acmeplus")]),
            doc(&[(ProductName, "acme")]),
            doc(&[(ProductName, "unrelated"), (Description, "nothing here")]),
        ]);
        assert_eq!(ranked(&index, "acme"), vec![4, 3, 2, 1, 0]);
        assert_eq!(
            ranked(&index, "ACME"),
            vec![4, 3, 2, 1, 0],
            "case-insensitive"
        );
        let (total, hits) = index.search("acme", 2, |_| true);
        assert_eq!(total, 5);
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].matches[0].field.field, ProductName);
        assert_eq!(hits[1].matches[0].snippet, "acmeplus");
        // A filter leaves documents out of the hits and the total.
        let (total, hits) = index.search("acme", 10, |d| d % 2 == 0);
        assert_eq!(total, 3);
        assert_eq!(
            hits.iter().map(|h| h.doc).collect::<Vec<_>>(),
            vec![4, 2, 0]
        );
        assert!(index.search("zzz", 10, |_| true).1.is_empty());
    }

    #[test]
    fn more_words_matched_rank_higher_and_words_split_on_punctuation() {
        use MatchField::*;
        let index = SearchIndex::build(vec![
            doc(&[(ProductName, "orders"), (ColumnName, "amount")]),
            doc(&[(ProductName, "legacy_orders"), (ColumnName, "order_amount")]),
            doc(&[(ProductName, "revenue_by_country")]),
        ]);
        assert_eq!(ranked(&index, "orders amount"), vec![0, 1]);
        assert_eq!(ranked(&index, "country"), vec![2]);
        assert_eq!(ranked(&index, "revenue_by_country"), vec![2]);
        assert_eq!(ranked(&index, "legacy orders"), vec![1, 0]);
    }

    #[test]
    fn snippets_are_windows_around_the_word() {
        let text = format!("{} the needle is here {}", "a".repeat(200), "b".repeat(200));
        let s = snippet(&text, "needle");
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("the needle is here"), "{s}");
        assert!(s.chars().count() < 140, "{s}");
        assert_eq!(snippet("short text", "text"), "short text");
    }

    /// 10 000 products of 8 columns each: a query touching every product stays well under
    /// a millisecond in a release build (this debug-build bound is looser).
    #[test]
    fn answers_fast_at_ten_thousand_products() {
        use MatchField::*;
        let docs: Vec<Document> = (0..10_000)
            .map(|i| {
                let mut fields = vec![
                    (ProductName, format!("product_{i}")),
                    (
                        Description,
                        format!("Synthetic product number {i} for customers"),
                    ),
                    (Tag, format!("tag{}", i % 50)),
                    (PortName, format!("port_{i}")),
                ];
                for c in 0..8 {
                    fields.push((ColumnName, format!("customer_field_{c}")));
                    fields.push((ColumnDescription, format!("Field {c} of the customer")));
                }
                Document {
                    fields: fields
                        .into_iter()
                        .map(|(field, text)| FieldText {
                            field,
                            port: None,
                            column: None,
                            text,
                        })
                        .collect(),
                    exact: Vec::new(),
                }
            })
            .collect();
        let built = std::time::Instant::now();
        let index = SearchIndex::build(docs);
        eprintln!("built in {:?}", built.elapsed());
        let mut times = Vec::new();
        for q in [
            "customer",
            "product_4242",
            "tag7",
            "cust",
            "synthetic customers field",
        ] {
            let started = std::time::Instant::now();
            let (total, hits) = index.search(q, 20, |_| true);
            times.push(started.elapsed());
            assert!(total > 0 && !hits.is_empty(), "{q}");
        }
        assert_eq!(ranked(&index, "product_4242")[0], 4242);
        eprintln!("query times: {times:?}");
        let slowest = times.iter().max().unwrap();
        let bound = if cfg!(debug_assertions) { 100 } else { 1 };
        assert!(
            slowest.as_millis() < bound,
            "slowest query took {slowest:?}"
        );
    }
}
