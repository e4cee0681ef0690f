//! The feasible set of mixtures: the simplex intersected with per-domain bounds, group sums,
//! token availability, frozen domains, a trust region around logged runs and a KL budget to a
//! prior.
//!
//! A [`ConstraintSpec`] is what a user writes (TOML, all sections optional):
//!
//! ```toml
//! min = { pile_cc = 0.05 }            # per-domain minimum weight
//! max = { github = 0.10 }             # per-domain maximum weight
//! frozen = { wikipedia_en = 0.04 }    # fixed weight
//! [[group]]                           # sum over the domains with an axis value (or a list)
//! axis = "task"
//! value = "ocr"
//! max = 0.3
//! [tokens]                            # w_i * budget <= tokens_i * max_epochs
//! budget = 2.5e10
//! max_epochs = 4
//! [trust_region]                      # total-variation distance to the nearest logged run
//! max_distance = 0.25
//! [kl]                                # KL(w || prior) in nats; prior "tokens", "uniform" or a table
//! prior = "uniform"
//! max = 1.0
//! ```
//!
//! [`Constraints::new`] validates it against a [`Space`] once; every bound remembers where it came
//! from, so an infeasible combination is reported with the constraints that conflict.

use std::path::{Path, PathBuf};

mod spec;
mod validate;

pub use spec::{ConstraintSpec, GroupSpec, KlSpec, PriorSpec, TokenSpec, TrustRegionSpec};

use crate::math::simplex::{kl_divergence, nearest_distance, project_box_simplex};
use crate::space::Space;

/// Tolerance on sums and bounds (weights are probabilities).
const TOL: f64 = 1e-9;

/// Why a constraint set was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConstraintError {
    /// The file could not be read.
    #[error(transparent)]
    File(#[from] crate::io::FileError),
    /// A constraint of a file is refused; names the file.
    #[error("{path}: {error}")]
    InFile {
        /// The constraints file.
        path: PathBuf,
        /// What is wrong.
        error: Box<ConstraintError>,
    },
    /// The TOML did not parse or did not match the schema.
    #[error("{path}: {message}")]
    Parse {
        /// The constraints file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A constraint names a domain the space does not have.
    #[error("constraint `{constraint}` names unknown domain `{domain}`")]
    UnknownDomain {
        /// Where the name appears, e.g. `max.github`.
        constraint: String,
        /// The unknown name.
        domain: String,
    },
    /// A group selects no domain.
    #[error("constraint `{constraint}` selects no domain")]
    EmptyGroup {
        /// The group, e.g. `group[0] (task = ocr)`.
        constraint: String,
    },
    /// A number is out of its range.
    #[error("constraint `{constraint}` = {value}: {expected}")]
    BadValue {
        /// The field.
        constraint: String,
        /// The value found.
        value: f64,
        /// What it must satisfy.
        expected: &'static str,
    },
    /// The token constraint needs every domain's available tokens.
    #[error("constraint `tokens` needs `tokens` for domain `{domain}` in the space file")]
    MissingTokens {
        /// The domain without a token count.
        domain: String,
    },
    /// A domain's lower bound exceeds its upper bound.
    #[error(
        "domain `{domain}`: minimum {min} (from {min_source}) exceeds maximum {max} (from {max_source})"
    )]
    CrossedBounds {
        /// The domain.
        domain: String,
        /// The binding lower bound and its origin.
        min: f64,
        /// Where the lower bound comes from.
        min_source: String,
        /// The binding upper bound.
        max: f64,
        /// Where the upper bound comes from.
        max_source: String,
    },
    /// Minimums sum above one.
    #[error("minimum weights sum to {sum:.4} > 1: {sources}")]
    MinimumsAboveOne {
        /// Sum of the lower bounds.
        sum: f64,
        /// The non-zero lower bounds and their origins.
        sources: String,
    },
    /// Maximums sum below one.
    #[error("maximum weights sum to {sum:.4} < 1: {sources}")]
    MaximumsBelowOne {
        /// Sum of the upper bounds.
        sum: f64,
        /// The upper bounds below one and their origins.
        sources: String,
    },
    /// A group's bound cannot be met within its domains' bounds.
    #[error("{constraint}: {reason}")]
    GroupInfeasible {
        /// The group.
        constraint: String,
        /// Which bounds conflict, with numbers.
        reason: String,
    },
    /// A trust region was asked for without logged runs to anchor it.
    #[error("constraint `trust_region` needs logged runs (pass the training data)")]
    NoAnchors,
    /// Bounds and groups are individually consistent but admit no common mixture.
    #[error("no mixture satisfies all of: {constraints}")]
    Empty {
        /// Every active constraint.
        constraints: String,
    },
}

/// A validated group-sum constraint.
#[derive(Debug, Clone)]
pub struct Group {
    /// Human-readable name, e.g. `group[0] (task = ocr)`.
    pub label: String,
    /// Domain indices.
    pub domains: Vec<usize>,
    /// Bounds on the group's total weight.
    pub min: f64,
    /// Upper bound on the group's total weight.
    pub max: f64,
}

/// A validated feasible set. Per-domain bounds are already intersected (space bounds,
/// `min`/`max`, `frozen`, token caps); groups, trust region and KL are kept separately.
#[derive(Debug, Clone)]
pub struct Constraints {
    /// Per-domain lower bounds `[domains]`.
    pub lower: Vec<f64>,
    /// Per-domain upper bounds `[domains]`.
    pub upper: Vec<f64>,
    /// Group sums.
    pub groups: Vec<Group>,
    /// Trust-region anchors `[runs][domains]` and radius, when set.
    pub trust_region: Option<(Vec<Vec<f64>>, f64)>,
    /// KL prior `[domains]` and budget (nats), when set.
    pub kl: Option<(Vec<f64>, f64)>,
}

impl Constraints {
    /// Only the simplex and the space's own bounds.
    pub fn simplex(space: &Space) -> Self {
        Constraints {
            lower: space.domains.iter().map(|d| d.min).collect(),
            upper: space.domains.iter().map(|d| d.max).collect(),
            groups: Vec::new(),
            trust_region: None,
            kl: None,
        }
    }

    /// Reads the constraints file at `path` (`None`: only the space's own bounds) and
    /// validates it against `space` (see [`Constraints::new`]); errors name the file.
    pub fn load(
        space: &Space,
        path: Option<&Path>,
        anchors: &[Vec<f64>],
    ) -> Result<Self, ConstraintError> {
        let Some(path) = path else {
            return Constraints::new(space, &ConstraintSpec::default(), anchors);
        };
        let spec = ConstraintSpec::from_file(path)?;
        Constraints::new(space, &spec, anchors).map_err(|error| {
            let path = path.to_owned();
            let error = Box::new(error);
            ConstraintError::InFile { path, error }
        })
    }

    /// Validates `spec` against `space`; `anchors` are the logged mixtures a trust region is
    /// measured from. Errors name the conflicting constraints.
    pub fn new(
        space: &Space,
        spec: &ConstraintSpec,
        anchors: &[Vec<f64>],
    ) -> Result<Self, ConstraintError> {
        let index =
            |constraint: String, name: &str| validate::domain_index(space, constraint, name);
        let mut bounds = validate::Bounds::of_space(space);
        bounds.apply_weights(spec, &index)?;
        if let Some(tokens) = &spec.tokens {
            bounds.apply_tokens(space, tokens)?;
        }
        bounds.check(space)?;
        let (lower, upper) = bounds.values();
        let groups = (spec.groups.iter().enumerate())
            .map(|(g, group)| validate::group(space, g, group, &lower, &upper, &index))
            .collect::<Result<_, _>>()?;
        let constraints = Constraints {
            lower,
            upper,
            groups,
            trust_region: validate::trust_region(spec.trust_region.as_ref(), anchors)?,
            kl: validate::kl(space, spec.kl.as_ref(), &index)?,
        };
        constraints.check_non_empty(space)?;
        Ok(constraints)
    }

    /// Bounds and each group are consistent on their own; checks that together they leave a
    /// point, starting from the centre of the box and from the trust region's anchors.
    fn check_non_empty(&self, space: &Space) -> Result<(), ConstraintError> {
        let centre: Vec<f64> = (0..self.len())
            .map(|i| 0.5 * (self.lower[i] + self.upper[i]))
            .collect();
        let anchors = self.trust_region.as_ref().map_or(&[][..], |(a, _)| &a[..]);
        let feasible = std::iter::once(&centre)
            .chain(anchors)
            .any(|w| self.is_feasible(&self.repair(w)));
        if feasible {
            Ok(())
        } else {
            Err(ConstraintError::Empty {
                constraints: self.describe(space),
            })
        }
    }

    /// Number of domains.
    pub fn len(&self) -> usize {
        self.lower.len()
    }

    /// Always false: a space has at least one domain.
    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    fn describe(&self, space: &Space) -> String {
        let mut parts = Vec::new();
        for (i, d) in space.domains.iter().enumerate() {
            if self.lower[i] > 0.0 || self.upper[i] < 1.0 {
                parts.push(format!(
                    "{} in [{}, {}]",
                    d.name, self.lower[i], self.upper[i]
                ));
            }
        }
        parts.extend(
            self.groups
                .iter()
                .map(|g| format!("{} in [{}, {}]", g.label, g.min, g.max)),
        );
        if let Some((_, r)) = &self.trust_region {
            parts.push(format!("trust_region.max_distance = {r}"));
        }
        if let Some((_, k)) = &self.kl {
            parts.push(format!("kl.max = {k}"));
        }
        parts.join("; ")
    }

    /// The nearest point (Euclidean) to `v` on the simplex within the per-domain bounds, then
    /// pushed into the group sums by alternating rescaling and re-projection. Trust region and
    /// KL are not repaired: [`Constraints::is_feasible`] decides those.
    pub fn repair(&self, v: &[f64]) -> Vec<f64> {
        let inside = (v.iter().sum::<f64>() - 1.0).abs() <= TOL
            && v.iter()
                .zip(self.lower.iter().zip(&self.upper))
                .all(|(&x, (&lo, &hi))| x >= lo && x <= hi);
        let mut w = if inside {
            v.to_vec()
        } else {
            project_box_simplex(v, &self.lower, &self.upper)
        };
        for _ in 0..100 {
            let mut moved = false;
            for g in &self.groups {
                let sum: f64 = g.domains.iter().map(|&i| w[i]).sum();
                let target = sum.clamp(g.min, g.max);
                if (sum - target).abs() <= TOL {
                    continue;
                }
                moved = true;
                if sum > 0.0 {
                    g.domains.iter().for_each(|&i| w[i] *= target / sum);
                } else {
                    let share = target / g.domains.len() as f64;
                    g.domains.iter().for_each(|&i| w[i] = share);
                }
                // Rescale the other domains to keep the total at one before re-projecting.
                let rest: f64 = 1.0 - target;
                let others: f64 = (0..w.len())
                    .filter(|i| !g.domains.contains(i))
                    .map(|i| w[i])
                    .sum();
                if others > 0.0 {
                    (0..w.len())
                        .filter(|i| !g.domains.contains(i))
                        .for_each(|i| w[i] *= rest / others);
                }
                w = project_box_simplex(&w, &self.lower, &self.upper);
            }
            if !moved {
                break;
            }
        }
        w
    }

    /// Whether `w` lies in the feasible set (to 1e-6 on sums and bounds).
    pub fn is_feasible(&self, w: &[f64]) -> bool {
        const EPS: f64 = 1e-6;
        if w.len() != self.len() || (w.iter().sum::<f64>() - 1.0).abs() > EPS {
            return false;
        }
        let in_box = w
            .iter()
            .zip(self.lower.iter().zip(&self.upper))
            .all(|(&x, (&lo, &hi))| x >= lo - EPS && x <= hi + EPS);
        let in_groups = self.groups.iter().all(|g| {
            let s: f64 = g.domains.iter().map(|&i| w[i]).sum();
            s >= g.min - EPS && s <= g.max + EPS
        });
        let in_region = self
            .trust_region
            .as_ref()
            .is_none_or(|(anchors, r)| nearest_distance(w, anchors) <= r + EPS);
        let in_kl = self
            .kl
            .as_ref()
            .is_none_or(|(prior, max)| kl_divergence(w, prior) <= max + EPS);
        in_box && in_groups && in_region && in_kl
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::simplex::{sample_dirichlet, tv_distance};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::path::Path;

    fn space() -> Space {
        let text = r#"
            name = "t"
            [[domains]]
            name = "a"
            attributes = { task = "ocr" }
            tokens = 1e9
            [[domains]]
            name = "b"
            attributes = { task = "ocr" }
            tokens = 2e9
            [[domains]]
            name = "c"
            attributes = { task = "vqa" }
            tokens = 4e9
            [[domains]]
            name = "d"
            attributes = { task = "vqa" }
            tokens = 8e9
        "#;
        Space::from_toml(text, Path::new("t.toml")).unwrap()
    }

    fn parse(text: &str) -> ConstraintSpec {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn infeasible_sets_name_the_conflict() {
        let s = space();
        let err = |t: &str| {
            Constraints::new(&s, &parse(t), &[])
                .unwrap_err()
                .to_string()
        };
        let e = err("min = { a = 0.6, c = 0.5 }");
        assert!(
            e.contains("1.1") && e.contains("min.a") && e.contains("min.c"),
            "{e}"
        );
        let e = err("min = { a = 0.3 }\nmax = { a = 0.2 }");
        assert!(e.contains("min.a") && e.contains("max.a"), "{e}");
        let e = err("min = { a = 0.3 }\n[tokens]\nbudget = 1e10\nmax_epochs = 2");
        assert!(e.contains("min.a") && e.contains("tokens:"), "{e}");
        let e = err(
            "min = { a = 0.2, b = 0.2 }\n[[group]]\naxis = \"task\"\nvalue = \"ocr\"\nmax = 0.3",
        );
        assert!(e.contains("task = ocr") && e.contains("0.4"), "{e}");
        let e = err("[[group]]\naxis = \"task\"\nvalue = \"none\"\nmax = 0.3");
        assert!(e.contains("selects no domain"), "{e}");
        let e = err("max = { zz = 0.3 }");
        assert!(e.contains("zz"), "{e}");
        let e = err("max = { a = 0.1, b = 0.1, c = 0.1, d = 0.1 }");
        assert!(e.contains("0.4000 < 1"), "{e}");
    }

    proptest! {
        /// Repair lands in the box, on the simplex and inside every group.
        #[test]
        fn repair_is_feasible(seed in 0u64..500, scale in 0.05f64..5.0) {
            let s = space();
            let spec = parse(
                "min = { d = 0.1 }\nmax = { c = 0.35 }\n[[group]]\naxis = \"task\"\nvalue = \"ocr\"\nmin = 0.2\nmax = 0.4\n[tokens]\nbudget = 1e10\nmax_epochs = 4",
            );
            let c = Constraints::new(&s, &spec, &[]).unwrap();
            let mut rng = StdRng::seed_from_u64(seed);
            let w = sample_dirichlet(&[scale; 4], &mut rng);
            let r = c.repair(&w);
            prop_assert!(c.is_feasible(&r), "{w:?} -> {r:?}");
        }
    }

    #[test]
    fn box_projection_is_idempotent_and_nearest() {
        let (lo, hi) = (vec![0.1, 0.0, 0.0], vec![0.5, 0.5, 1.0]);
        let w = project_box_simplex(&[0.2, 0.3, 0.5], &lo, &hi);
        assert!(tv_distance(&w, &[0.2, 0.3, 0.5]) < 1e-12);
        let w = project_box_simplex(&[1.0, 1.0, -1.0], &lo, &hi);
        assert!(
            (w[0] - 0.5).abs() < 1e-9 && (w[1] - 0.5).abs() < 1e-9,
            "{w:?}"
        );
    }

    #[test]
    fn trust_region_and_kl() {
        let s = space();
        let anchors = vec![vec![0.25; 4]];
        let spec = parse("[trust_region]\nmax_distance = 0.1\n[kl]\nprior = \"tokens\"\nmax = 0.5");
        let c = Constraints::new(&s, &spec, &anchors).unwrap();
        assert!(c.is_feasible(&[0.25, 0.25, 0.25, 0.25]));
        assert!(!c.is_feasible(&[0.5, 0.2, 0.15, 0.15]));
        assert!(Constraints::new(&s, &spec, &[]).is_err());
        assert!((kl_divergence(&[0.5, 0.5], &[0.5, 0.5])).abs() < 1e-12);
    }
}
