//! A designed first round as files: `swarm.csv` (a mixture file mixatlas and RegMix-style
//! trainers read: `run` then one column per domain) and `recipes/run-NNNN.json`.

use super::Recipe;
use crate::space::Space;

/// The files of `runs` (`[n][domains]`, weights written with `decimals` places): (relative
/// path, contents).
pub fn swarm_files(space: &Space, runs: &[Vec<f64>], decimals: u32) -> Vec<(String, Vec<u8>)> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["run".to_owned()];
    header.extend(space.columns());
    csv.write_record(&header)
        .expect("writing CSV to memory cannot fail");
    let mut files = Vec::new();
    let precision = decimals as usize;
    for (i, w) in runs.iter().enumerate() {
        let name = format!("run-{i:04}");
        let mut row = vec![name.clone()];
        row.extend(w.iter().map(|x| format!("{x:.precision$}")));
        csv.write_record(&row)
            .expect("writing CSV to memory cannot fail");
        let recipe = Recipe::new(&name, space, w).to_json().into_bytes();
        files.push((format!("recipes/{name}.json"), recipe));
    }
    let csv = csv.into_inner().expect("an in-memory CSV writer flushes");
    files.push(("swarm.csv".into(), csv));
    files
}
