//! Mixture reuse (Olmix): when new domains arrive, freeze an earlier search's sub-mixture as
//! one *virtual* domain with fixed inner proportions, search only over it and the new
//! domains, then expand every result back to the real domains.
//!
//! A reuse file (TOML; paths relative to it):
//!
//! ```toml
//! space = "full-space.toml"     # every real domain, old and new
//! tolerance = 0.02              # logged runs reused if their inner mix is this close (TV)
//!
//! [[virtual]]
//! name = "web"                  # the virtual domain
//! weights = { cc_news = 0.6, wiki = 0.3, books = 0.1 }   # frozen inner proportions
//!
//! [[virtual]]
//! name = "code"
//! recipe = "earlier/proposal-01.json"   # inner proportions from an earlier recipe ...
//! domains = ["python", "rust"]          # ... over these of its domains (default: its positive ones)
//! ```
//!
//! The reduced space keeps every other domain in place and puts each virtual domain where its
//! first member was (its token count is the members' sum when all are known). A logged run
//! of the full space is *consistent* with a virtual domain when that domain's members carry
//! no weight or their proportions are within `tolerance` (total variation) of the frozen ones;
//! consistent runs are reused in reduced coordinates, the rest are dropped and counted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::recipe::Recipe;
use super::{Domain, Space, SpaceError};

/// One `[[virtual]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct VirtualSpec {
    name: String,
    #[serde(default)]
    weights: BTreeMap<String, f64>,
    #[serde(default)]
    recipe: Option<PathBuf>,
    #[serde(default)]
    domains: Option<Vec<String>>,
}

/// A reuse file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReuseSpec {
    space: PathBuf,
    #[serde(default = "default_tolerance")]
    tolerance: f64,
    #[serde(rename = "virtual")]
    virtuals: Vec<VirtualSpec>,
}

fn default_tolerance() -> f64 {
    0.02
}

/// A virtual domain: real domains (indices into the full space) at frozen proportions.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualDomain {
    /// Its name in the reduced space.
    pub name: String,
    /// `(full-space index, inner proportion)`, proportions summing to 1.
    pub members: Vec<(usize, f64)>,
}

/// Where a reduced-space domain's weight goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    /// A real domain, by full-space index.
    Real(usize),
    /// A virtual domain, by index into `virtuals`.
    Virtual(usize),
}

/// How far from 1 the sum of hand-typed weights may be (three weights of 0.3333 pass).
pub const WEIGHT_SUM_TOLERANCE: f64 = 1e-3;

/// A loaded reuse: the full space, the reduced space searched over, and the mapping.
#[derive(Debug, Clone)]
pub struct Reuse {
    /// Every real domain.
    pub full: Space,
    /// The virtual domains and the real domains outside them.
    pub reduced: Space,
    /// The virtual domains.
    pub virtuals: Vec<VirtualDomain>,
    /// Largest total-variation distance of a logged run's inner mix from the frozen one.
    pub tolerance: f64,
    slots: Vec<Slot>,
}

/// A parse error in the reuse file `path`.
fn parse_error(path: &Path, message: String) -> SpaceError {
    SpaceError::Parse {
        path: path.to_owned(),
        message,
    }
}

/// Virtual domain `vs`'s `(domain, inner weight)` pairs and their sum: typed as `weights`
/// (which must sum to 1) or read from a recipe (all its domains with weight, or `domains`,
/// rescaled later). `field` names it in errors; `base` resolves the recipe's path.
fn inner_weights(
    vs: &VirtualSpec,
    field: &str,
    base: &Path,
    path: &Path,
) -> Result<(Vec<(String, f64)>, f64), SpaceError> {
    let bad = |message: String| parse_error(path, message);
    let inner: Vec<(String, f64)> = match (&vs.recipe, vs.weights.is_empty()) {
        (Some(_), false) => {
            return Err(bad(format!(
                "{field}: give `weights` or `recipe`, not both"
            )));
        }
        (None, true) => {
            return Err(bad(format!("{field}: no `weights` and no `recipe`")));
        }
        (None, false) => vs.weights.iter().map(|(d, w)| (d.clone(), *w)).collect(),
        (Some(file), true) => {
            let recipe = Recipe::from_file(&base.join(file))?;
            match &vs.domains {
                Some(list) => list
                    .iter()
                    .map(|d| {
                        let w = recipe.weights.iter().find(|x| &x.0 == d).map(|x| x.1);
                        w.map(|w| (d.clone(), w)).ok_or_else(|| {
                            bad(format!(
                                "{field}.domains: `{d}` is not in the recipe {}",
                                file.display()
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?,
                None => recipe.weights.into_iter().filter(|w| w.1 > 0.0).collect(),
            }
        }
    };
    let total: f64 = inner.iter().map(|w| w.1).sum();
    if inner.iter().any(|w| !(w.1.is_finite() && w.1 >= 0.0)) || total.is_nan() || total <= 0.0 {
        let problem = format!("{field}: inner weights must be finite, non-negative and not all 0");
        return Err(bad(problem));
    }
    // Weights typed by hand are the inner mixture itself: one that does not sum to 1 is a
    // typo, not something to rescale (a recipe's subset is rescaled).
    if vs.recipe.is_none() && (total - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
        let shown = (total * 1e6).round() / 1e6;
        let problem = format!("{field}.weights: the inner weights sum to {shown}, not 1");
        return Err(bad(problem));
    }
    Ok((inner, total))
}

/// The reduced space's slots and domains: real domains outside every virtual one (`owner`
/// `None`), and each virtual domain where its first member was, holding its members' tokens.
fn reduced_domains(
    full: &Space,
    owner: &[Option<usize>],
    virtuals: &[VirtualDomain],
) -> (Vec<Slot>, Vec<Domain>) {
    let mut slots = Vec::new();
    let mut domains = Vec::new();
    for (i, d) in full.domains.iter().enumerate() {
        match owner[i] {
            None => {
                slots.push(Slot::Real(i));
                domains.push(d.clone());
            }
            Some(v) if virtuals[v].members[0].0 == i => {
                slots.push(Slot::Virtual(v));
                let tokens: Option<f64> = (virtuals[v].members.iter())
                    .map(|m| full.domains[m.0].tokens)
                    .sum();
                domains.push(Domain {
                    name: virtuals[v].name.clone(),
                    column: None,
                    attributes: BTreeMap::new(),
                    min: 0.0,
                    max: 1.0,
                    tokens,
                });
            }
            Some(_) => {}
        }
    }
    (slots, domains)
}

impl Reuse {
    /// Reads a reuse file and its full space; every problem names the file and field.
    pub fn from_file(path: &Path) -> Result<Self, SpaceError> {
        let bad = |message: String| parse_error(path, message);
        let spec: ReuseSpec = crate::io::read_toml(path, bad)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let full = Space::from_file(&base.join(&spec.space))?;
        if !(spec.tolerance.is_finite() && (0.0..=1.0).contains(&spec.tolerance)) {
            return Err(bad(format!(
                "`tolerance` = {} is not in [0, 1]",
                spec.tolerance
            )));
        }
        if spec.virtuals.is_empty() {
            return Err(bad("no [[virtual]] domain".into()));
        }
        let names = full.names();
        let mut owner: Vec<Option<usize>> = vec![None; names.len()];
        let mut virtuals = Vec::new();
        for (v, vs) in spec.virtuals.iter().enumerate() {
            let field = format!("virtual[{v}]");
            let (inner, total) = inner_weights(vs, &field, base, path)?;
            let mut members = Vec::new();
            for (d, w) in inner {
                let i = names.iter().position(|n| *n == d).ok_or_else(|| {
                    bad(format!(
                        "{field}: domain `{d}` is not in the space {}",
                        full.name
                    ))
                })?;
                if let Some(other) = owner[i] {
                    return Err(bad(format!(
                        "{field}: domain `{d}` is already in virtual[{other}]"
                    )));
                }
                owner[i] = Some(v);
                members.push((i, w / total));
            }
            if names.contains(&vs.name) && !members.iter().any(|m| names[m.0] == vs.name) {
                return Err(bad(format!(
                    "{field}: name `{}` is a domain outside it",
                    vs.name
                )));
            }
            members.sort_by_key(|m| m.0);
            virtuals.push(VirtualDomain {
                name: vs.name.clone(),
                members,
            });
        }
        let (slots, domains) = reduced_domains(&full, &owner, &virtuals);
        let reduced = Space {
            name: format!("{}-reuse", full.name),
            column_prefix: String::new(),
            domains,
        };
        reduced.validate(path)?;
        Ok(Reuse {
            full,
            reduced,
            virtuals,
            tolerance: spec.tolerance,
            slots,
        })
    }

    /// This reuse as a self-contained reuse file over the space file `space`: every virtual
    /// domain's proportions written out (no recipe to read again), so that a campaign keeps
    /// the reuse it started with.
    pub fn to_toml(&self, space: &Path) -> String {
        let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let names = self.full.names();
        let mut out = format!(
            "space = {}\ntolerance = {:?}\n",
            quote(&space.to_string_lossy()),
            self.tolerance
        );
        for v in &self.virtuals {
            let weights: Vec<String> = (v.members.iter())
                .map(|&(i, p)| format!("{} = {p:?}", quote(&names[i])))
                .collect();
            out.push_str(&format!(
                "\n[[virtual]]\nname = {}\nweights = {{ {} }}\n",
                quote(&v.name),
                weights.join(", ")
            ));
        }
        out
    }

    /// Full-space weights `[full domains]` of reduced-space weights `[reduced domains]`.
    pub fn expand(&self, reduced: &[f64]) -> Vec<f64> {
        let mut full = vec![0.0; self.full.domains.len()];
        for (slot, &w) in self.slots.iter().zip(reduced) {
            match *slot {
                Slot::Real(i) => full[i] = w,
                Slot::Virtual(v) => {
                    for &(i, p) in &self.virtuals[v].members {
                        full[i] = w * p;
                    }
                }
            }
        }
        full
    }

    /// Reduced-space weights of a logged full-space mixture, when it is consistent with every
    /// virtual domain (see the module docs).
    pub fn collapse(&self, full: &[f64]) -> Option<Vec<f64>> {
        self.slots
            .iter()
            .map(|slot| match *slot {
                Slot::Real(i) => Some(full[i]),
                Slot::Virtual(v) => {
                    let members = &self.virtuals[v].members;
                    let total: f64 = members.iter().map(|m| full[m.0]).sum();
                    if total <= 1e-12 {
                        return Some(0.0);
                    }
                    let tv = 0.5
                        * members
                            .iter()
                            .map(|&(i, p)| (full[i] / total - p).abs())
                            .sum::<f64>();
                    (tv <= self.tolerance).then_some(total)
                }
            })
            .collect()
    }

    /// A reduced-space recipe over the full space (predictions kept); a recipe already over
    /// the full space is returned unchanged.
    pub fn expand_recipe(&self, recipe: &Recipe, path: &Path) -> Result<Recipe, SpaceError> {
        if recipe.check_space(&self.full, path).is_ok() {
            return Ok(recipe.clone());
        }
        recipe.check_space(&self.reduced, path)?;
        let reduced: Vec<f64> = recipe.weights.iter().map(|w| w.1).collect();
        let mut out = Recipe::new(&recipe.name, &self.full, &self.expand(&reduced));
        out.predicted = recipe.predicted.clone();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reuse(dir: &Path) -> Reuse {
        std::fs::write(
            dir.join("s.toml"),
            "name = \"s\"\n[[domains]]\nname = \"a\"\ntokens = 10.0\n[[domains]]\nname = \"new\"\n\
             [[domains]]\nname = \"b\"\ntokens = 30.0\n[[domains]]\nname = \"c\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("r.toml"),
            "space = \"s.toml\"\n[[virtual]]\nname = \"old\"\nweights = { a = 0.75, b = 0.25 }\n",
        )
        .unwrap();
        Reuse::from_file(&dir.join("r.toml")).unwrap()
    }

    #[test]
    fn collapse_and_expand_round_trip_consistent_runs() {
        let dir = tempfile::tempdir().unwrap();
        let r = reuse(dir.path());
        assert_eq!(r.reduced.names(), vec!["old", "new", "c"]);
        assert_eq!(r.reduced.domains[0].tokens, Some(40.0));
        let full = r.expand(&[0.4, 0.5, 0.1]);
        assert_eq!(full, vec![0.30000000000000004, 0.5, 0.1, 0.1]);
        let back = r.collapse(&full).unwrap();
        assert!((back[0] - 0.4).abs() < 1e-12 && back[1] == 0.5 && back[2] == 0.1);
        // The old space's runs: consistent only near the frozen 3:1.
        assert!(r.collapse(&[0.6, 0.0, 0.2, 0.2]).is_some());
        assert!(r.collapse(&[0.4, 0.0, 0.4, 0.2]).is_none());
        assert_eq!(r.collapse(&[0.0, 0.9, 0.0, 0.1]), Some(vec![0.0, 0.9, 0.1]));
    }

    #[test]
    fn overlapping_or_unknown_members_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        reuse(dir.path());
        for (text, needle) in [
            (
                "weights = { a = 0.5, z = 0.5 }",
                "virtual[0]: domain `z` is not in the space s",
            ),
            (
                "weights = { a = 1 }\n[[virtual]]\nname = \"v\"\nweights = { a = 1 }",
                "`a` is already in virtual[0]",
            ),
            ("weights = { a = 0 }", "not all 0"),
        ] {
            let path = dir.path().join("bad.toml");
            std::fs::write(
                &path,
                format!("space = \"s.toml\"\n[[virtual]]\nname = \"old\"\n{text}\n"),
            )
            .unwrap();
            let e = Reuse::from_file(&path).unwrap_err().to_string();
            assert!(e.contains("bad.toml") && e.contains(needle), "{e}");
        }
        let path = dir.path().join("tol.toml");
        let text = "space = \"s.toml\"\ntolerance = 2.0\n[[virtual]]\nname = \"old\"\nweights = { a = 1 }\n";
        std::fs::write(&path, text).unwrap();
        let e = Reuse::from_file(&path).unwrap_err().to_string();
        assert!(
            e.contains("tol.toml") && e.contains("`tolerance` = 2 is not in [0, 1]"),
            "{e}"
        );
    }
}
