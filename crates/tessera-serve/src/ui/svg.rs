//! Pictures drawn on the server as inline SVG: the lineage graph and the history of a
//! product's checks. No script draws anything, so they print, and load with the page.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::http::catalog::types::{LineageGraph, NodeKind};

/// Escapes text for SVG (XML) content and attribute values.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `text` cut to `max` characters, with an ellipsis.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}

const NODE_W: i32 = 176;
const NODE_H: i32 = 42;
const COL_GAP: i32 = 56;
const ROW_GAP: i32 = 14;
const PAD: i32 = 8;

/// Each node's column: the product asked about at 0, what it reads to the left, what
/// reads it to the right (edges go left to right, as data flows).
fn columns(graph: &LineageGraph) -> HashMap<&str, i32> {
    let mut col: HashMap<&str, i32> = HashMap::from([(graph.root.as_str(), 0)]);
    // Each pass places every node next to a placed neighbour; a connected graph of n
    // nodes needs at most n passes.
    for _ in 0..=graph.nodes.len() {
        let mut changed = false;
        for e in &graph.edges {
            match (col.get(e.from.as_str()), col.get(e.to.as_str())) {
                (Some(&f), None) => {
                    col.insert(&e.to, f + 1);
                    changed = true;
                }
                (None, Some(&t)) => {
                    col.insert(&e.from, t - 1);
                    changed = true;
                }
                _ => {}
            }
        }
        if !changed {
            break;
        }
    }
    col
}

/// The lineage graph as SVG: sources, products and ports as boxes in columns, reads and
/// publishes as arrows left to right. Products link to their pages.
pub(crate) fn lineage(graph: &LineageGraph) -> String {
    let col = columns(graph);
    let min = col.values().copied().min().unwrap_or(0);
    let mut rows: HashMap<i32, i32> = HashMap::new();
    let mut place: HashMap<&str, (i32, i32)> = HashMap::new();
    for n in &graph.nodes {
        let c = col.get(n.id.as_str()).copied().unwrap_or(0) - min;
        let r = rows.entry(c).or_insert(0);
        place.insert(&n.id, (c, *r));
        *r += 1;
    }
    let cols = rows.keys().copied().max().unwrap_or(0) + 1;
    let max_rows = rows.values().copied().max().unwrap_or(1);
    let width = PAD * 2 + cols * NODE_W + (cols - 1) * COL_GAP;
    let height = PAD * 2 + max_rows * NODE_H + (max_rows - 1) * ROW_GAP;
    let xy = |(c, r): (i32, i32)| (PAD + c * (NODE_W + COL_GAP), PAD + r * (NODE_H + ROW_GAP));
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="lineage" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-labelledby="lineage-title" xmlns="http://www.w3.org/2000/svg"><title id="lineage-title">Lineage: data flows left to right, from sources and upstream products to the products that read this one</title><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>"#
    );
    for e in &graph.edges {
        let (Some(&a), Some(&b)) = (place.get(e.from.as_str()), place.get(e.to.as_str())) else {
            continue;
        };
        let (ax, ay) = xy(a);
        let (bx, by) = xy(b);
        let (x1, y1) = (ax + NODE_W, ay + NODE_H / 2);
        let (x2, y2) = (bx - 2, by + NODE_H / 2);
        let mid = (x1 + x2) / 2;
        let pinned = e
            .pinned_version
            .map(|v| format!(" (pinned to v{v})"))
            .unwrap_or_default();
        let _ = write!(
            s,
            r#"<path class="edge" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" marker-end="url(#arrow)"><title>{}{}</title></path>"#,
            xml(e.input.as_deref().unwrap_or("publishes")),
            xml(&pinned)
        );
    }
    for n in &graph.nodes {
        let (x, y) = xy(place[n.id.as_str()]);
        let (kind, class) = match n.kind {
            NodeKind::Source => ("source", "node source"),
            NodeKind::Product if n.id == graph.root => ("this product", "node product root"),
            NodeKind::Product => ("product", "node product"),
            NodeKind::Port => ("port", "node port"),
        };
        let label = match n.kind {
            NodeKind::Product => format!("{}/{}", n.domain, n.name),
            _ => n.table.clone().unwrap_or_else(|| n.name.clone()),
        };
        let status = n
            .status
            .as_deref()
            .filter(|s| *s != "active")
            .map(|s| format!(" · {s}"))
            .unwrap_or_default();
        let group = format!(
            r#"<g class="{class}"><rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6"/><text x="{}" y="{}" class="kind">{}{}</text><text x="{}" y="{}" class="name">{}</text><title>{}</title></g>"#,
            x + 10,
            y + 15,
            kind,
            xml(&status),
            x + 10,
            y + 32,
            xml(&clip(&label, 24)),
            xml(&label)
        );
        if n.kind == NodeKind::Product && n.id != graph.root {
            let _ = write!(
                s,
                r#"<a href="/products/{}/{}">{group}</a>"#,
                xml(&n.domain),
                xml(&n.name)
            );
        } else {
            s.push_str(&group);
        }
    }
    s.push_str("</svg>");
    s
}

/// One run's checks, for the history chart.
pub(crate) struct RunChecks {
    pub label: String,
    pub passed: usize,
    pub failed: usize,
}

/// Stacked bars, oldest run left: checks passed (bottom) and failed (top) per run.
pub(crate) fn check_history(runs: &[RunChecks]) -> String {
    let (w, h, left, bottom, top) = (640, 170, 34, 26, 10);
    let max = runs
        .iter()
        .map(|r| r.passed + r.failed)
        .max()
        .unwrap_or(1)
        .max(1);
    let plot_h = h - bottom - top;
    let slot = (w - left - 8) / (runs.len().max(1) as i32);
    let bar = (slot - 6).clamp(4, 40);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="checks-title" xmlns="http://www.w3.org/2000/svg"><title id="checks-title">Checks passed and failed in the product's last {} runs, oldest first</title>"#,
        runs.len()
    );
    let _ = write!(
        s,
        r#"<line class="axis" x1="{left}" y1="{}" x2="{}" y2="{}"/><text class="tick" x="{}" y="{}" text-anchor="end">{max}</text><text class="tick" x="{}" y="{}" text-anchor="end">0</text>"#,
        h - bottom,
        w - 4,
        h - bottom,
        left - 6,
        top + 10,
        left - 6,
        h - bottom
    );
    for (i, r) in runs.iter().enumerate() {
        let x = left + 4 + i as i32 * slot + (slot - bar) / 2;
        let scale = |n: usize| (n as i32 * plot_h) / max as i32;
        let (ph, fh) = (scale(r.passed), scale(r.failed));
        let base = h - bottom;
        let tip = format!("{}: {} passed, {} failed", r.label, r.passed, r.failed);
        let _ = write!(
            s,
            r#"<g><title>{}</title><rect class="passed" x="{x}" y="{}" width="{bar}" height="{ph}"/><rect class="failed" x="{x}" y="{}" width="{bar}" height="{fh}"/></g>"#,
            xml(&tip),
            base - ph,
            base - ph - fh
        );
    }
    if let (Some(first), Some(last)) = (runs.first(), runs.last()) {
        let _ = write!(
            s,
            r#"<text class="tick" x="{}" y="{}">{}</text><text class="tick" x="{}" y="{}" text-anchor="end">{}</text>"#,
            left + 4,
            h - 8,
            xml(&first.label),
            w - 4,
            h - 8,
            xml(&last.label)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::catalog::types::{LineageEdge, LineageNode};

    fn node(id: &str, kind: NodeKind) -> LineageNode {
        LineageNode {
            id: id.into(),
            kind,
            domain: "d".into(),
            name: id.rsplit(['/', '.']).next().unwrap().into(),
            product: None,
            table: None,
            status: None,
            depth: 0,
        }
    }

    fn edge(from: &str, to: &str) -> LineageEdge {
        LineageEdge {
            from: from.into(),
            to: to.into(),
            input: None,
            pinned_version: None,
        }
    }

    #[test]
    fn upstream_goes_left_and_downstream_right() {
        let g = LineageGraph {
            root: "product:d/b".into(),
            direction: "both".into(),
            depth: 3,
            nodes: vec![
                node("product:d/b", NodeKind::Product),
                node("source:d.s", NodeKind::Source),
                node("port:d.b", NodeKind::Port),
                node("product:d/c", NodeKind::Product),
            ],
            edges: vec![
                edge("source:d.s", "product:d/b"),
                edge("product:d/b", "port:d.b"),
                edge("port:d.b", "product:d/c"),
            ],
        };
        let c = columns(&g);
        assert_eq!(c["source:d.s"], -1);
        assert_eq!(c["port:d.b"], 1);
        assert_eq!(c["product:d/c"], 2);
        let svg = lineage(&g);
        assert!(svg.contains(r#"href="/products/d/c""#), "{svg}");
        assert!(
            !svg.contains(r#"href="/products/d/b""#),
            "the root links nowhere"
        );
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(xml(r#"<a href="x">&"#), "&lt;a href=&quot;x&quot;&gt;&amp;");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
