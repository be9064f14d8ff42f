//! Cycles in `needs`. The reference accepts them and then recurses forever when planning;
//! cairn names the actions on each cycle. Tarjan's algorithm with an explicit stack:
//! linear, and no recursion however long a chain of needs is.

use std::collections::{HashMap, HashSet, VecDeque};

use super::action::Draft;
use crate::project::Diagnostic;

/// One error per cycle (strongly connected group of actions), naming a path around it.
pub fn find(drafts: &[Draft]) -> Vec<Diagnostic> {
    let index_of: HashMap<&str, usize> = drafts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name.as_str(), i))
        .collect();
    // Edges from an action to what it needs; needs on unknown or invalid actions are
    // reported elsewhere (or not at all) and cannot be on a cycle here.
    let edges: Vec<Vec<usize>> = drafts
        .iter()
        .map(|d| {
            let mut out: Vec<usize> = Vec::new();
            for (need, _) in &d.needs {
                if let Some(&j) = index_of.get(need.as_str())
                    && !out.contains(&j)
                {
                    out.push(j);
                }
            }
            out
        })
        .collect();
    strongly_connected(&edges)
        .into_iter()
        .filter(|group| group.len() > 1 || edges[group[0]].contains(&group[0]))
        .map(|group| describe(drafts, &edges, &group))
        .collect()
}

fn describe(drafts: &[Draft], edges: &[Vec<usize>], group: &[usize]) -> Diagnostic {
    let start = *group.iter().min().expect("groups are not empty");
    let members: HashSet<usize> = group.iter().copied().collect();
    let path = path_back_to(start, edges, &members);
    let names: Vec<&str> = path.iter().map(|&i| drafts[i].name.as_str()).collect();
    let first_step = &drafts[path[1]].name;
    let at = drafts[start]
        .needs
        .iter()
        .find(|(n, _)| n == first_step)
        .map_or(drafts[start].location, |(_, at)| *at);
    Diagnostic::at(
        format!(
            "`needs` of action {} makes a cycle: {} (an action cannot need itself, directly \
             or through other actions)",
            drafts[start].name,
            names.join(" -> ")
        ),
        at,
    )
}

/// The shortest path `start -> … -> start` within `group` (breadth first).
fn path_back_to(start: usize, edges: &[Vec<usize>], group: &HashSet<usize>) -> Vec<usize> {
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in &edges[v] {
            if w == start {
                let mut path = vec![start, v];
                let mut at = v;
                while at != start {
                    at = parent[&at];
                    path.push(at);
                }
                path.reverse();
                return path;
            }
            if group.contains(&w) && !parent.contains_key(&w) {
                parent.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    unreachable!("every member of a strongly connected group reaches the others")
}

/// Tarjan's strongly connected components, iteratively.
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut index: Vec<Option<usize>> = vec![None; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut groups = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root].is_some() {
            continue;
        }
        let mut calls: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = Some(next);
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut edge)) = calls.last_mut() {
            if let Some(&w) = edges[v].get(*edge) {
                *edge += 1;
                match index[w] {
                    None => {
                        index[w] = Some(next);
                        low[w] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        calls.push((w, 0));
                    }
                    Some(iw) if on_stack[w] => low[v] = low[v].min(iw),
                    Some(_) => {}
                }
                continue;
            }
            calls.pop();
            if let Some(&(u, _)) = calls.last() {
                low[u] = low[u].min(low[v]);
            }
            if Some(low[v]) == index[v] {
                let mut group = Vec::new();
                loop {
                    let w = stack.pop().expect("v is on the stack");
                    on_stack[w] = false;
                    group.push(w);
                    if w == v {
                        break;
                    }
                }
                groups.push(group);
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
        let mut g: Vec<Vec<usize>> = strongly_connected(edges)
            .into_iter()
            .map(|mut g| {
                g.sort();
                g
            })
            .collect();
        g.sort();
        g
    }

    #[test]
    fn finds_strongly_connected_groups() {
        assert_eq!(groups(&[vec![1], vec![0]]), vec![vec![0, 1]]);
        assert_eq!(groups(&[vec![0]]), vec![vec![0]]);
        assert_eq!(
            groups(&[vec![1], vec![2], vec![], vec![3]]),
            vec![vec![0], vec![1], vec![2], vec![3]]
        );
        assert_eq!(
            groups(&[vec![1], vec![2], vec![0, 3], vec![4], vec![3]]),
            vec![vec![0, 1, 2], vec![3, 4]]
        );
    }

    #[test]
    fn long_chains_do_not_recurse() {
        let n = 200_000;
        let mut edges: Vec<Vec<usize>> = (0..n).map(|i| vec![i + 1]).collect();
        edges[n - 1] = vec![0];
        assert_eq!(strongly_connected(&edges).len(), 1);
        let all = HashSet::from([0, 1, 2]);
        assert_eq!(
            path_back_to(0, &[vec![1], vec![2], vec![0]], &all),
            [0, 1, 2, 0]
        );
    }
}
