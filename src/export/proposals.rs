//! A proposed batch as files: `proposals.csv` and `proposals.json` (per target mean and
//! epistemic std, acquisition, objective, nearest logged run and its distance, share per axis
//! value, weights) and one recipe per proposal, `recipes/proposal-NN.{json,yaml}`.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::{Recipe, TargetPrediction};
use crate::proposer::{Batch, Proposal};
use crate::runs::Schema;
use crate::space::reuse::Reuse;

/// The name of the proposal ranked `rank` (0-based): `proposal-01`, ...
pub fn proposal_name(rank: usize) -> String {
    format!("proposal-{:02}", rank + 1)
}

/// Labels of the batch's proposals and of the runs they were compared with.
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    /// Keys of the runs told to the proposer, `[runs]` (for the nearest run).
    pub runs: &'a [String],
    /// Keys of the pool's rows by row index, in pool mode (at least those proposed).
    pub pool: &'a HashMap<usize, String>,
}

/// The files of `batch` over `schema`'s space and targets: (relative path, contents). With a
/// mixture `reuse` (whose reduced space is `schema`'s), recipes are over the full space and
/// each proposal in `proposals.json` also has its `full_weights`.
pub fn proposal_files(
    batch: &Batch,
    schema: &Schema,
    keys: Keys<'_>,
    reuse: Option<&Reuse>,
) -> Vec<(String, Vec<u8>)> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut write = |row: &[String]| {
        csv.write_record(row)
            .expect("writing CSV to memory cannot fail");
    };
    write(&csv_header(schema));
    let mut rows_json = Vec::new();
    let mut files = Vec::new();
    for (rank, p) in batch.proposals.iter().enumerate() {
        let (row, mut json, mut recipe) = describe(rank, p, schema, keys);
        write(&row);
        if let Some(reuse) = reuse {
            let full = reuse.expand(&p.weights);
            let predicted = std::mem::take(&mut recipe.predicted);
            recipe = Recipe::new(&recipe.name, &reuse.full, &full);
            recipe.predicted = predicted;
            let map: Map<_, _> = (reuse.full.names().into_iter().zip(full))
                .map(|(d, x)| (d, json!(x)))
                .collect();
            json["full_weights"] = Value::Object(map);
        }
        rows_json.push(json);
        let name = proposal_name(rank);
        files.push((
            format!("recipes/{name}.json"),
            recipe.to_json().into_bytes(),
        ));
        files.push((
            format!("recipes/{name}.yaml"),
            recipe.to_yaml().into_bytes(),
        ));
    }
    let doc = json!({
        "space": schema.space.name,
        "acquisition": batch.acquisition,
        "objective": batch.objective,
        "proposals": rows_json,
    });
    let json = serde_json::to_string_pretty(&doc).expect("the document is plain data") + "\n";
    files.push(("proposals.json".into(), json.into_bytes()));
    let csv = csv.into_inner().expect("an in-memory CSV writer flushes");
    files.push(("proposals.csv".into(), csv));
    files
}

/// Columns of proposals.csv.
fn csv_header(schema: &Schema) -> Vec<String> {
    let space = &schema.space;
    let mut header: Vec<String> = [
        "rank",
        "name",
        "pool_key",
        "acquisition",
        "objective",
        "objective_epistemic_std",
        "nearest_run",
        "nearest_run_distance",
    ]
    .map(String::from)
    .to_vec();
    for t in schema.target_names() {
        header.push(format!("{t}_mean"));
        header.push(format!("{t}_epistemic_std"));
    }
    for axis in space.axes() {
        for v in space.axis_values(&axis) {
            header.push(format!("share:{axis}={v}"));
        }
    }
    header.extend(space.names());
    header
}

/// Proposal `p` ranked `rank`: its CSV row, its proposals.json entry and its recipe.
fn describe(
    rank: usize,
    p: &Proposal,
    schema: &Schema,
    keys: Keys<'_>,
) -> (Vec<String>, Value, Recipe) {
    let space = &schema.space;
    let name = proposal_name(rank);
    let w = &p.weights;
    let pool_key = p.pool_row.and_then(|r| keys.pool.get(&r).cloned());
    let nearest = p.nearest.map(|(k, d)| {
        let key = keys.runs.get(k).cloned().unwrap_or_else(|| k.to_string());
        (key, d)
    });
    let mut row = vec![
        (rank + 1).to_string(),
        name.clone(),
        pool_key.clone().unwrap_or_default(),
        p.acquisition.to_string(),
        p.objective.to_string(),
        p.objective_std.to_string(),
        nearest.as_ref().map_or(String::new(), |n| n.0.clone()),
        nearest.as_ref().map_or(String::new(), |n| n.1.to_string()),
    ];
    let mut target_json = Map::new();
    let mut recipe = Recipe::new(&name, space, w);
    for (t, &(mean, sd)) in schema.target_names().iter().zip(&p.targets) {
        row.push(mean.to_string());
        row.push(sd.to_string());
        target_json.insert(t.clone(), json!({"mean": mean, "epistemic_std": sd}));
        let prediction = TargetPrediction {
            mean,
            epistemic_std: sd,
        };
        recipe.predicted.insert(t.clone(), prediction);
    }
    let mut shares_json = Map::new();
    for axis in space.axes() {
        let shares = space.axis_shares(&axis, w);
        row.extend(shares.iter().map(|(_, s)| s.to_string()));
        let shares = shares.into_iter().map(|(v, s)| (v, json!(s))).collect();
        shares_json.insert(axis, Value::Object(shares));
    }
    row.extend(w.iter().map(|x| x.to_string()));
    let weights: Map<_, _> = (space.names().into_iter().zip(w))
        .map(|(d, x)| (d, json!(x)))
        .collect();
    let json = json!({
        "rank": rank + 1,
        "name": name,
        "pool_key": pool_key,
        "acquisition": p.acquisition,
        "objective": p.objective,
        "objective_epistemic_std": p.objective_std,
        "nearest_run": nearest.as_ref().map(|n| &n.0),
        "nearest_run_distance": nearest.as_ref().map(|n| n.1),
        "targets": target_json,
        "shares": shares_json,
        "weights": weights,
    });
    (row, json, recipe)
}

/// The `k` targets whose epistemic std `(mean, std)` is largest relative to their `spread`
/// over the training runs: `name ± std (r of its spread)`, largest first.
pub fn most_uncertain(
    names: &[String],
    predicted: &[(f64, f64)],
    spread: &[f64],
    k: usize,
) -> String {
    let relative = |t: usize| predicted[t].1 / spread[t].max(1e-300);
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| relative(b).total_cmp(&relative(a)));
    (order.iter().take(k))
        .map(|&t| {
            format!(
                "{} ± {:.4} ({:.2} of its spread)",
                names[t],
                predicted[t].1,
                relative(t)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The top `n` domains of `w` by weight, `name 0.123, ...`, for summaries.
pub fn top_domains(names: &[String], w: &[f64], n: usize) -> String {
    let mut order: Vec<usize> = (0..w.len()).collect();
    order.sort_by(|&a, &b| w[b].total_cmp(&w[a]));
    order
        .iter()
        .take(n)
        .map(|&i| format!("{} {:.3}", names[i], w[i]))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_uncertain_targets_are_ranked_by_std_over_their_spread() {
        let names = ["a", "b", "c", "d"].map(String::from);
        // b has the largest std, but d's std is the largest share of its spread.
        let predicted = [(1.0, 0.1), (5.0, 2.0), (0.0, 0.05), (3.0, 0.3)];
        let spread = [1.0, 10.0, 1.0, 0.5];
        let said = most_uncertain(&names, &predicted, &spread, 2);
        assert_eq!(
            said,
            "d ± 0.3000 (0.60 of its spread), b ± 2.0000 (0.20 of its spread)"
        );
    }
}
