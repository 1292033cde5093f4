//! Which products a command runs, in which order: the named products and everything
//! upstream of them, ordered so that each product comes after its inputs.

use std::collections::{BTreeMap, BTreeSet};

use tessera_model::mesh::{InputTarget, Product};
use tessera_model::{Mesh, ProductRef};

/// The products `wanted` needs (themselves and their upstream products), inputs first.
/// An empty `wanted` means every product. The mesh is known to be acyclic (load checks it).
pub fn order(mesh: &Mesh, wanted: &[ProductRef]) -> Vec<ProductRef> {
    let upstream: BTreeMap<ProductRef, Vec<ProductRef>> = mesh
        .products()
        .map(|p| (p.reference(), upstream_of(mesh, p)))
        .collect();
    let roots: Vec<ProductRef> = if wanted.is_empty() {
        upstream.keys().cloned().collect()
    } else {
        wanted.to_vec()
    };
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for r in roots {
        visit(&r, &upstream, &mut done, &mut out);
    }
    out
}

fn visit(
    p: &ProductRef,
    upstream: &BTreeMap<ProductRef, Vec<ProductRef>>,
    done: &mut BTreeSet<ProductRef>,
    out: &mut Vec<ProductRef>,
) {
    if !done.insert(p.clone()) {
        return;
    }
    for u in upstream.get(p).into_iter().flatten() {
        visit(u, upstream, done, out);
    }
    out.push(p.clone());
}

/// The products whose output ports `product` reads.
pub fn upstream_of(mesh: &Mesh, product: &Product) -> Vec<ProductRef> {
    let mut out: Vec<ProductRef> = mesh
        .inputs_of(product)
        .into_iter()
        .filter_map(|(_, t)| match t {
            InputTarget::Port(p, _) => Some(p),
            InputTarget::Source(..) => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}
