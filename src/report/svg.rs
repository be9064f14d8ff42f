//! The pipeline as an inline SVG drawn by cairn: actions in columns by
//! dependency depth (an action sits one column right of the deepest action
//! it needs), ordered within a column by where their needs are, edges as
//! curves from an action to those that need it.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::html::escape;

/// One node: its name, the actions it needs, and its CSS class and label.
pub struct Node<'a> {
    pub name: &'a str,
    pub needs: Vec<&'a str>,
    pub class: &'static str,
    pub label: String,
}

const CHAR_W: f64 = 7.4;
const NODE_H: f64 = 44.0;
const GAP_X: f64 = 56.0;
const GAP_Y: f64 = 18.0;
const PAD: f64 = 8.0;

/// Column of each node: 0 for those that need nothing in `nodes`.
fn depths<'a>(nodes: &[Node<'a>]) -> HashMap<&'a str, usize> {
    let index: HashMap<&str, &Node<'a>> = nodes.iter().map(|n| (n.name, n)).collect();
    let mut depth: HashMap<&str, usize> = HashMap::new();
    // Nodes come in dependency order, so each one's needs are done first.
    for n in nodes {
        let d = n
            .needs
            .iter()
            .filter(|m| index.contains_key(*m))
            .map(|m| depth.get(m).copied().unwrap_or(0) + 1)
            .max()
            .unwrap_or(0);
        depth.insert(n.name, d);
    }
    depth
}

/// The SVG for `nodes`, given in dependency order.
pub fn render(nodes: &[Node]) -> String {
    let depth = depths(nodes);
    let columns = depth.values().max().map_or(0, |d| d + 1);
    let mut layers: Vec<Vec<&Node>> = vec![Vec::new(); columns];
    for n in nodes {
        layers[depth[n.name]].push(n);
    }
    // Order each column by the mean row of its needs (barycentre), which
    // keeps edges short and mostly uncrossed.
    let mut row: HashMap<&str, f64> = HashMap::new();
    for layer in &mut layers {
        let key = |n: &Node| {
            let rows: Vec<f64> = n.needs.iter().filter_map(|m| row.get(m).copied()).collect();
            if rows.is_empty() {
                f64::MAX
            } else {
                rows.iter().sum::<f64>() / rows.len() as f64
            }
        };
        layer.sort_by(|a, b| key(a).total_cmp(&key(b)));
        for (i, n) in layer.iter().enumerate() {
            row.insert(n.name, i as f64);
        }
    }
    let width_of =
        |n: &Node| (n.name.len().max(n.label.len()) as f64 * CHAR_W + 2.0 * 12.0).max(110.0);
    let col_w: Vec<f64> = layers
        .iter()
        .map(|l| l.iter().map(|n| width_of(n)).fold(0.0, f64::max))
        .collect();
    let tallest = layers.iter().map(Vec::len).max().unwrap_or(0) as f64;
    let height = tallest * (NODE_H + GAP_Y) - GAP_Y + 2.0 * PAD;
    let mut pos: HashMap<&str, (f64, f64, f64)> = HashMap::new();
    let mut x = PAD;
    for (c, layer) in layers.iter().enumerate() {
        // Centre shorter columns vertically.
        let used = layer.len() as f64 * (NODE_H + GAP_Y) - GAP_Y;
        let top = PAD + (height - 2.0 * PAD - used) / 2.0;
        for (i, n) in layer.iter().enumerate() {
            pos.insert(n.name, (x, top + i as f64 * (NODE_H + GAP_Y), col_w[c]));
        }
        x += col_w[c] + GAP_X;
    }
    let width = (x - GAP_X + PAD).max(2.0 * PAD);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" role="img" aria-label="The pipeline: actions coloured by status">"#
    );
    out.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#6b7280"/></marker></defs>"##);
    for n in nodes {
        let (tx, ty, _) = pos[n.name];
        for m in &n.needs {
            let Some(&(fx, fy, fw)) = pos.get(m) else {
                continue;
            };
            let (x1, y1, x2, y2) = (fx + fw, fy + NODE_H / 2.0, tx, ty + NODE_H / 2.0);
            let mid = (x1 + x2) / 2.0;
            let _ = write!(
                out,
                r#"<path class="edge" d="M {x1:.1} {y1:.1} C {mid:.1} {y1:.1}, {mid:.1} {y2:.1}, {:.1} {y2:.1}" marker-end="url(#arrow)"/>"#,
                x2 - 1.0
            );
        }
    }
    for n in nodes {
        let (x, y, _) = pos[n.name];
        let w = width_of(n);
        let _ = write!(
            out,
            r##"<a href="#action-{id}"><g class="node {class}"><title>{name}: {label}</title><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{NODE_H}" rx="6"/><text x="{tx:.1}" y="{ny:.1}" class="name">{name}</text><text x="{tx:.1}" y="{ly:.1}" class="label">{label}</text></g></a>"##,
            id = escape(n.name),
            class = n.class,
            name = escape(n.name),
            label = escape(&n.label),
            tx = x + 12.0,
            ny = y + 19.0,
            ly = y + 35.0,
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node<'a>(name: &'a str, needs: &[&'a str]) -> Node<'a> {
        Node {
            name,
            needs: needs.to_vec(),
            class: "fresh",
            label: "succeeded".into(),
        }
    }

    #[test]
    fn columns_follow_dependency_depth() {
        let nodes = [
            node("a", &[]),
            node("b", &["a"]),
            node("c", &["a", "b"]),
            node("d", &[]),
        ];
        let d = depths(&nodes);
        assert_eq!((d["a"], d["b"], d["c"], d["d"]), (0, 1, 2, 0));
        let svg = render(&nodes);
        assert_eq!(svg.matches("<rect").count(), 4);
        assert_eq!(svg.matches(r#"class="edge""#).count(), 3);
        assert!(svg.contains(r##"href="#action-c""##));
    }
}
