//! Matching erased subjects in data: the `tessera_erased` scalar function, and the filter
//! every build puts on its inputs.
//!
//! ```text
//!  build input (source or port) with subject-key columns of kind k, register holds k
//!    ─▶ SELECT * FROM input WHERE NOT tessera_erased(col₁) AND NOT tessera_erased(col₂) …
//! ```
//!
//! The function is true when a value's text is an erased key. It matches either one key
//! given in clear (an erasure in progress: a string comparison, and the key stays in
//! memory only) or a set of keyed hashes (the register: one HMAC per distinct value of a
//! batch). NULL is never erased. Its name, not the key, is what a plan or a Delta log
//! shows.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::{SessionContext, ident};
use tessera_governance::keyed;
use tessera_model::mesh::{InputTarget, Product};

use crate::{Engine, EngineError, Result};

/// What `tessera_erased` matches.
#[derive(Clone)]
pub enum Matcher {
    /// One key, in clear (held in memory for the length of an erasure).
    Key(String),
    /// Keyed hashes of `<kind>\n<key>` (the register), with the key they were made with.
    Hashes {
        register_key: Arc<[u8]>,
        kind: String,
        hashes: Arc<HashSet<[u8; 32]>>,
    },
}

impl Matcher {
    fn matches(&self, text: &str) -> bool {
        match self {
            Matcher::Key(k) => k == text,
            Matcher::Hashes {
                register_key,
                kind,
                hashes,
            } => hashes.contains(&keyed::hmac(
                register_key,
                format!("{kind}\n{text}").as_bytes(),
            )),
        }
    }
}

/// The scalar function `tessera_erased(column) -> boolean`.
pub fn udf(matcher: Matcher) -> ScalarUDF {
    ScalarUDF::new_from_impl(ErasedFn {
        matcher,
        signature: Signature::any(1, Volatility::Immutable),
    })
}

/// `NOT tessera_erased(c₁) AND NOT tessera_erased(c₂) …`: the rows to keep.
pub fn keep(matcher: &Matcher, columns: &[String]) -> Option<Expr> {
    let f = udf(matcher.clone());
    columns
        .iter()
        .map(|c| Expr::Not(Box::new(f.call(vec![ident(c)]))))
        .reduce(Expr::and)
}

/// `tessera_erased(c₁) OR tessera_erased(c₂) …`: the rows to delete.
pub fn matching(matcher: &Matcher, columns: &[String]) -> Option<Expr> {
    let f = udf(matcher.clone());
    columns
        .iter()
        .map(|c| f.call(vec![ident(c)]))
        .reduce(Expr::or)
}

struct ErasedFn {
    matcher: Matcher,
    signature: Signature,
}

impl std::fmt::Debug for ErasedFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("ErasedFn").finish_non_exhaustive()
    }
}

impl PartialEq for ErasedFn {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}
impl Eq for ErasedFn {}
impl Hash for ErasedFn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "tessera_erased".hash(state);
    }
}

impl ScalarUDFImpl for ErasedFn {
    fn name(&self) -> &str {
        "tessera_erased"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let input = args.args[0].to_array(args.number_rows)?;
        Ok(ColumnarValue::Array(Arc::new(self.apply(&input)?)))
    }
}

impl ErasedFn {
    fn apply(&self, input: &ArrayRef) -> DfResult<BooleanArray> {
        if let Matcher::Key(key) = &self.matcher
            && let Some(out) = key_equals(input, key)?
        {
            return Ok(out);
        }
        let text = cast(input, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        // One hash per distinct value of the batch: keys repeat (events per customer).
        let mut seen: HashMap<&str, bool> = HashMap::new();
        Ok(text
            .iter()
            .map(|v| {
                Some(match v {
                    None => false,
                    Some(v) => *seen.entry(v).or_insert_with(|| self.matcher.matches(v)),
                })
            })
            .collect())
    }
}

/// One key in clear against an integer or text column, vectorised (an erasure's DELETE
/// scans every row of a port); `None` for other types, which go through their text.
fn key_equals(input: &ArrayRef, key: &str) -> DfResult<Option<BooleanArray>> {
    use datafusion::arrow::array::{Array as _, Int64Array, StringArray};
    use datafusion::arrow::compute::kernels::cmp::eq;
    use datafusion::arrow::compute::prep_null_mask_filter;
    let t = input.data_type();
    let matched = if t.is_integer() {
        let Ok(k) = key.parse::<i64>() else {
            // Not a number: no integer equals it.
            return Ok(Some(BooleanArray::from(vec![false; input.len()])));
        };
        let ints = cast(input, &DataType::Int64)?;
        eq(&ints, &Int64Array::new_scalar(k))?
    } else if matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
        let text = cast(input, &DataType::Utf8)?;
        eq(&text, &StringArray::new_scalar(key))?
    } else {
        return Ok(None);
    };
    // NULL is never erased.
    Ok(Some(if matched.nulls().is_some() {
        prep_null_mask_filter(&matched)
    } else {
        matched
    }))
}

/// The register as builds apply it: per kind, the erased subjects' hashes.
#[derive(Clone)]
pub struct Erased {
    register_key: Arc<[u8]>,
    by_kind: HashMap<String, Arc<HashSet<[u8; 32]>>>,
}

impl Erased {
    pub fn matcher(&self, kind: &str) -> Option<Matcher> {
        Some(Matcher::Hashes {
            register_key: self.register_key.clone(),
            kind: kind.to_string(),
            hashes: self.by_kind.get(kind)?.clone(),
        })
    }
    pub fn is_empty(&self) -> bool {
        self.by_kind.is_empty()
    }
}

/// The erasure register of `catalog`, or `None` when it is empty (then the mesh secret
/// is not read).
pub async fn load_erased(
    catalog: &dyn tessera_catalog::CatalogStore,
    mesh_dir: &std::path::Path,
) -> Result<Option<Erased>> {
    let entries = catalog.erasure_register().await?;
    if entries.is_empty() {
        return Ok(None);
    }
    let secret = crate::secret::load(mesh_dir)?;
    let mut by_kind: HashMap<String, HashSet<[u8; 32]>> = HashMap::new();
    for e in entries {
        let mut h = [0u8; 32];
        hex::decode_to_slice(&e.key_hash, &mut h).map_err(|_| {
            EngineError::Invalid(format!(
                "the erasure register holds a malformed hash (erasure {})",
                e.erasure_id
            ))
        })?;
        by_kind.entry(e.subject_kind).or_default().insert(h);
    }
    Ok(Some(Erased {
        register_key: super::register_key(&secret).into(),
        by_kind: by_kind.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
    }))
}

/// Time travel to a version from before an erasure must not show the erased subject: a
/// port opened at an older version is read through the register's filter, until vacuum
/// removes the old files.
pub(crate) struct ErasureGuard {
    catalog: Arc<dyn tessera_catalog::CatalogStore>,
    mesh_dir: std::path::PathBuf,
    /// `(kind, columns)` of the port's subject-key columns.
    columns: Vec<(String, Vec<String>)>,
}

impl std::fmt::Debug for ErasureGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErasureGuard")
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl ErasureGuard {
    /// `None` for a port without subject-key columns.
    pub(crate) fn new(
        engine: &Engine,
        contract: &tessera_model::Contract,
        port: &str,
    ) -> Option<ErasureGuard> {
        let columns: Vec<(String, Vec<String>)> = super::subject_kinds_of(contract, port)
            .into_iter()
            .map(|k| {
                let c = super::subject_columns(contract, port, &k);
                (k, c)
            })
            .collect();
        (!columns.is_empty()).then(|| ErasureGuard {
            catalog: engine.catalog.clone(),
            mesh_dir: engine.mesh_dir.clone(),
            columns,
        })
    }

    /// `provider` without the erased subjects' rows (itself when none is erased).
    pub(crate) async fn filter(
        &self,
        provider: Arc<dyn datafusion::catalog::TableProvider>,
    ) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
        let Some(erased) = load_erased(self.catalog.as_ref(), &self.mesh_dir).await? else {
            return Ok(provider);
        };
        let schema = provider.schema();
        let mut predicate: Option<Expr> = None;
        for (kind, columns) in &self.columns {
            let Some(matcher) = erased.matcher(kind) else {
                continue;
            };
            let columns: Vec<String> = columns
                .iter()
                .filter(|c| schema.field_with_name(c).is_ok())
                .cloned()
                .collect();
            if let Some(k) = keep(&matcher, &columns) {
                predicate = Some(match predicate {
                    Some(p) => p.and(k),
                    None => k,
                });
            }
        }
        let Some(predicate) = predicate else {
            return Ok(provider);
        };
        Ok(SessionContext::new()
            .read_table(provider)
            .and_then(|df| df.filter(predicate))
            .map_err(EngineError::internal)?
            .into_view())
    }
}

impl Engine {
    /// The erasure register, or `None` when it is empty (then the mesh secret is not read).
    pub async fn erased(&self) -> Result<Option<Erased>> {
        load_erased(self.catalog.as_ref(), &self.mesh_dir).await
    }

    /// Puts the register's filter on every input of `product` registered in `ctx` that has
    /// subject-key columns of an erased kind: the input is replaced by a view without the
    /// erased subjects' rows (under the same name, so the session still holds exactly the
    /// product's inputs).
    pub(crate) async fn filter_erased_inputs(
        &self,
        ctx: &SessionContext,
        product: &Product,
        erased: &Erased,
    ) -> Result<()> {
        for (_, target) in self.mesh.inputs_of(product) {
            let (contract, object) = match &target {
                InputTarget::Source(d, s) => {
                    let source = &self.mesh.domains[d].sources[s];
                    let object = source
                        .contract
                        .objects
                        .first()
                        .map(|o| o.name.clone())
                        .unwrap_or_default();
                    (&source.contract, object)
                }
                InputTarget::Port(p, port) => {
                    let Some(contract) = self
                        .mesh
                        .domains
                        .get(&p.domain)
                        .and_then(|d| d.products.get(&p.product))
                        .and_then(|pr| pr.ports.iter().find(|x| &x.name == port))
                        .and_then(|x| x.contract.as_ref())
                    else {
                        continue;
                    };
                    (contract, port.to_string())
                }
            };
            let table = target.table();
            let provider = ctx
                .table_provider(table.as_str())
                .await
                .map_err(EngineError::internal)?;
            let schema = provider.schema();
            let mut predicate: Option<Expr> = None;
            for kind in super::subject_kinds_of(contract, &object) {
                let Some(matcher) = erased.matcher(&kind) else {
                    continue;
                };
                let columns: Vec<String> = super::subject_columns(contract, &object, &kind)
                    .into_iter()
                    .filter(|c| schema.field_with_name(c).is_ok())
                    .collect();
                if let Some(k) = keep(&matcher, &columns) {
                    predicate = Some(match predicate {
                        Some(p) => p.and(k),
                        None => k,
                    });
                }
            }
            let Some(predicate) = predicate else { continue };
            let view = ctx
                .read_table(provider)
                .and_then(|df| df.filter(predicate))
                .map_err(EngineError::internal)?
                .into_view();
            ctx.deregister_table(table.as_str())
                .map_err(EngineError::internal)?;
            ctx.register_table(table.as_str(), view)
                .map_err(EngineError::internal)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, StringArray};

    fn run(m: Matcher, input: ArrayRef) -> Vec<bool> {
        let f = ErasedFn {
            matcher: m,
            signature: Signature::any(1, Volatility::Immutable),
        };
        f.apply(&input)
            .unwrap()
            .iter()
            .map(|v| v.unwrap())
            .collect()
    }

    #[test]
    fn a_key_matches_integers_and_text_by_its_text_and_never_null() {
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![Some(4711), None, Some(47110)]));
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("4711"), None, Some(" 4711")]));
        let key = || Matcher::Key("4711".into());
        assert_eq!(run(key(), ints.clone()), [true, false, false]);
        assert_eq!(run(key(), text.clone()), [true, false, false]);
        assert_eq!(
            run(Matcher::Key("x".into()), ints.clone()),
            [false, false, false]
        );
        let no_nulls: ArrayRef = Arc::new(Int32Array::from(vec![4711, 1]));
        assert_eq!(run(key(), no_nulls), [true, false]);
        // The register's hashes match the same values, without the key.
        let register_key: Arc<[u8]> = super::super::register_key(b"a mesh secret").into();
        let mut hashes = HashSet::new();
        hashes.insert(keyed::hmac(&register_key, b"customer\n4711"));
        let hashed = || Matcher::Hashes {
            register_key: register_key.clone(),
            kind: "customer".into(),
            hashes: Arc::new(hashes.clone()),
        };
        assert_eq!(run(hashed(), ints), [true, false, false]);
        assert_eq!(run(hashed(), text), [true, false, false]);
        assert_eq!(
            super::super::key_hash(&register_key, "customer", "4711"),
            hex::encode(keyed::hmac(&register_key, b"customer\n4711"))
        );
    }
}
